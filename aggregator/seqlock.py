"""The one-sequencer-per-ledger lock, held for the sequencer's whole lifetime.

PostgreSQL: a session-level advisory lock, taken on a connection of its own whose
application_name says who holds it; the server drops it when that process or its
connection dies. SQLite: an exclusive ``flock`` on ``<database>.sequencer-lock``
next to the database file, dropped by the kernel when the process dies. Each seal
still takes the database's own write lock (BEGIN IMMEDIATE, or a transaction-level
advisory lock on PostgreSQL), and unique keys on height, tree size and leaf index
refuse a second writer whatever happens.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

import peewee

log = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory locks ("safe" in hex); the second comes from the origin.
PG_LIFETIME_CLASS = 0x5AFE0001
PG_SEAL_CLASS = 0x5AFE0002


def owner_name() -> str:
    """Who a lock holder is, for the log lines of those waiting for it."""
    return f"safecode-sequencer {socket.gethostname()} pid {os.getpid()}"


def origin_key(origin: str, database: str = "", schema: str = "") -> int:
    """A fixed 31-bit key for the ledger ``origin`` kept in ``database``/``schema``.

    The second half of the advisory lock keys: ledgers in other schemas of one
    server (parallel test runs, say) never wait for each other.
    """
    name = f"{origin}\0{database}\0{schema}".encode()
    return int.from_bytes(hashlib.sha256(name).digest()[:4], "big") & 0x7FFFFFFF


_WHERE_SQL = "SELECT current_database(), current_schema()"


class SequencerLock(Protocol):
    """What run_sequencer needs of a lock."""

    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def holder(self) -> str: ...
    def release(self) -> None: ...


class FileLock:
    """An exclusive flock on a file next to a SQLite database."""

    def __init__(self, path: Path, owner: str | None = None) -> None:
        self.path = Path(path)
        self.owner = owner or owner_name()
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.owner} since {time.time():.3f}\n".encode(), 0)
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class ThreadLock:
    """For an in-memory SQLite database, which only this process can see."""

    _locks: dict[int, threading.Lock] = {}

    def __init__(self, db: peewee.Database) -> None:
        self._lock = self._locks.setdefault(id(db), threading.Lock())
        self._held = False

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def still_held(self) -> bool:
        return self._held

    def holder(self) -> str:
        return "another thread of this process"

    def release(self) -> None:
        if self._held:
            self._lock.release()
            self._held = False


class PgAdvisoryLock:
    """A session-level PostgreSQL advisory lock on a dedicated connection."""

    def __init__(self, db: peewee.PostgresqlDatabase, origin: str, owner: str | None = None):
        self.db = db
        self.origin = origin
        self.key: tuple[int, int] | None = None
        self.owner = owner or owner_name()
        self._conn = None
        self._held_on = None

    def _connect(self):
        import psycopg2

        params = dict(self.db.connect_params)
        params.setdefault("connect_timeout", 5)
        conn = psycopg2.connect(dbname=self.db.database, application_name=self.owner[:63], **params)
        conn.autocommit = True
        return conn

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        import psycopg2

        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        except psycopg2.Error as exc:
            self._drop()
            raise peewee.OperationalError(f"sequencer lock: {exc}".strip()) from exc

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()  # psycopg2: closing a broken connection does not raise
            self._conn = None

    def _key(self) -> tuple[int, int]:
        if self.key is None:
            database, schema = self._query(_WHERE_SQL)[0]
            self.key = (PG_LIFETIME_CLASS, origin_key(self.origin, database, schema or ""))
        return self.key

    def try_acquire(self) -> bool:
        if self.still_held():
            return True
        self._key()
        held = bool(self._query("SELECT pg_try_advisory_lock(%s, %s)", self.key)[0][0])
        self._held_on = self._conn if held else None
        return held

    def still_held(self) -> bool:
        """Checks the lock's connection is alive (a lost connection loses the lock)."""
        if self._conn is None or self._held_on is not self._conn:
            return False
        try:
            self._query("SELECT 1")
        except peewee.OperationalError:
            return False
        return True

    def holder(self) -> str:
        rows = self._query(
            "SELECT a.application_name, a.pid, a.client_addr FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2",
            self._key(),
        )
        if not rows:
            return "nobody (just released)"
        name, pid, addr = rows[0]
        return f"{name or 'unnamed'} (server pid {pid}, from {addr or 'local socket'})"

    def release(self) -> None:
        if self._conn is not None and self._held_on is self._conn:
            # If the connection is gone, the lock went with it.
            with contextlib.suppress(peewee.OperationalError):
                self._query("SELECT pg_advisory_unlock(%s, %s)", self.key)
        self._held_on = None
        self._drop()


def lock_for(db: peewee.Database, origin: str, owner: str | None = None) -> SequencerLock:
    """The lifetime lock for the sequencer of the ledger in ``db``."""
    if isinstance(db, peewee.PostgresqlDatabase):
        return PgAdvisoryLock(db, origin, owner)
    if isinstance(db, peewee.SqliteDatabase):
        if db.database in ("", ":memory:") or str(db.database).startswith("file::memory:"):
            return ThreadLock(db)
        return FileLock(Path(f"{db.database}.sequencer-lock"), owner)
    raise ValueError(f"no sequencer lock for {type(db).__name__}")


def seal_lock_sql(db: peewee.Database, origin: str) -> str | None:
    """SQL that, run inside a seal's transaction, serialises seals (PostgreSQL only)."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return None
    database, schema = db.execute_sql(_WHERE_SQL).fetchone()
    return f"SELECT pg_advisory_xact_lock({PG_SEAL_CLASS}, {origin_key(origin, database, schema)})"
