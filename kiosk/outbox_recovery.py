"""Startup check of the outbox file: a damaged database is moved aside, never deleted.

Before peewee opens the outbox, :func:`check_outbox_file` opens it read-only with
sqlite3 and runs ``PRAGMA integrity_check`` (any ``DatabaseError`` counts as damage).
A read-only connection never checkpoints, so the damaged files stay byte for byte as
the power cut left them. If the file is damaged, the highest sequence number that
can still be read (``max(seq)`` of the outbox and the counter's ``next_seq - 1``,
each query on its own) is noted, the main file and its ``-wal`` and ``-shm`` are
renamed to ``<name>.corrupt-<UTC yyyymmddTHHMMSSZ>`` (plus the same suffixes) and the
directory is fsync'd. The caller then starts a fresh outbox whose sequence numbers
continue above everything the old one may have given out (:data:`SEQ_MARGIN` more,
since rows after the cut may have had higher numbers than any still readable).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SEQ_MARGIN = 1000
"""Sequence numbers skipped after a recovery: rows lost after the cut may have used them."""
SUFFIXES = ("", "-wal", "-shm")
"""The main file and SQLite's WAL and shared-memory files."""
BUSY_TIMEOUT_S = 10.0
"""How long the check waits for a lock another process holds on the file."""
_IN_USE = ("SQLITE_BUSY", "SQLITE_LOCKED")
"""SQLite errors that mean "someone else holds it", not damage: never moved aside."""


class OutboxOpenError(Exception):
    """The outbox cannot be opened or created (the kiosk cannot record check-ins)."""


@dataclass(frozen=True)
class FileCheck:
    """What the startup check found."""

    intact: bool
    highest_seq: int | None
    """The highest sequence number readable in the file (None if nothing could be read)."""
    recovered_before: int = 0
    """How many recoveries the old file had recorded (its meta key ``recovered``)."""
    detail: str = ""
    """Why the file counts as damaged (SQLite's first complaint; no record contents)."""


@dataclass(frozen=True)
class Recovery:
    """A damaged outbox moved aside, and where its successor starts."""

    damaged: Path
    aside: Path
    highest_seq: int | None
    next_seq: int
    recoveries: int
    detail: str


def _scalar(db: sqlite3.Connection, query: str) -> int | None:
    """One integer from ``query``, or None if the query fails or finds nothing."""
    try:
        row = db.execute(query).fetchone()
    except sqlite3.DatabaseError:
        return None
    if not row or row[0] is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        return None


def _highest(db: sqlite3.Connection) -> tuple[int | None, int]:
    """(highest seq readable, recoveries recorded), each query tried on its own."""
    found = [
        value
        for value in (
            _scalar(db, "SELECT max(seq) FROM outbox"),
            _minus_one(_scalar(db, "SELECT value FROM counter WHERE name = 'next_seq'")),
        )
        if value is not None
    ]
    recovered = _scalar(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'recovered'")
    return (max(found) if found else None), max(recovered or 0, 0)


def _minus_one(value: int | None) -> int | None:
    return None if value is None else value - 1


def inspect_outbox_file(path: Path) -> FileCheck:
    """Judge the outbox at ``path`` without writing to it (a missing file is intact)."""
    path = Path(path)
    if not path.exists():
        leftovers = [p for p in (Path(f"{path}{s}") for s in SUFFIXES[1:]) if p.exists()]
        if leftovers:  # a WAL without its database must not be replayed into a new one
            return FileCheck(False, None, detail="main file missing beside its -wal/-shm")
        return FileCheck(True, None)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.DatabaseError as exc:
        _refuse_if_in_use(path, exc)
        return FileCheck(False, None, detail=str(exc))
    try:
        detail = ""
        try:
            answer = db.execute("PRAGMA integrity_check").fetchall()
            intact = answer == [("ok",)]
            if not intact:
                detail = str(answer[0][0]) if answer else "no answer"
        except sqlite3.DatabaseError as exc:
            _refuse_if_in_use(path, exc)
            intact, detail = False, str(exc)
        highest, recovered = _highest(db)
    finally:
        db.close()
    return FileCheck(intact, highest, recovered, detail[:200])


def _refuse_if_in_use(path: Path, exc: sqlite3.DatabaseError) -> None:
    """Raise OutboxOpenError if ``exc`` says another process holds the file (not damage)."""
    if getattr(exc, "sqlite_errorname", "") in _IN_USE:
        raise OutboxOpenError(f"outbox {path} is locked by another process: {exc}") from exc


def _stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_aside(path: Path, now: float | None = None) -> Path:
    """Rename the outbox and its -wal/-shm to ``.corrupt-<UTC stamp>``; return the new main path.

    Never overwrites an earlier damaged copy: a second recovery in the same second
    gets ``-2``, ``-3``... after the stamp.
    """
    path = Path(path)
    base = f"{path.name}.corrupt-{_stamp(time.time() if now is None else now)}"
    aside = path.with_name(base)
    n = 1
    while any(Path(f"{aside}{s}").exists() for s in SUFFIXES):
        n += 1
        aside = path.with_name(f"{base}-{n}")
    for suffix in SUFFIXES:
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{aside}{suffix}")
    _fsync_dir(path.parent)
    return aside


def recover_if_damaged(path: Path, now: float | None = None) -> tuple[Recovery | None, FileCheck]:
    """Check the outbox file; move it aside if damaged. Returns (recovery or None, check)."""
    check = inspect_outbox_file(path)
    if check.intact:
        return None, check
    try:
        aside = move_aside(path, now)
    except OSError as exc:
        raise OutboxOpenError(
            f"outbox {path} failed its integrity check and cannot be moved aside: {exc}"
        ) from exc
    return (
        Recovery(
            damaged=Path(path),
            aside=aside,
            highest_seq=check.highest_seq,
            next_seq=(check.highest_seq or 0) + 1 + SEQ_MARGIN,
            recoveries=check.recovered_before + 1,
            detail=check.detail,
        ),
        check,
    )
