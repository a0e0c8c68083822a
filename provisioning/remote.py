"""One SSH session to a device: strict host-key checking, commands, atomic file writes.

Every command runs through ``sh -c`` with its arguments quoted; as a non-root user it
runs under ``sudo -n`` (no password prompt: set up passwordless sudo for the technician
account, or log in as root). Failures become :class:`StepFailed` naming the step.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from .errors import StepFailed
from .hostkeys import accept_host_key, explain_refusal

ATOMIC_WRITE = (
    'set -e; dst=$1; mode=$2; tmp="$dst.safecode-new"; '
    'umask 022; mkdir -p "$(dirname "$dst")"; '
    'umask 077; cat > "$tmp"; chmod "$mode" "$tmp"; '
    'sync "$tmp"; mv -f "$tmp" "$dst"; sync "$(dirname "$dst")"'
)
"""Write stdin to $1 with mode $2: a temporary file beside it, fsync, rename, fsync the folder.

Missing parent folders are made 0755 (the service user must reach /etc/safecode); only
the temporary file is made under umask 077, before it gets its final mode.
"""


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one device."""

    host: str
    port: int = 22
    user: str = "root"
    identity: Path | None = None
    password: str | None = field(default=None, repr=False)
    known_hosts: Path = Path("known_hosts")
    accept_host_key: str | None = None
    connect_timeout: float = 15.0


@dataclass(frozen=True)
class Completed:
    """A finished remote command."""

    exit_status: int
    stdout: str
    stderr: str


class Device:
    """An open SSH connection to a device; use ``async with await Device.open(target)``."""

    def __init__(self, target: SshTarget, conn: asyncssh.SSHClientConnection, root: bool):
        self.target = target
        self.conn = conn
        self.root = root
        self.host_key_added = False

    @classmethod
    async def open(cls, target: SshTarget) -> Device:
        """Connect, checking the host key strictly against the tool's known-hosts file."""
        host, port, timeout = target.host, target.port, target.connect_timeout
        try:
            added = False
            if target.accept_host_key:
                added = await accept_host_key(
                    target.known_hosts, host, port, target.accept_host_key, timeout
                )
            # Only the tool's own file: never ~/.ssh/known_hosts (what asyncssh reads for ()).
            known: Any = (
                str(target.known_hosts)
                if target.known_hosts.exists()
                else asyncssh.import_known_hosts("")
            )
            conn = await asyncio.wait_for(
                asyncssh.connect(
                    host,
                    port,
                    username=target.user,
                    known_hosts=known,
                    client_keys=[str(target.identity)] if target.identity else (),
                    password=target.password,
                    agent_path=None if target.identity else (),
                    config=None,
                    preferred_auth="publickey,password" if target.password else "publickey",
                ),
                timeout,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise StepFailed(
                "host key", await explain_refusal(target.known_hosts, host, port, timeout)
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise StepFailed(
                "login",
                f"{target.user}@{host} refused the SSH key or password ({exc.reason}); "
                "check --identity / SAFECODE_SSH_PASSWORD and the device's authorized_keys",
            ) from exc
        except TimeoutError as exc:
            raise StepFailed(
                "connect", f"no SSH answer from {host}:{port} in {timeout:g} s"
            ) from exc
        except (OSError, asyncssh.Error) as exc:
            raise StepFailed("connect", f"cannot reach {host}:{port} over SSH: {exc}") from exc
        device = cls(target, conn, root=target.user == "root")
        device.host_key_added = added
        if not device.root:
            who = await device.run("id -u", "login", privileged=False)
            device.root = who.stdout.strip() == "0"
        return device

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.conn.close()
        await self.conn.wait_closed()

    def command(self, argv: list[str] | str, privileged: bool = True) -> str:
        """The shell line for ``argv`` (a list is quoted; a string is a shell script)."""
        line = argv if isinstance(argv, str) else shlex.join(argv)
        if privileged and not self.root:
            return f"sudo -n sh -c {shlex.quote(line)}"
        return line

    async def run(
        self,
        argv: list[str] | str,
        step: str,
        *,
        stdin: bytes | None = None,
        check: bool = True,
        privileged: bool = True,
        timeout: float = 600.0,
    ) -> Completed:
        """Run a command; StepFailed (with its stderr) if it fails and ``check`` is set."""
        try:
            result = await asyncio.wait_for(
                self.conn.run(self.command(argv, privileged), input=stdin, encoding=None),
                timeout,
            )
        except TimeoutError as exc:
            raise StepFailed(step, f"the device did not finish in {timeout:g} s") from exc
        except (OSError, asyncssh.Error) as exc:
            raise StepFailed(step, f"the SSH connection failed: {exc}") from exc
        done = Completed(
            exit_status=result.exit_status if result.exit_status is not None else 255,
            stdout=_text(result.stdout),
            stderr=_text(result.stderr),
        )
        if check and done.exit_status != 0:
            detail = (done.stderr.strip() or done.stdout.strip())[-600:]
            raise StepFailed(step, f"exit {done.exit_status}: {detail or 'no output'}")
        return done

    async def read_file(self, path: str, step: str) -> bytes | None:
        """A file's bytes, or None if it does not exist."""
        script = 'if [ -e "$1" ]; then echo present; cat "$1"; else echo absent; fi'
        result = await self.run(["sh", "-c", script, "sh", path], step)
        raw = result.stdout.encode("utf-8", "surrogateescape")
        head, _, body = raw.partition(b"\n")
        return body if head == b"present" else None

    async def write_file(self, path: str, data: bytes, mode: int, step: str) -> bool:
        """Write ``data`` atomically unless the file holds it already; True if written."""
        if await self.read_file(path, step) == data:
            return False
        await self.run(["sh", "-c", ATOMIC_WRITE, "sh", path, f"{mode:o}"], step, stdin=data)
        return True


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value or "")
