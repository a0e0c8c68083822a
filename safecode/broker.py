"""Start a private Mosquitto broker on a free loopback port (demo and tests)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or BrokerError saying how to install it."""
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerError("mosquitto is not installed (on Debian: apt-get install mosquitto)")


class LocalBroker:
    """A Mosquitto process listening on 127.0.0.1 only, with its own config and data."""

    def __init__(self, port: int | None = None, *, workdir: Path | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="safecode-broker-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.process: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        """The mosquitto.conf for this broker."""
        return "\n".join(
            [
                f"listener {self.port} {self.host}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {self.workdir}/",
                "max_queued_messages 100000",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start mosquitto and wait until it accepts connections."""
        binary = find_mosquitto()
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self.process.returncode}; see {self.workdir}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    def stop(self) -> None:
        """Stop mosquitto (politely, then firmly) and remove its files if temporary."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
