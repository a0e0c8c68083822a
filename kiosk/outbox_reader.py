"""Read the kiosk's outbox without writing to it: for ``safecode kiosk status`` and selftest.

The database is opened with SQLite's ``mode=ro`` URI and ``query_only``, so this can
run beside a running kiosk (WAL mode lets a reader in while the kiosk writes) and
never creates, migrates or changes the file. It reads the tables kiosk/outbox.py
makes (``outbox``, ``counter``) by their column names.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = frozenset({"seq", "created_ms", "last_sent_ms", "delivered_ms", "rejected_ms"})
WAITING = "delivered_ms IS NULL AND rejected_ms IS NULL"


class OutboxReadError(Exception):
    """The outbox database is missing, unreadable or not a safecode outbox."""


@dataclass(frozen=True)
class OutboxSnapshot:
    """What the outbox holds, as of one read transaction."""

    pending: int
    """Rows waiting for a receipt (the queue depth)."""
    never_sent: int
    """Pending rows not yet handed to the broker."""
    awaiting_receipt: int
    """Pending rows sent at least once, with no receipt yet."""
    refused: int
    """Rows the aggregator refused for good (kept for the operator)."""
    delivered: int
    """Receipted rows still on disk (pruned after the retention period)."""
    oldest_pending_ms: int | None
    """Wall-clock ms when the oldest pending row was made."""
    last_seq: int | None
    """The last sequence number this kiosk gave out."""
    last_receipt_ms: int | None
    """Wall-clock ms of the latest receipt still recorded (None if none or pruned)."""
    integrity: str | None = None
    """SQLite's quick_check answer when asked for (``"ok"`` when sound)."""
    link_up_ms: int | None = None
    """Wall-clock ms of the firmware's latest heartbeat sent with the broker link up."""
    link_down_ms: int | None = None
    """Wall-clock ms of its latest heartbeat time with the link down."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection to the outbox at ``path`` that cannot write (``mode=ro``, query_only)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    conn.execute("PRAGMA query_only = 1")
    return conn


def read_outbox(path: Path | str, *, integrity: bool = False) -> OutboxSnapshot:
    """Figures from the outbox at ``path``; OutboxReadError (naming the file) if it cannot."""
    path = Path(path)
    if not path.is_file():
        raise OutboxReadError(
            f"{path}: no outbox database (the kiosk has not run yet, or the config's "
            "state_dir is not the running kiosk's)"
        )
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        raise OutboxReadError(f"{path}: cannot open read-only: {exc}") from exc
    try:
        return _read(conn, path, integrity)
    except sqlite3.Error as exc:
        raise OutboxReadError(f"{path}: cannot read the outbox: {exc}") from exc
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, path: Path, integrity: bool) -> OutboxSnapshot:
    check = None
    if integrity:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        check = "; ".join(str(r[0]) for r in rows[:5])
    conn.execute("BEGIN")  # one snapshot for every figure below
    columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    missing = REQUIRED_COLUMNS - columns
    if missing:
        what = "no outbox table" if not columns else f"missing {', '.join(sorted(missing))}"
        raise OutboxReadError(f"{path}: not a safecode outbox ({what})")
    pending, never_sent, oldest = conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM(last_sent_ms IS NULL), 0), MIN(created_ms) "
        f"FROM outbox WHERE {WAITING}"
    ).fetchone()
    refused, delivered, last_receipt, max_seq = conn.execute(
        "SELECT COALESCE(SUM(rejected_ms IS NOT NULL), 0), "
        "COALESCE(SUM(delivered_ms IS NOT NULL), 0), MAX(delivered_ms), MAX(seq) FROM outbox"
    ).fetchone()
    last_seq = max_seq
    has_counter = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'counter'"
    ).fetchone()
    if has_counter:
        row = conn.execute("SELECT value FROM counter WHERE name = 'next_seq'").fetchone()
        if row is not None and isinstance(row[0], int) and row[0] > 1:
            last_seq = row[0] - 1
    stored_receipt = _meta_ms(conn, "last_receipt_ms")
    link_up, link_down = _meta_ms(conn, "link_up_ms"), _meta_ms(conn, "link_down_ms")
    if stored_receipt is not None:  # survives pruning of delivered rows
        last_receipt = max(stored_receipt, last_receipt or 0)
    conn.execute("COMMIT")
    return OutboxSnapshot(
        pending=int(pending),
        never_sent=int(never_sent),
        awaiting_receipt=int(pending) - int(never_sent),
        refused=int(refused),
        delivered=int(delivered),
        oldest_pending_ms=oldest,
        last_seq=last_seq,
        last_receipt_ms=last_receipt,
        integrity=check,
        link_up_ms=link_up,
        link_down_ms=link_down,
    )


def _meta_ms(conn: sqlite3.Connection, key: str) -> int | None:
    """A millisecond time the firmware keeps in its ``meta`` table (None if absent)."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone():
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    value = row[0]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None
