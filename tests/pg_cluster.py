"""The PostgreSQL server the tests use: the one configured, or a private cluster.

:func:`test_server_url` answers with ``SAFECODE_TEST_PG_URL`` (default
postgresql://postgres@127.0.0.1:5432/test) when a server answers there. When none
does (or ``SAFECODE_TEST_PG_PRIVATE=1`` asks for it), it starts a private cluster
with Debian's ``initdb`` and ``postgres`` (/usr/lib/postgresql/*/bin) in a temporary
folder, listening on a free loopback port with trust authentication, and stops it
when the test session ends. Run as root, initdb and postgres run as the ``postgres``
system user (or ``nobody``), since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONFIGURED_URL = os.environ.get("SAFECODE_TEST_PG_URL", DEFAULT_URL)
#: Seconds the private cluster gets to start accepting connections.
START_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """The private cluster could not be started."""


def reachable(url: str) -> str:
    """Why ``url`` cannot be used, or "" if it can."""
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL at {url} is not reachable: {str(exc).strip()}"
    return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin folder."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ClusterError(
        "no PostgreSQL server installed (./dev test installs the postgresql package)"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The user to drop to (PostgreSQL will not run as root); None when not root."""
    if os.geteuid() != 0:
        return None
    for user in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(user)
        except KeyError:
            continue
    raise ClusterError("running as root and neither a postgres nor a nobody user exists")


class PrivateCluster:
    """initdb + postgres in a temporary folder on a free loopback port."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.user = _run_as()
        self.folder = Path(tempfile.mkdtemp(prefix="safecode-pg-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
            self.folder.chmod(0o700)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def start(self) -> str:
        """Initialise, start and create the ``test`` database; returns its URL."""
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        log = (self.folder / "postgres.log").open("wb")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port)]
            + ["-h", "127.0.0.1", "-k", str(self.folder), "-c", "fsync=off"]
            + ["-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._as_user(),
        )
        atexit.register(self.stop)
        self._wait_ready()
        self._create_database()
        return self.url

    def _as_user(self) -> dict[str, object]:
        """Popen arguments that run the child as the unprivileged user (nothing if not root)."""
        if self.user is None:
            return {}
        return {
            "user": self.user.pw_uid,
            "group": self.user.pw_gid,
            "extra_groups": [],
            "cwd": self.folder,
            "env": {**os.environ, "HOME": str(self.folder), "USER": self.user.pw_name},
        }

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, timeout=120, **self._as_user()
        )
        if done.returncode != 0:
            raise ClusterError(f"{program} failed: {done.stderr.decode(errors='replace')[-600:]}")

    def _wait_ready(self) -> None:
        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        deadline = time.monotonic() + START_TIMEOUT_S
        while reachable(admin):
            if self.process is not None and self.process.poll() is not None:
                raise ClusterError(f"postgres exited: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"postgres did not answer in {START_TIMEOUT_S} s: {self._log_tail()}"
                )
            time.sleep(0.1)

    def _create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE test")
        finally:
            conn.close()

    def _log_tail(self) -> str:
        log = self.folder / "postgres.log"
        return log.read_text(errors="replace")[-600:] if log.exists() else "(no log)"

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


class PgServer:
    """Resolves, once per session, which server the PostgreSQL tests use."""

    def __init__(self) -> None:
        self.url = ""
        self.problem = ""
        self.cluster: PrivateCluster | None = None
        self._resolved = False

    def resolve(self) -> None:
        """Pick the configured server or start the private one; sets url or problem."""
        if self._resolved:
            return
        self._resolved = True
        forced = os.environ.get("SAFECODE_TEST_PG_PRIVATE") == "1"
        why = "" if forced else reachable(CONFIGURED_URL)
        if not forced and not why:
            self.url = CONFIGURED_URL
            return
        try:
            self.cluster = PrivateCluster()
            self.url = self.cluster.start()
        except (ClusterError, OSError, subprocess.SubprocessError) as exc:
            reason = "SAFECODE_TEST_PG_PRIVATE=1" if forced else why
            self.problem = f"{reason}; and no private cluster: {exc}"

    def describe(self) -> str:
        """One line for the test summary ("" if no test needed PostgreSQL)."""
        if not self._resolved:
            return ""
        if self.problem:
            return f"PostgreSQL: unavailable ({self.problem})"
        where = f"private cluster in {self.cluster.folder}" if self.cluster else "configured"
        return f"PostgreSQL: {self.url} ({where})"

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


SERVER = PgServer()
