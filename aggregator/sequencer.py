"""The sequencer: seals verified check-ins into signed, hash-chained blocks.

Every check-in becomes a leaf of one log-wide RFC 9162 tree. A block is sealed
in one transaction (header, checkpoint, leaf indexes); receipts are made only
after that commit, so a kiosk never hears "sealed" for what is not durable.
"""

from __future__ import annotations

import time
from collections import defaultdict
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

from .db import BlockEntry, CheckinEntry


@dataclass(frozen=True)
class SealedBlock:
    """A block just sealed, with a signed receipt for each kiosk in it."""

    height: int
    tree_size: int
    leaf_count: int
    root: bytes
    checkpoint: str
    receipts: dict[str, bytes]


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

    def seal(self) -> SealedBlock | None:
        """Seal up to ``batch_size`` waiting check-ins into the next block, if any wait."""
        db = BlockEntry._meta.database
        # On SQLite take the write lock up front: a read transaction that later writes
        # fails at once (SQLITE_BUSY_SNAPSHOT) if ingest committed in between.
        lock = {"lock_type": "IMMEDIATE"} if isinstance(db, peewee.SqliteDatabase) else {}
        with db.atomic(**lock):
            rows = list(
                CheckinEntry.select()
                .where(CheckinEntry.leaf_index.is_null())
                .order_by(CheckinEntry.id)
                .limit(self.batch_size)
            )
            if not rows:
                return None
            height, prev, tree = self._tip()
            first = tree.size
            for row in rows:
                tree.append(bytes(row.leaf_hash))
            root = tree.root()
            sealed_ms = int(self._now() * 1000)
            wire = sign_block(
                self.ledger_key,
                origin=self.origin,
                height=height,
                prev=prev,
                first_leaf=first,
                leaf_count=len(rows),
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
            for offset, row in enumerate(rows):
                row.leaf_index = first + offset
                row.block_height = height
            CheckinEntry.bulk_update(rows, fields=["leaf_index", "block_height"], batch_size=500)
        receipts = self._receipts(rows, height, tree.size, root)
        return SealedBlock(height, tree.size, len(rows), root, note.decode("utf-8"), receipts)

    def _receipts(
        self, rows: list[CheckinEntry], height: int, tree_size: int, root: bytes
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
