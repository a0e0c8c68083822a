"""What the explorer pages show, read from the ledger's tables: plain data, no Flask.

Everything here is public already through the read API (``aggregator/api/ledger.py``):
checkpoints, cosignatures, block headers and leaf hashes. A leaf's kind comes from the
stored row that made it (a check-in row, or whatever ``LEAF_KINDS`` hooks add, such as
audit entries): never the visit's details.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from protocol import keys
from protocol.block import BlockHeader, parse_block
from protocol.checkpoint import Checkpoint, parse_checkpoint
from protocol.cosignature import CosignatureVerifier
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier, Signature, parse_note

from .. import audit_log
from ..audit_log import AuditLogEntry
from ..cosignatures import CosignatureEntry
from ..models_base import BaseModel
from ..tables import BlockEntry, CheckinEntry

BLOCKS_PER_PAGE = 50
LEAVES_PER_PAGE = 256

LeafKinds = Callable[[int, int], dict[int, str]]
"""Kinds of the leaves with index in [lo, hi) that one source knows (``checkin``, ``audit``)."""


def kinds_from(model: type[BaseModel], kind: str) -> LeafKinds:
    """A ``LeafKinds`` source: the rows of ``model`` (a table with a ``leaf_index`` column)
    made the leaves of ``kind``. Another leaf kind registers itself with one line, e.g.
    ``LEAF_KINDS.append(kinds_from(AuditLogEntry, "audit"))``."""
    column = model.leaf_index  # type: ignore[attr-defined]

    def kinds(lo: int, hi: int) -> dict[int, str]:
        rows = model.select(column).where((column >= lo) & (column < hi))
        return {r.leaf_index: kind for r in rows}

    return kinds


LEAF_KINDS: list[LeafKinds] = [
    kinds_from(CheckinEntry, "checkin"),
    kinds_from(AuditLogEntry, "audit"),
]
"""Where leaf kinds come from; another leaf kind adds its own source here."""


def utc(ms: int) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class SignatureLine:
    """One signature line of a checkpoint note, and whose key it claims to be."""

    name: str
    key_id: str
    role: str  # "ledger", "witness" or "unknown"


@dataclass(frozen=True)
class CheckpointView:
    """The latest sealed block's checkpoint, parsed, with its signature lines."""

    block: BlockEntry
    checkpoint: Checkpoint
    note: str
    signatures: list[SignatureLine]

    @property
    def sealed(self) -> str:
        return utc(self.block.sealed_ms)


@dataclass(frozen=True)
class CosignatureView:
    """One witness's kept cosignature of one tree size."""

    witness: str
    key_id: str
    tree_size: int
    time: str


def _role(sig: Signature, ledger: NoteVerifier | None, witnesses: list[CosignatureVerifier]) -> str:
    if ledger is not None and (sig.name, sig.key_id) == (ledger.name, ledger.key_id):
        return "ledger"
    if any(w.matches(sig) for w in witnesses):
        return "witness"
    return "unknown"


def latest(
    key_for: Callable[[str], NoteVerifier | None], witnesses: list[CosignatureVerifier]
) -> tuple[CheckpointView | None, NoteVerifier | None]:
    """(the latest block's checkpoint, the ledger key) or (None, None) before the first block.

    ``key_for(origin)`` is the ledger key the pages state for a checkpoint of ``origin``.
    """
    block = BlockEntry.select().order_by(BlockEntry.height.desc()).first()
    if block is None:
        return None, None
    try:
        text, sigs = parse_note(block.checkpoint)
        checkpoint = parse_checkpoint(text)
    except ProtocolError as exc:
        raise LedgerDamaged(f"stored checkpoint of block {block.height} does not parse") from exc
    ledger = key_for(checkpoint.origin)
    lines = [SignatureLine(s.name, f"{s.key_id:08x}", _role(s, ledger, witnesses)) for s in sigs]
    return CheckpointView(block, checkpoint, block.checkpoint, lines), ledger


def cosignatures() -> tuple[int | None, list[CosignatureView]]:
    """(tree size, its cosignatures) for the largest tree size any witness cosigned."""
    newest = (
        CosignatureEntry.select(CosignatureEntry.tree_size)
        .order_by(CosignatureEntry.tree_size.desc())
        .first()
    )
    if newest is None:
        return None, []
    rows = (
        CosignatureEntry.select()
        .where(CosignatureEntry.tree_size == newest.tree_size)
        .order_by(CosignatureEntry.witness)
    )
    return newest.tree_size, [
        CosignatureView(r.witness, f"{r.key_id:08x}", r.tree_size, utc(r.timestamp * 1000))
        for r in rows
    ]


@dataclass(frozen=True)
class BlockRow:
    """A block as listed: its entry and its parsed header."""

    entry: BlockEntry
    header: BlockHeader

    @property
    def sealed(self) -> str:
        return utc(self.entry.sealed_ms)


def _row(entry: BlockEntry) -> BlockRow:
    try:
        header = parse_block(bytes(entry.wire))
    except ProtocolError as exc:
        raise LedgerDamaged(f"stored header of block {entry.height} does not parse") from exc
    return BlockRow(entry, header)


class LedgerDamaged(RuntimeError):
    """A stored block header that does not parse (the read API calls it a storage fault)."""


def latest_height() -> int | None:
    """The height of the newest block, or None."""
    block = BlockEntry.select(BlockEntry.height).order_by(BlockEntry.height.desc()).first()
    return None if block is None else block.height


def blocks_down_from(top: int, count: int = BLOCKS_PER_PAGE) -> list[BlockRow]:
    """Up to ``count`` blocks from height ``top`` downwards, newest first."""
    rows = (
        BlockEntry.select()
        .where(BlockEntry.height <= top)
        .order_by(BlockEntry.height.desc())
        .limit(count)
    )
    return [_row(r) for r in rows]


def block(height: int) -> BlockRow | None:
    """One block, or None."""
    entry = BlockEntry.get_or_none(BlockEntry.height == height)
    return None if entry is None else _row(entry)


@dataclass(frozen=True)
class LeafRow:
    """One leaf of a block: its index in the tree, its hash and its kind."""

    index: int
    hash: str
    kind: str


def leaves(row: BlockRow, start: int, read: Callable[[int, int], list[bytes]]) -> list[LeafRow]:
    """The block's leaves from its ``start``-th on (at most ``LEAVES_PER_PAGE``)."""
    lo = row.header.first_leaf + start
    hi = min(lo + LEAVES_PER_PAGE, row.header.tree_size)
    if lo >= hi:
        return []
    kinds: dict[int, str] = {}
    for source in LEAF_KINDS:
        kinds.update(source(lo, hi))
    hashes = read(lo, hi)
    return [LeafRow(lo + i, h.hex(), kinds.get(lo + i, "unknown")) for i, h in enumerate(hashes)]


def ledger_verifier(
    configured: str | None, did: str | None, origin: str | None
) -> NoteVerifier | None:
    """The ledger key the pages state: ``configured`` (a vkey), else the ledger's did:key
    with the checkpoint origin as its name, else None."""
    if configured:
        return NoteVerifier.from_string(configured)
    if did and origin:
        public = keys.load_public(keys.parse_did_key(did))
        return NoteVerifier.from_public_key(origin, public)
    return None


AUDIT_PER_PAGE = 50


@dataclass(frozen=True)
class AuditRow:
    """A sealed audit entry as listed: what ``GET /v1/audit`` says of it (no visitor)."""

    audit_id: str
    leaf_index: int
    block: int
    time: str
    action: str
    actor: str
    role: str
    case: str
    reason: str
    counts: str


def audit_entries(start: int) -> tuple[list[AuditRow], int | None]:
    """(sealed audit entries from leaf index ``start``, at most a page; the next start)."""
    rows = audit_log.sealed(start, AUDIT_PER_PAGE + 1)
    more = len(rows) > AUDIT_PER_PAGE
    rows = rows[:AUDIT_PER_PAGE]
    out = []
    for row in rows:
        try:
            e = audit_log.entry_json(row)
        except ProtocolError as exc:
            raise LedgerDamaged(
                f"stored audit entry at leaf {row.leaf_index} does not parse"
            ) from exc
        counts = ", ".join(f"{k} {v}" for k, v in sorted(e["counts"].items()))
        out.append(
            AuditRow(
                e["id"],
                e["leaf_index"],
                e["block"],
                utc(e["at_ms"]),
                e["action"],
                e["actor"],
                e["role"],
                e["case"],
                e["reason"],
                counts,
            )
        )
    return out, (rows[-1].leaf_index + 1 if more else None)
