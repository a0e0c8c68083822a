"""A ledger check that also demands witnesses: a cosigned checkpoint on the verified chain.

``ledger verify --witness VKEY --quorum N`` first re-checks the whole ledger, then asks
for the largest checkpoint cosigned by at least N witnesses, verifies the log's
signature and the cosignatures of the given witness keys, and proves with an RFC 9162
consistency proof that this checkpoint's tree is a prefix of the tree just verified.
Only then do the witnesses vouch for what was checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from protocol import merkle
from protocol.cosignature import CosignatureVerifier, Cosigned, open_cosigned
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier

from .log_client import LogClient

ConsistencyProof = Callable[[int, int], list[bytes]]
"""(old size, new size) -> the proof hashes; raises on a missing or malformed answer."""


class QuorumError(Exception):
    """No checkpoint on the verified ledger carries the required cosignatures."""


def check_cosigned(
    note: str | bytes,
    log: NoteVerifier,
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
    *,
    tree_size: int,
    root: bytes,
    proof: ConsistencyProof,
) -> Cosigned:
    """Verify ``note`` (quorum of ``witnesses``) and that it is a prefix of (tree_size, root)."""
    try:
        cosigned = open_cosigned(note, log, witnesses, quorum=quorum, origin=log.name)
    except ProtocolError as exc:
        raise QuorumError(f"the cosigned checkpoint does not verify: {exc}") from exc
    size = cosigned.checkpoint.size
    if size > tree_size:
        raise QuorumError(
            f"the cosigned checkpoint (tree size {size}) is beyond the verified ledger "
            f"(tree size {tree_size}); run the check again"
        )
    path = [] if size == tree_size else proof(size, tree_size)
    try:
        merkle.verify_consistency(size, tree_size, cosigned.checkpoint.root_hash, root, path)
    except ProtocolError as exc:
        raise QuorumError(
            f"the cosigned checkpoint (tree size {size}) is not part of the verified ledger: {exc}"
        ) from exc
    return cosigned


def remote_proof(client: LogClient) -> ConsistencyProof:
    """Consistency proofs from the read API (``/v1/proof/consistency``)."""

    def fetch(old: int, new: int) -> list[bytes]:
        answer = client.json(f"/v1/proof/consistency?old={old}&new={new}")
        try:
            if answer["old"] != old or answer["new"] != new:
                raise ValueError("the proof is for other sizes")
            return [bytes.fromhex(p) for p in answer["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise QuorumError(f"malformed consistency proof {old} -> {new}: {exc}") from exc

    return fetch


def describe(cosigned: Cosigned, witnesses: Sequence[CosignatureVerifier], quorum: int) -> str:
    """The OK line: which checkpoint, cosigned by whom."""
    names = ", ".join(sorted(cosigned.witnesses)) or "none"
    return (
        f"OK: checkpoint of tree size {cosigned.checkpoint.size} cosigned by "
        f"{len(cosigned.witnesses)} of {len(witnesses)} witness(es) ({names}), quorum {quorum}"
    )
