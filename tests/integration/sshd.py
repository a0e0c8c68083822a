"""A private OpenSSH server on a loopback port, standing in for a kiosk's sshd.

Debian's /usr/sbin/sshd (openssh-server, installed by ./dev) runs in the foreground
with its own config, host key and authorized_keys under a temporary folder, as the
current user. Each simulated device is a root prefix on this machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from simulator.broker import free_port

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """An unencrypted OpenSSH key pair at ``path`` (and ``path.pub``)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path


def fingerprint(public_key: Path) -> str:
    """The SHA256 fingerprint ``ssh-keygen -lf`` prints."""
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


class SshServer:
    """sshd -D on 127.0.0.1:port accepting ``client_key``; ``stop`` ends it."""

    def __init__(self, root: Path, host_key: Path | None = None) -> None:
        if not Path(SSHD).exists() or os.geteuid() != 0:
            pytest.skip("needs root and openssh-server (apt-get install openssh-server)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_key = host_key or keygen(root / "host_ed25519")
        self.client_key = root / "client_ed25519"
        if not self.client_key.exists():
            keygen(self.client_key)
        authorized = root / "authorized_keys"
        authorized.write_text((self.client_key.with_suffix(".pub")).read_text())
        self.port = free_port()
        config = root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {authorized}",
                    f"PidFile {root / 'sshd.pid'}",
                    "StrictModes no",
                    "UsePAM no",
                    # Passwords are offered (and checked) so a wrong one can be shown refused.
                    "PasswordAuthentication yes",
                    "PermitEmptyPasswords no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin yes",
                    "MaxStartups 100:30:200",
                    "MaxSessions 50",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation folder
        self.log = (root / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "sshd.log").read_text()
                    raise RuntimeError(f"sshd did not start: {log}") from exc
                time.sleep(0.05)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.host_key.with_suffix(".pub"))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def have_sshd() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None
