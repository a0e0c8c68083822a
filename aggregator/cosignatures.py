"""Cosignatures collected from witnesses, and the cosigned checkpoints built from them.

A witness POSTs the checkpoint it cosigned with its signature line. It is kept only
if the text is exactly a checkpoint this log signed (a block's), the line is by a
configured witness and verifies. One row per (tree size, witness); a newer
cosignature of the same checkpoint (a later timestamp) replaces the older one, never
the reverse: anyone may re-post an old, genuine line, and it must not roll the stored
one back. A post whose every line is older than the one kept is refused as ``stale``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import peewee

from protocol.checkpoint import parse_checkpoint
from protocol.cosignature import CosignatureVerifier, with_signatures
from protocol.errors import NoteError
from protocol.note import Signature, parse_note

from .models_base import BaseModel
from .tables import BlockEntry


class CosignatureRefused(ValueError):
    """A posted cosignature that is not kept; ``reason`` is a short counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CosignatureEntry(BaseModel):
    """One witness's cosignature line on the checkpoint of one tree size."""

    tree_size = peewee.BigIntegerField(index=True)
    witness = peewee.CharField(max_length=255)
    key_id = peewee.BigIntegerField()
    timestamp = peewee.BigIntegerField()
    line = peewee.TextField()
    received_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "cosignature"
        primary_key = peewee.CompositeKey("tree_size", "witness")


def collect(note: bytes | str, witnesses: Sequence[CosignatureVerifier]) -> list[str]:
    """Check and store every configured witness's cosignature in ``note``; return their names."""
    try:
        body, sigs = parse_note(note)
        checkpoint = parse_checkpoint(body)
    except NoteError as exc:
        raise CosignatureRefused("malformed", f"not a signed note: {exc}") from exc
    except ValueError as exc:
        raise CosignatureRefused("malformed", f"not a checkpoint: {exc}") from exc
    block = BlockEntry.get_or_none(BlockEntry.tree_size == checkpoint.size)
    if block is None or parse_note(block.checkpoint)[0] != body:
        raise CosignatureRefused("unknown_checkpoint", "this log signed no such checkpoint")
    known = {(w.name, w.key_id): w for w in witnesses}
    found: list[tuple[CosignatureVerifier, Signature, int]] = []
    for sig in sigs:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        try:
            found.append((witness, sig, witness.verify(body, sig)))
        except NoteError as exc:
            raise CosignatureRefused("bad_cosignature", str(exc)) from exc
    if not found:
        raise CosignatureRefused("unknown_witness", "no cosignature by a configured witness")
    db = CosignatureEntry._meta.database
    with db.atomic():
        kept = [w.name for w, sig, stamp in found if _keep_newest(checkpoint.size, w, sig, stamp)]
    if not kept:
        raise CosignatureRefused("stale", "a newer cosignature of this checkpoint is kept")
    return kept


def _keep_newest(tree_size: int, witness: CosignatureVerifier, sig: Signature, stamp: int) -> bool:
    """Store this line unless the one kept for (tree size, witness) is newer; True if kept."""
    now = int(time.time() * 1000)
    CosignatureEntry.insert(
        tree_size=tree_size,
        witness=witness.name,
        key_id=witness.key_id,
        timestamp=stamp,
        line=sig.b64,
        received_ms=now,
    ).on_conflict(
        conflict_target=[CosignatureEntry.tree_size, CosignatureEntry.witness],
        update={
            CosignatureEntry.key_id: peewee.EXCLUDED.key_id,
            CosignatureEntry.timestamp: peewee.EXCLUDED.timestamp,
            CosignatureEntry.line: peewee.EXCLUDED.line,
            CosignatureEntry.received_ms: peewee.EXCLUDED.received_ms,
        },
        where=CosignatureEntry.timestamp < peewee.EXCLUDED.timestamp,
    ).execute()
    stored = CosignatureEntry.get(
        (CosignatureEntry.tree_size == tree_size) & (CosignatureEntry.witness == witness.name)
    )
    return stored.line == sig.b64


def cosigned_checkpoint(min_witnesses: int = 1) -> str | None:
    """The largest checkpoint with at least ``min_witnesses`` cosignatures, all lines added."""
    count = peewee.fn.COUNT(CosignatureEntry.witness)
    best = (
        CosignatureEntry.select(CosignatureEntry.tree_size)
        .group_by(CosignatureEntry.tree_size)
        .having(count >= min_witnesses)
        .order_by(CosignatureEntry.tree_size.desc())
        .first()
    )
    if best is None:
        return None
    block = BlockEntry.get(BlockEntry.tree_size == best.tree_size)
    rows = CosignatureEntry.select().where(CosignatureEntry.tree_size == best.tree_size)
    lines = [
        Signature(r.witness, r.key_id, r.line) for r in rows.order_by(CosignatureEntry.witness)
    ]
    return with_signatures(block.checkpoint, lines).decode("utf-8")


def latest_by_witness() -> dict[str, int]:
    """The largest tree size each witness has cosigned (for /metrics)."""
    size = peewee.fn.MAX(CosignatureEntry.tree_size)
    rows = CosignatureEntry.select(CosignatureEntry.witness, size.alias("size")).group_by(
        CosignatureEntry.witness
    )
    return {r.witness: r.size for r in rows}
