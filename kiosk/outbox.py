"""The durable outbox: every accepted check-in is committed to SQLite before the green light.

peewee on SQLite in WAL mode with ``synchronous=FULL``: a committed row survives
a power cut. Rows stay until a valid receipt names them. The per-kiosk
sequence number lives in the same database and so survives restarts.

Once a receipt names a row, its signed record (which holds the visitor's
presentation) is erased: a kiosk keeps no history of who came. A row the
aggregator refused for good is kept, marked, for the operator, and not sent again.

Bookkeeping rows do not stay for ever: :meth:`Outbox.prune` deletes delivered rows
after a retention period (a day by default) and refused rows after a longer one
(28 days), a small batch at a time, from the kiosk loop. A small ``meta`` table
holds key/value facts that must survive a restart: the time of the last verified
receipt, the latest accepted kiosk config message and how many times a damaged file
was moved aside. A ``seen_code`` table (:mod:`kiosk.seen_codes`) holds fingerprints of
the codes checked in within their validity, committed with their rows, so the door's
"already checked in" memory survives a restart.

At startup the file is checked before peewee opens it (:mod:`kiosk.outbox_recovery`):
a damaged outbox is moved aside, never deleted, and a fresh one continues above every
sequence number the old one may have given out. An intact file whose counter lags its
rows (a copy with a stale counter page) has its counter raised, so appends do not
collide. The append is the kiosk's hot path: three prepared statements in one
``BEGIN IMMEDIATE`` transaction, no ORM query building.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import peewee

from protocol.receipt import Receipt, Refusal
from support.private_files import prepare_private_sqlite, private_dir

from .disk import is_disk_full
from .outbox_recovery import OutboxOpenError, Recovery, recover_if_damaged
from .seen_codes import SeenCode, SeenCodes

log = logging.getLogger(__name__)

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL: fsync the WAL on every commit
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "secure_delete": 1,  # erased records are overwritten on disk, not just unlinked
}


#: A row unanswered after a resend waits twice as long before the next, at most this
#: many times: with ``resend_after_s`` 10 s, resends after 10, 20, 40 and then every 80 s.
RESEND_DOUBLINGS = 3


class _Row(peewee.Model):
    seq = peewee.BigIntegerField(primary_key=True)
    checkin_id = peewee.BlobField(unique=True)
    wire = peewee.BlobField()
    created_ms = peewee.BigIntegerField()
    attempts = peewee.IntegerField(default=0)
    last_sent_ms = peewee.BigIntegerField(null=True)
    delivered_ms = peewee.BigIntegerField(null=True, index=True)
    block = peewee.BigIntegerField(null=True)
    leaf_index = peewee.BigIntegerField(null=True)
    rejected_ms = peewee.BigIntegerField(null=True)
    rejected_reason = peewee.CharField(null=True, max_length=32)


class _Counter(peewee.Model):
    name = peewee.CharField(primary_key=True)
    value = peewee.BigIntegerField()


class _Meta(peewee.Model):
    key = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.BlobField()


LAST_RECEIPT_MS = "last_receipt_ms"
#: Wall-clock ms of the latest heartbeat sent while the broker link was up / down.
LINK_UP_MS = "link_up_ms"
LINK_DOWN_MS = "link_down_ms"
"""Meta key: wall-clock ms of the last verified receipt or refusal."""
KIOSK_CONFIG = "kiosk_config"
"""Meta key: the wire bytes of the latest accepted kiosk config message."""
RECOVERED = "recovered"
"""Meta key: how many times a damaged outbox file was moved aside (ASCII decimal)."""

_NEXT_SEQ = "SELECT value FROM counter WHERE name = 'next_seq'"
_INSERT_ROW = (
    "INSERT INTO outbox (seq, checkin_id, wire, created_ms, attempts) VALUES (?, ?, ?, ?, 0)"
)
_SET_NEXT_SEQ = "UPDATE counter SET value = ? WHERE name = 'next_seq'"
_RAISE_NEXT_SEQ = (
    "UPDATE counter SET value = max(value, ?, (SELECT coalesce(max(seq), 0) + 1 FROM outbox))"
    " WHERE name = 'next_seq'"
)


class OutboxFull(peewee.OperationalError):
    """A write did not fit: SQLite reported the database or disk full. Nothing was stored."""


@dataclass(frozen=True)
class OutboxStats:
    """Queue depth and delivery figures for heartbeats and the demo."""

    pending: int
    delivered: int
    rejected: int
    oldest_pending_ms: int | None
    next_seq: int
    recoveries: int = 0


class Outbox:
    """Check-ins waiting for a receipt, in one SQLite file.

    Raises :class:`OutboxOpenError` if the file can be neither opened nor replaced
    by a fresh one.
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        self.path = path
        self.recovery: Recovery | None = None
        """Set when a damaged file was moved aside at this start."""
        try:
            private_dir(path.parent)
            self.recovery, _ = recover_if_damaged(path)
            prepare_private_sqlite(path)  # pending rows hold visitor codes: 0600, like the key
            self._open(path)
        except (OSError, peewee.DatabaseError) as exc:
            raise OutboxOpenError(f"cannot open the outbox {path}: {exc}") from exc
        if self.recovery is not None:
            r = self.recovery
            log.warning(
                "outbox %s failed its integrity check (%s): moved aside to %s; highest "
                "readable seq %s, a fresh outbox continues at seq %d (recovery %d)",
                r.damaged,
                r.detail,
                r.aside,
                r.highest_seq,
                r.next_seq,
                r.recoveries,
            )

    def _open(self, path: Path) -> None:
        self.db = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=10)

        class Row(_Row):
            class Meta:
                database = self.db
                table_name = "outbox"

        class Counter(_Counter):
            class Meta:
                database = self.db
                table_name = "counter"

        class Meta(_Meta):
            class Meta:
                database = self.db
                table_name = "meta"

        self.Row = Row
        self.Counter = Counter
        self.Meta = Meta
        self.seen = SeenCodes(self.db)
        self.db.connect(reuse_if_open=True)
        recovery = self.recovery
        with self.db.atomic("IMMEDIATE"):
            self.db.create_tables([Row, Counter, Meta])
            self.seen.create()
            Counter.insert(name="next_seq", value=1).on_conflict_ignore().execute()
            before = self.next_seq()
            floor = 1 if recovery is None else recovery.next_seq
            self.db.execute_sql(_RAISE_NEXT_SEQ, (floor,))
            if recovery is not None:
                self._set_meta(RECOVERED, str(recovery.recoveries).encode())
            after = self.next_seq()
        if recovery is None and after != before:
            log.warning(
                "outbox %s: sequence counter %d lagged its stored rows; raised to %d",
                path,
                before,
                after,
            )

    def next_seq(self) -> int:
        """The sequence number the next append will take."""
        return int(self.db.execute_sql(_NEXT_SEQ).fetchone()[0])

    def append(
        self,
        build: Callable[[int], tuple[bytes, bytes]],
        now_ms: int,
        *,
        seen: SeenCode | None = None,
    ) -> int:
        """Take the next sequence number, build (checkin_id, wire) with it, commit; return seq.

        ``build`` runs inside the transaction, so a crash leaves neither the row
        nor a used sequence number behind. ``seen``, the checked-in code's
        fingerprint, is committed in the same transaction. The commit (WAL,
        ``synchronous=FULL``) is on disk when this returns.
        """
        execute = self.db.execute_sql
        with self._writing("IMMEDIATE"):
            seq = int(execute(_NEXT_SEQ).fetchone()[0])
            checkin_id, wire = build(seq)
            execute(_INSERT_ROW, (seq, checkin_id, wire, now_ms))
            execute(_SET_NEXT_SEQ, (seq + 1,))
            if seen is not None:
                self.seen.insert(seen)
        return seq

    @contextlib.contextmanager
    def _writing(self, lock: str | None = None) -> Iterator[None]:
        """One write transaction; a full database or disk raises :class:`OutboxFull`.

        Whatever the failure (even the failed rollback SQLite leaves after SQLITE_FULL),
        the transaction is gone and rows committed before stay as they were.
        """
        try:
            with self.db.atomic(lock):
                yield
        except peewee.DatabaseError as exc:
            if not isinstance(exc, OutboxFull) and is_disk_full(exc):
                raise OutboxFull(
                    f"disk full: the outbox {self.path} cannot grow (database or disk is full)"
                ) from exc
            raise

    def raise_next_seq(self, floor: int) -> int:
        """Make the next sequence number at least ``floor`` (never lower it); return it."""
        with self._writing("IMMEDIATE"):
            self.db.execute_sql(_RAISE_NEXT_SEQ, (floor,))
            return self.next_seq()

    def _resend_at(self, resend_after_ms: int) -> peewee.Node:
        """When a sent row is due again: ``resend_after_ms`` after its first send, then
        twice as long after each resend, up to :data:`RESEND_DOUBLINGS` doublings.

        A busy aggregator is not flooded with copies of what the broker already holds
        for it (each copy costs it a verification and a receipt).
        """
        return peewee.SQL(
            "(last_sent_ms + (? << MIN(MAX(attempts - 1, 0), ?)))",
            (resend_after_ms, RESEND_DOUBLINGS),
        )

    def due(self, now_ms: int, resend_after_ms: int, limit: int) -> list[_Row]:
        """Undelivered rows never sent, or sent and unanswered for their resend wait."""
        Row = self.Row
        resend_at = self._resend_at(resend_after_ms)
        query = (
            Row.select()
            .where(self._waiting() & (Row.last_sent_ms.is_null() | (resend_at <= now_ms)))
            # New rows first, then the longest unanswered: a row the aggregator keeps
            # ignoring cannot hold back everything behind it.
            .order_by(Row.last_sent_ms.is_null(False), Row.last_sent_ms, Row.seq)
            .limit(limit)
        )
        return list(query)

    def _waiting(self) -> peewee.Expression:
        """Rows with neither a receipt nor a refusal."""
        return self.Row.delivered_ms.is_null() & self.Row.rejected_ms.is_null()

    def in_flight(self, now_ms: int, resend_after_ms: int) -> int:
        """Rows sent within their resend wait and not yet receipted."""
        Row = self.Row
        return (
            Row.select()
            .where(
                self._waiting()
                & Row.last_sent_ms.is_null(False)
                & (self._resend_at(resend_after_ms) > now_ms)
            )
            .count()
        )

    def mark_sent(self, seqs: Iterable[int], now_ms: int) -> None:
        """Note that these rows were handed to the broker."""
        Row = self.Row
        seqs = list(seqs)
        if seqs:
            Row.update(last_sent_ms=now_ms, attempts=Row.attempts + 1).where(
                Row.seq.in_(seqs)
            ).execute()

    def mark_delivered(self, receipt: Receipt, now_ms: int) -> int:
        """Mark the rows a verified receipt names and erase their records; count newly done."""
        return self._mark_waiting(
            now_ms,
            [
                (
                    e.seq,
                    e.checkin_id,
                    {
                        "delivered_ms": now_ms,
                        "block": receipt.block,
                        "leaf_index": e.leaf_index,
                        "wire": b"",
                    },
                )
                for e in receipt.entries
            ],
        )

    def mark_rejected(self, refusal: Refusal, now_ms: int) -> int:
        """Mark the rows a verified refusal names: kept, never sent again; count newly done."""
        return self._mark_waiting(
            now_ms,
            [
                (e.seq, e.checkin_id, {"rejected_ms": now_ms, "rejected_reason": e.reason})
                for e in refusal.entries
            ],
        )

    def _mark_waiting(
        self, now_ms: int, updates: Iterable[tuple[int, bytes, dict[str, object]]]
    ) -> int:
        """Apply each update to the waiting row with that (seq, checkin_id), in one commit.

        The answer was verified by the caller, so its arrival time is recorded too.
        """
        Row = self.Row
        done = 0
        with self._writing():
            self._set_meta(LAST_RECEIPT_MS, str(now_ms).encode())
            for seq, checkin_id, fields in updates:
                done += (
                    Row.update(**fields)
                    .where((Row.seq == seq) & (Row.checkin_id == checkin_id) & self._waiting())
                    .execute()
                )
        return done

    def pending(self) -> int:
        """How many rows wait for a receipt (cheaper than :meth:`stats`)."""
        return self.Row.select().where(self._waiting()).count()

    def stats(self) -> OutboxStats:
        """Pending and delivered counts, the oldest pending row's age base, next seq."""
        Row = self.Row
        pending = Row.select().where(self._waiting())
        oldest = pending.select(peewee.fn.MIN(Row.created_ms)).scalar()
        counter = self.Counter.get_or_none(self.Counter.name == "next_seq")
        return OutboxStats(
            pending=pending.count(),
            delivered=Row.select().where(Row.delivered_ms.is_null(False)).count(),
            rejected=Row.select().where(Row.rejected_ms.is_null(False)).count(),
            oldest_pending_ms=oldest,
            next_seq=counter.value if counter else 1,
            recoveries=self.recoveries(),
        )

    def recoveries(self) -> int:
        """How many times a damaged outbox file was moved aside (carried over each time)."""
        value = self.get_meta(RECOVERED)
        try:
            return 0 if value is None else int(value.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return 0

    def prune(
        self, now_ms: int, *, delivered_after_ms: int, rejected_after_ms: int, batch: int = 100
    ) -> int:
        """Delete up to ``batch`` delivered or refused rows past their retention; count them.

        Waiting rows are never pruned. The sequence counter lives in its own table,
        so pruning every row does not reuse a sequence number.
        """
        Row = self.Row
        old = (
            Row.delivered_ms.is_null(False) & (Row.delivered_ms <= now_ms - delivered_after_ms)
        ) | (Row.rejected_ms.is_null(False) & (Row.rejected_ms <= now_ms - rejected_after_ms))
        with self._writing():
            chosen = [r.seq for r in Row.select(Row.seq).where(old).order_by(Row.seq).limit(batch)]
            if not chosen:
                return 0
            return Row.delete().where(Row.seq.in_(chosen)).execute()

    # -- meta -------------------------------------------------------------------------------

    def _set_meta(self, key: str, value: bytes) -> None:
        self.Meta.insert(key=key, value=value).on_conflict_replace().execute()

    def set_meta(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` (committed when this returns)."""
        with self._writing():
            self._set_meta(key, value)

    def get_meta(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        row = self.Meta.get_or_none(self.Meta.key == key)
        return None if row is None else bytes(row.value)

    def last_receipt_ms(self) -> int | None:
        """Wall-clock ms of the last verified receipt or refusal, or None if never."""
        value = self.get_meta(LAST_RECEIPT_MS)
        try:
            return None if value is None else int(value.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None

    def close(self) -> None:
        """Close the database connection."""
        if not self.db.is_closed():
            self.db.close()
