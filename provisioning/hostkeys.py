"""The provisioning tool's own known-hosts file: strict host-key checking, never silent.

A device's host key is trusted only if it is already in the tool's known-hosts file
(OpenSSH format, ``[host]:port`` for ports other than 22), or if the technician names
its fingerprint (``SHA256:...``, as ``ssh-keygen -lf`` prints it on the device's console)
with ``--accept-host-key``. A key that differs from the recorded one is refused with
both fingerprints shown; nothing is ever added without a matching fingerprint.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import asyncssh

from .errors import StepFailed

FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
"""An OpenSSH SHA-256 fingerprint (base64 without padding)."""
# The key types tried when looking for the key a pinned fingerprint names.
HOST_KEY_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
)


def default_known_hosts() -> Path:
    """``$XDG_CONFIG_HOME/safecode/known_hosts`` (``~/.config`` without it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "safecode" / "known_hosts"


def check_fingerprint(text: str) -> str:
    """``text`` if it is a SHA256 fingerprint, else ValueError saying what one looks like."""
    if not isinstance(text, str) or not FINGERPRINT.fullmatch(text.strip()):
        raise ValueError(
            "a host key fingerprint reads SHA256: and 43 base64 characters "
            "(on the device: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"
        )
    return text.strip()


def host_pattern(host: str, port: int) -> str:
    """The known-hosts name of ``host:port``, as OpenSSH writes it."""
    return host if port == 22 else f"[{host}]:{port}"


def recorded_keys(path: Path, host: str, port: int) -> list[asyncssh.SSHKey]:
    """The host keys the file records for ``host:port`` (none if the file is absent)."""
    if not path.exists():
        return []
    try:
        known = asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        raise StepFailed("host key", f"cannot read the known-hosts file {path}: {exc}") from exc
    trusted, _, _, _, _, _, _ = known.match(host, "", port)
    return list(trusted)


def fingerprints(found: list[asyncssh.SSHKey]) -> str:
    return ", ".join(k.get_fingerprint("sha256") for k in found) or "none"


async def fetch_host_key(
    host: str, port: int, alg: str | None, timeout: float
) -> asyncssh.SSHKey | None:
    """The host key the device offers for ``alg`` (None if it has none of that type)."""
    try:
        return await asyncio.wait_for(
            asyncssh.get_server_host_key(host, port, server_host_key_algs=[alg] if alg else ()),
            timeout,
        )
    except (asyncssh.KeyExchangeFailed, asyncssh.DisconnectError, ConnectionResetError):
        return None  # OpenSSH hangs up when it has no key of that type


async def accept_host_key(
    path: Path, host: str, port: int, fingerprint: str, timeout: float
) -> bool:
    """Record the device's host key if its fingerprint is ``fingerprint``; True if added.

    Refuses (StepFailed) when the file already holds another key for the host (a changed
    key must be removed from the file by hand, after finding out why it changed) or
    when the device offers no key with that fingerprint.
    """
    fingerprint = check_fingerprint(fingerprint)
    known = recorded_keys(path, host, port)
    if any(k.get_fingerprint("sha256") == fingerprint for k in known):
        return False
    if known:
        raise StepFailed(
            "host key",
            f"{path} already holds another key for {host_pattern(host, port)} "
            f"({fingerprints(known)}); if the device was really re-imaged, delete that line "
            "first",
        )
    offered: list[asyncssh.SSHKey] = []
    for alg in HOST_KEY_ALGS:
        key = await fetch_host_key(host, port, alg, timeout)
        if key is None:
            continue
        offered.append(key)
        if key.get_fingerprint("sha256") == fingerprint:
            line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode()}"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="ascii") as out:
                out.write(line if line.endswith("\n") else line + "\n")
            return True
    raise StepFailed(
        "host key",
        f"the device offers {fingerprints(offered)}, not the fingerprint {fingerprint} given "
        "with --accept-host-key: refusing (check the fingerprint on the device's console)",
    )


async def explain_refusal(path: Path, host: str, port: int, timeout: float) -> str:
    """Why strict checking refused the device: unknown host, or a changed key."""
    known = recorded_keys(path, host, port)
    offered = await fetch_host_key(host, port, None, timeout)
    got = offered.get_fingerprint("sha256") if offered else "unknown"
    if not known:
        return (
            f"{host_pattern(host, port)} is not in {path}: its host key {got} is not trusted "
            "yet. Compare it with the device's own (ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub on its console) and pass "
            f"--accept-host-key {got} if it matches"
        )
    return (
        f"HOST KEY CHANGED for {host_pattern(host, port)}: {path} expects "
        f"{fingerprints(known)}, the device offers {got}. Refusing: someone may be "
        "intercepting the connection, or the device was re-imaged"
    )
