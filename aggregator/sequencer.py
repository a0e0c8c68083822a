"""The sequencer: seals verified check-ins into signed, hash-chained blocks.

Every check-in becomes a leaf of one log-wide RFC 9162 tree. A block is sealed
in one transaction (header, checkpoint, leaf indexes); receipts are made only
after that commit, so a kiosk never hears "sealed" for what is not durable.

Audit entries (aggregator/audit_log.py) are leaves of the same tree: the sequencer
signs each waiting entry with the ledger key and seals it first in the next block,
before that block's check-ins. A waiting entry makes a block due at once. Audit
leaves get no receipt (no kiosk waits for them); ``batch_size`` bounds the
check-ins of a block and, separately, its audit entries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.block import GENESIS_PREV, parse_block, sign_block
from protocol.checkin import CheckinRecord
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.encoding import decode, encode
from protocol.merkle import MerkleAccumulator
from protocol.note import NoteSigner
from protocol.receipt import (
    MAX_ENTRIES,
    ReceiptEntry,
    RefusalEntry,
    sign_receipt,
    sign_refusal,
)

from . import audit_log
from .db import BlockEntry, CheckinEntry
from .models_base import concrete_database
from .seqlock import SequencerLock, lock_for, seal_lock_sql
from .tiles import fill_missing_tiles, write_tiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SealedBlock:
    """A block just sealed, with a signed receipt for each kiosk in it."""

    height: int
    tree_size: int
    leaf_count: int
    root: bytes
    checkpoint: str
    receipts: dict[str, bytes]
    audit_count: int = 0


class _Waiting:
    """A verified check-in waiting for its block: only the columns sealing needs.

    Read as plain tuples, not model rows: the sequencer reads every check-in once.
    """

    __slots__ = ("id", "checkin_id", "kiosk_id", "seq", "leaf_hash", "leaf_index")

    def __init__(self, row_id: int, checkin_id: bytes, kiosk_id: str, seq: int, leaf: bytes):
        self.id = row_id
        self.checkin_id = checkin_id
        self.kiosk_id = kiosk_id
        self.seq = seq
        self.leaf_hash = leaf
        self.leaf_index: int | None = None


_WAITING_COLUMNS = (
    CheckinEntry.id,
    CheckinEntry.checkin_id,
    CheckinEntry.kiosk,
    CheckinEntry.seq,
    CheckinEntry.leaf_hash,
)


class Sequencer:
    """Exactly one of these may run per ledger."""

    def __init__(
        self,
        ledger_key: Ed25519PrivateKey,
        origin: str,
        *,
        batch_size: int = 1000,
        now: Callable[[], float] = time.time,
    ) -> None:
        if type(batch_size) is not int or not 1 <= batch_size <= MAX_ENTRIES:
            raise ValueError(f"batch_size must be 1 to {MAX_ENTRIES}: a receipt holds no more")
        self.ledger_key = ledger_key
        self.origin = origin
        self.note_signer = NoteSigner.from_private_key(origin, ledger_key)
        self.batch_size = batch_size
        self._now = now
        #: Blocks and leaves sealed, and errors by kind (``error:database``, ...).
        self.counts: Counter[str] = Counter()
        self._oldest_seen: tuple[int, float] | None = None
        #: Set by :meth:`due`: seconds until the oldest waiting check-in is due (None: none).
        self.until_due_s: float | None = None
        self._seal_lock: str | None = None
        self._tiles_checked = False

    def _tip(self) -> tuple[int, bytes, MerkleAccumulator]:
        """Next height, previous block hash and the tree after the last block."""
        last = BlockEntry.select().order_by(BlockEntry.height.desc()).first()
        if last is None:
            return 0, GENESIS_PREV, MerkleAccumulator()
        peaks = decode(bytes(last.peaks), max_size=64 * 40, what="peaks")
        tree = MerkleAccumulator.from_state(last.tree_size, peaks)
        return last.height + 1, bytes(last.block_hash), tree

    def pending(self) -> int:
        """Verified check-ins not yet sealed."""
        return CheckinEntry.select().where(CheckinEntry.leaf_index.is_null()).count()

    def due(self, max_age_s: float) -> bool:
        """A block is due: ``batch_size`` check-ins wait, or the oldest has waited ``max_age_s``.

        The wait is measured from the check-in's ``received_ms`` and, in case the
        ingest machine's clock runs ahead, from when this sequencer first saw it.
        """
        self.until_due_s = None
        if audit_log.waiting():
            return True
        waiting = CheckinEntry.select(CheckinEntry.id).where(CheckinEntry.leaf_index.is_null())
        oldest = (
            waiting.select(CheckinEntry.id, CheckinEntry.received_ms)
            .order_by(CheckinEntry.id)
            .first()
        )
        if oldest is None:
            self._oldest_seen = None
            return False
        if self._oldest_seen is None or self._oldest_seen[0] != oldest.id:
            self._oldest_seen = (oldest.id, time.monotonic())
        by_clock = max_age_s - (self._now() * 1000 - oldest.received_ms) / 1000
        by_sight = max_age_s - (time.monotonic() - self._oldest_seen[1])
        if by_clock <= 0 or by_sight <= 0:
            return True
        self.until_due_s = min(by_clock, by_sight)
        return waiting.limit(self.batch_size).count() >= self.batch_size

    def seal(self) -> SealedBlock | None:
        """Seal waiting audit entries and up to ``batch_size`` check-ins into the next block.

        The block's leaves are the audit entries (each signed here), then the check-ins.
        """
        db = _database()
        # On SQLite take the write lock up front: a read transaction that later writes
        # fails at once (SQLITE_BUSY_SNAPSHOT) if ingest committed in between.
        lock = {"lock_type": "IMMEDIATE"} if isinstance(db, peewee.SqliteDatabase) else {}
        with db.atomic(**lock):
            if self._seal_lock is None:
                self._seal_lock = seal_lock_sql(db, self.origin) or ""
            if self._seal_lock:
                db.execute_sql(self._seal_lock)
            rows = [
                _Waiting(*row)
                for row in CheckinEntry.select(*_WAITING_COLUMNS)
                .where(CheckinEntry.leaf_index.is_null())
                .order_by(CheckinEntry.id)
                .limit(self.batch_size)
                .tuples()
            ]
            audits = audit_log.pending(self.batch_size)
            if not rows and not audits:
                return None
            height, prev, tree = self._tip()
            first = tree.size
            if not self._tiles_checked:
                # A ledger sealed before tiles were stored gets them once, here.
                fill_missing_tiles(first)
            leaves = audit_log.sign_rows(audits, self.ledger_key, first)
            leaves += [bytes(row.leaf_hash) for row in rows]
            for leaf in leaves:
                tree.append(leaf)
            root = tree.root()
            sealed_ms = int(self._now() * 1000)
            wire = sign_block(
                self.ledger_key,
                origin=self.origin,
                height=height,
                prev=prev,
                first_leaf=first,
                leaf_count=len(leaves),
                tree_size=tree.size,
                root=root,
                sealed_ms=sealed_ms,
            )
            header = parse_block(wire)
            note = sign_checkpoint(Checkpoint(self.origin, tree.size, root), self.note_signer)
            BlockEntry.create(
                height=height,
                wire=wire,
                block_hash=header.block_hash,
                tree_size=tree.size,
                root=root,
                peaks=encode(list(tree.peaks)),
                checkpoint=note.decode("utf-8"),
                sealed_ms=sealed_ms,
            )
            audit_log.save_sealed(audits, height)
            for offset, row in enumerate(rows, start=first + len(audits)):
                row.leaf_index = offset
            if rows:
                _set_leaf_indexes(rows, height)
            write_tiles(first, tree.size, leaves)
        self._tiles_checked = True  # only once committed: a rolled-back fill is redone
        self.counts["blocks"] += 1
        self.counts["sealed"] += len(rows)
        if audits:
            self.counts["audit_sealed"] += len(audits)
        receipts = self._receipts(rows, height, tree.size, root)
        return SealedBlock(
            height,
            tree.size,
            len(leaves),
            root,
            note.decode("utf-8"),
            receipts,
            audit_count=len(audits),
        )

    def _receipts(
        self, rows: list[_Waiting], height: int, tree_size: int, root: bytes
    ) -> dict[str, bytes]:
        by_kiosk: dict[str, list[ReceiptEntry]] = defaultdict(list)
        for row in rows:
            by_kiosk[row.kiosk_id].append(
                ReceiptEntry(bytes(row.checkin_id), row.seq, row.leaf_index)
            )
        return {
            kiosk: self.receipt_for(kiosk, entries, height, tree_size, root)
            for kiosk, entries in by_kiosk.items()
        }

    def receipt_for(
        self, kiosk_id: str, entries: list[ReceiptEntry], height: int, tree_size: int, root: bytes
    ) -> bytes:
        """A signed receipt for ``entries`` of one kiosk sealed in block ``height``."""
        return sign_receipt(
            self.ledger_key,
            kiosk_id=kiosk_id,
            entries=entries,
            block=height,
            tree_size=tree_size,
            root=root,
            issued_ms=int(self._now() * 1000),
        )

    def receipt_again(self, entry: CheckinEntry) -> bytes | None:
        """A fresh receipt for a check-in sealed earlier (its kiosk sent it again)."""
        if entry.leaf_index is None:
            return None
        block = BlockEntry.get_by_id(entry.block_height)
        item = ReceiptEntry(bytes(entry.checkin_id), entry.seq, entry.leaf_index)
        return self.receipt_for(
            entry.kiosk_id, [item], block.height, block.tree_size, bytes(block.root)
        )

    def refusal_for(self, record: CheckinRecord, reason: str) -> bytes:
        """A signed refusal telling a kiosk one of its records will never be sealed."""
        return sign_refusal(
            self.ledger_key,
            kiosk_id=record.kiosk_id,
            entries=[RefusalEntry(record.checkin_id, record.seq, reason)],
            issued_ms=int(self._now() * 1000),
        )


def _set_leaf_indexes(rows: list[_Waiting], height: int) -> None:
    """Record each row's leaf index and block (PostgreSQL: UPDATE ... FROM (VALUES ...))."""
    db = _database()
    if not isinstance(db, peewee.PostgresqlDatabase):
        # One prepared UPDATE run for every row (peewee's CASE bulk_update costs far more).
        table = CheckinEntry._meta.table_name
        db.cursor().executemany(
            f'UPDATE "{table}" SET "leaf_index" = ?, "block_height" = ? WHERE "id" = ?',
            [(row.leaf_index, height, row.id) for row in rows],
        )
        return
    # bulk_update's CASE is slow on PostgreSQL, and peewee building a VALUES list of
    # hundreds of rows cost the sequencer a fifth of its CPU: the SQL text is kept.
    for chunk in peewee.chunked(rows, 500):
        params: list[int] = [height]
        for row in chunk:
            params += (row.id, row.leaf_index)
        db.execute_sql(_pg_leaf_sql(len(chunk)), params)


def _pg_leaf_sql(n: int) -> str:
    """UPDATE of ``n`` rows' leaf index and block (PostgreSQL), built once per ``n``."""
    sql = _PG_LEAF_SQL.get(n)
    if sql is None:
        table = CheckinEntry._meta.table_name
        values = ", ".join(["(%s, %s)"] * n)
        sql = _PG_LEAF_SQL[n] = (
            f'UPDATE "{table}" SET "leaf_index" = v.leaf, "block_height" = %s '
            f'FROM (VALUES {values}) AS v (id, leaf) WHERE "{table}"."id" = v.id'
        )
    return sql


_PG_LEAF_SQL: dict[int, str] = {}


# --- the sequencer loop -------------------------------------------------------------------


def _database() -> peewee.Database:
    return concrete_database(BlockEntry._meta.database)


def _reset_connection(db: peewee.Database) -> None:
    """Forget this thread's connection after a database error; the next use reconnects."""
    try:
        db.close()
    except peewee.PeeweeException:
        db.dispose()


def seal_once(
    sequencer: Sequencer,
    on_sealed: Callable[[SealedBlock], None],
    *,
    max_age_s: float = 0.25,
    guard: contextlib.AbstractContextManager[object] | None = None,
) -> int:
    """Seal one block if one is due and hand it to ``on_sealed`` (after the commit).

    ``guard`` (a lock shared with ingest threads of the same process, say) is held
    around the sealing transaction. Returns the check-ins sealed (0 if none were
    due), or -1 after a database error, which is counted in
    ``sequencer.counts["error:database"]`` and rolled back: the same check-ins are
    tried again, and no receipt went out. A damaged stored audit entry is counted in
    ``error:audit`` and handled the same way.
    """
    db = _database()
    try:
        db.connect(reuse_if_open=True)
        with guard or contextlib.nullcontext():
            block = sequencer.seal() if sequencer.due(max_age_s) else None
    except peewee.PeeweeException as exc:
        sequencer.counts["error:database"] += 1
        log.error("sequencer: database error, nothing sealed: %s", str(exc).strip()[:200])
        _reset_connection(db)
        return -1
    except audit_log.AuditLogError as exc:
        sequencer.counts["error:audit"] += 1
        log.error("sequencer: %s; nothing sealed", exc)
        return -1
    if block is None:
        return 0
    try:
        on_sealed(block)
    except Exception:  # noqa: BLE001 - the block is durable; kiosks resend and get receipts
        sequencer.counts["error:publish"] += 1
        log.exception("sequencer: sealed block %d but could not hand it on", block.height)
    return block.leaf_count


def run_sequencer(
    sequencer: Sequencer,
    stop: threading.Event,
    on_sealed: Callable[[SealedBlock], None],
    *,
    max_age_s: float = 0.25,
    poll_s: float = 0.05,
    lock: SequencerLock | None = None,
    drain: bool = True,
    guard: contextlib.AbstractContextManager[object] | None = None,
) -> None:
    """Hold the ledger's sequencer lock and seal blocks until ``stop`` is set.

    Waits (polling, logging who holds it) while another sequencer holds the lock,
    and takes over when that one dies. Seals when ``batch_size`` check-ins wait or
    the oldest has waited ``max_age_s``; a full block is followed at once by the
    next. Database errors are counted and retried after a pause. With ``drain``,
    what is due when ``stop`` is set is sealed before returning.
    """
    db = _database()
    lock = lock or lock_for(db, sequencer.origin)
    backoff = poll_s
    try:
        while not stop.is_set():
            if not _hold(lock, stop, poll_s, sequencer):
                break
            sealed = seal_once(sequencer, on_sealed, max_age_s=max_age_s, guard=guard)
            if sealed < 0:
                backoff = min(max(backoff * 2, poll_s), 2.0)
                stop.wait(backoff)
                continue
            backoff = poll_s
            if sealed < sequencer.batch_size:
                stop.wait(_pause(sequencer, sealed, poll_s, max_age_s))
        if drain and lock.still_held():
            while seal_once(sequencer, on_sealed, max_age_s=0, guard=guard) > 0:
                pass
    finally:
        lock.release()
        _reset_connection(db)


def _pause(sequencer: Sequencer, sealed: int, poll_s: float, max_age_s: float) -> float:
    """How long the loop waits before it looks again (each look costs a few queries).

    Until the oldest waiting check-in is due, when :meth:`Sequencer.due` saw one;
    else (none waiting, or a block was just sealed) half the age limit, so a check-in
    stored meanwhile is seen before it is due. Never less than ``poll_s`` when nothing
    waits, never more than ``max_age_s``. A block filling up by size (``batch_size``)
    is then seen at most ``max_age_s`` late, when its oldest is due anyway.
    """
    hint = sequencer.until_due_s if sealed == 0 else None
    if hint is None:
        return max(poll_s, max_age_s / 2)
    return min(max(hint, 0.005), max(poll_s, max_age_s))


def _hold(lock: SequencerLock, stop: threading.Event, poll_s: float, seq: Sequencer) -> bool:
    """Make sure ``lock`` is held, waiting for it; False if ``stop`` was set first."""
    if lock.still_held():
        return True
    if seq.counts["lock_taken"]:
        seq.counts["lock_lost"] += 1
        log.error("sequencer: lost the sequencer lock (database connection gone); waiting")
    last_log = 0.0
    while not stop.is_set():
        try:
            if lock.try_acquire():
                seq.counts["lock_taken"] += 1
                log.info("sequencer: holding the sequencer lock")
                return True
            holder = lock.holder()
        except (peewee.PeeweeException, OSError) as exc:  # server down, lock file unusable
            seq.counts["error:lock"] += 1
            holder = f"? (cannot reach the lock: {str(exc).strip()[:120]})"
        if time.monotonic() - last_log >= 5.0:
            log.info("sequencer: waiting for the sequencer lock held by %s", holder)
            last_log = time.monotonic()
        stop.wait(poll_s)
    return False
