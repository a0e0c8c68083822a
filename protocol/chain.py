"""Walk a ledger's block chain in order: signatures, links, leaf ranges, roots, checkpoints.

One walk for everyone who re-checks a ledger: the aggregator's own audit (leaves
recomputed from storage) and the outside auditor (leaf hashes fetched over HTTP). The
caller feeds each block in turn::

    walk = ChainWalk(verifier)
    for wire, listed_height, checkpoint in blocks:
        header = walk.open_block(wire, listed_height)
        for leaf in leaves_of(header):
            walk.tree.append(leaf)
        walk.close_block(header, checkpoint)

and every failure is a :class:`ChainError` whose message starts with ``block N:``.

The walk sees leaf hashes only, so it needs no change for the second leaf kind (audit
entries, protocol/audit_entry.py): what each leaf is, and whether it matches what is
stored or listed, is checked by the caller as it feeds the leaves in
(aggregator/audit.py from storage, auditor/log_client.py against ``GET /v1/audit``).
"""

from __future__ import annotations

from protocol.block import GENESIS_PREV, BlockHeader, parse_block
from protocol.checkpoint import Checkpoint, open_checkpoint
from protocol.errors import ProtocolError
from protocol.merkle import MerkleAccumulator
from protocol.note import NoteVerifier


class ChainError(Exception):
    """A block does not continue the chain; the message says which and why."""


class ChainWalk:
    """The state of a walk: the next height, the previous block's hash and the tree so far."""

    def __init__(self, verifier: NoteVerifier) -> None:
        self.verifier = verifier
        self.tree = MerkleAccumulator()
        self.prev = GENESIS_PREV
        self.height = 0
        self.where = "block 0"  # how messages name the block being checked

    def fail(self, problem: str) -> ChainError:
        """A ChainError about the block being checked."""
        return ChainError(f"{self.where}: {problem}")

    def open_block(
        self, wire: bytes, listed_height: object, *, label: object = None
    ) -> BlockHeader:
        """Parse and verify the next header; it must continue the chain where it stands.

        ``listed_height`` is the height the block was stored or listed under; messages
        name the block ``block <label>`` (by default its expected height).
        """
        self.where = f"block {self.height if label is None else label}"
        try:
            header = parse_block(wire)
            header.verify(self.verifier.public_key)
        except ProtocolError as exc:
            raise self.fail(f"header does not verify: {exc}") from exc
        if header.height != self.height or listed_height != self.height:
            raise self.fail(f"expected height {self.height}")
        if header.origin != self.verifier.name:
            raise self.fail(f"origin {header.origin!r} is not {self.verifier.name!r}")
        if header.prev != self.prev:
            raise self.fail("does not link to the previous block")
        if header.first_leaf != self.tree.size:
            raise self.fail(f"starts at leaf {header.first_leaf}, not {self.tree.size}")
        return header

    def close_block(self, header: BlockHeader, checkpoint: str | bytes) -> Checkpoint:
        """After the block's leaves: size, root and checkpoint agree; then step past it."""
        if self.tree.size != header.tree_size:
            raise self.fail(f"holds {self.tree.size} leaves, header says {header.tree_size}")
        if self.tree.root() != header.root:
            raise self.fail("recomputed root differs from the signed root")
        try:
            opened = open_checkpoint(checkpoint, self.verifier, self.verifier.name)
        except ProtocolError as exc:
            raise self.fail(f"checkpoint does not verify: {exc}") from exc
        if opened.size != header.tree_size or opened.root_hash != header.root:
            raise self.fail("checkpoint disagrees with the block header")
        self.prev = header.block_hash
        self.height += 1
        return opened
