"""Start a private Mosquitto broker on a free loopback port (demo and tests)."""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from support.private_files import private_dir, write_private_text

MOSQUITTO_FALLBACK = "/usr/sbin/mosquitto"

_APPEND_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    """True if binding ``host:port`` the way mosquitto does (SO_REUSEADDR) would fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or BrokerError saying how to install it."""
    for candidate in (shutil.which("mosquitto"), MOSQUITTO_FALLBACK):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerError("mosquitto is not installed (on Debian: apt-get install mosquitto)")


def _effective_user() -> str | None:
    """Name of the effective user, or None if it has no passwd entry."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener: the CA that clients trust, the broker's certificate and key.

    ``require_certificate`` makes clients present a certificate signed by ``ca_file``.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


class LocalBroker:
    """A Mosquitto process listening on 127.0.0.1 only, with its own config and data.

    Anonymous by default; ``password_file`` (mosquitto_passwd) or ``dynsec_file`` (the
    dynamic-security plugin's state, e.g. ``aggregator.broker_acls.dynsec_document``,
    rewritten by the broker) make clients log in. ``extra_lines`` go at the end of the
    config (e.g. ``include_dir`` of a regional broker's bridge, ``aggregator.broker_regions``).

    The process runs in its own session, so a terminal's Ctrl-C (SIGINT to the foreground
    process group) does not reach it: whoever started it stops it, after its clients.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        workdir: Path | None = None,
        tls: BrokerTls | None = None,
        password_file: Path | None = None,
        dynsec_file: Path | None = None,
        extra_lines: tuple[str, ...] = (),
    ) -> None:
        if password_file is not None and dynsec_file is not None:
            raise ValueError("give a password file or a dynamic-security file, not both")
        self.port = port or free_port()
        self.tls = tls
        self.password_file = password_file
        self.dynsec_file = dynsec_file
        self.extra_lines = tuple(extra_lines)
        self.host = "127.0.0.1"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="safecode-broker-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Mosquitto's stdout and stderr (errors and warnings)."""
        return self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        """The mosquitto.conf for this broker."""
        lines = [f"listener {self.port} {self.host}"]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                "tls_version tlsv1.2",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        elif self.dynsec_file is not None:
            from aggregator.broker_init import BrokerInitError, find_dynsec_plugin, plugin_lines

            try:
                plugin = find_dynsec_plugin()
            except BrokerInitError as exc:
                raise BrokerError(str(exc)) from exc
            lines += plugin_lines(plugin, self.dynsec_file.resolve())
        else:
            lines.append("allow_anonymous true")
        lines += [
            "persistence true",
            f"persistence_location {self.workdir}/",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        user = _effective_user()
        if user is not None:
            # Run as root, mosquitto 2.x would otherwise switch to the "mosquitto" user
            # and could not write its persistence file into our (root-owned) workdir.
            lines.append(f"user {user}")
        lines += self.extra_lines  # last: a bridge's ``connection`` section, an include_dir
        return "\n".join([*lines, ""])

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()[-limit:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start mosquitto and wait until it accepts connections."""
        binary = find_mosquitto()
        if _port_taken(self.host, self.port):
            raise BrokerError(
                f"cannot start mosquitto: {self.host}:{self.port} is already in use "
                "(another broker?); choose another port or leave it out for a free one"
            )
        # Private: the persistence file holds queued check-ins (visitor codes).
        private_dir(self.workdir)
        conf = self.workdir / "mosquitto.conf"
        write_private_text(conf, self.config_text())
        with os.fdopen(os.open(self.log_path, _APPEND_FLAGS, 0o600), "ab") as log:
            self.process = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C in a terminal must not stop the broker
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                tail = self._log_tail()
                raise BrokerError(
                    f"mosquitto exited with code {code} on {self.host}:{self.port} "
                    f"(config and log in {self.workdir})" + (f": {tail}" if tail else "")
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop mosquitto (politely, then firmly after ``timeout`` s: a broker holding many
        sessions takes a while to write its persistence file) and remove its files if
        temporary."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
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
