"""Ledger blueprint: checkpoints (plain and cosigned), blocks, their leaves, audit entries,
proofs."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, current_app, jsonify, request

from protocol.errors import ProtocolError

from .. import audit_log, cosignatures, proofs
from ..db import BlockEntry
from . import params
from .errors import ApiError, bad_request

log = logging.getLogger("aggregator.api")
ledger_api = Blueprint("ledger", __name__, url_prefix="/v1")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
T = TypeVar("T")
_AUDIT_ID = re.compile(r"[0-9a-f]{32}")


def _note(text: str) -> Response:
    return Response(text, mimetype="text/plain; charset=utf-8")


def _leaves() -> proofs.TreeCache:
    return current_app.extensions["safecode.leaves"]


def _proof(make: Callable[[], T]) -> T:
    """Run a proof function, turning its refusals into API errors."""
    try:
        return make()
    except proofs.ProofError as exc:
        raise ApiError(exc.status, exc.reason, str(exc)) from exc
    except proofs.StorageFault as exc:
        log.error("ledger storage fault: %s", exc)
        raise ApiError(500, "storage_fault", "the stored ledger is damaged") from exc


def _block_json(entry: BlockEntry) -> dict[str, object]:
    return {
        "height": entry.height,
        "tree_size": entry.tree_size,
        "root": bytes(entry.root).hex(),
        "block_hash": bytes(entry.block_hash).hex(),
        "header": base64.b64encode(bytes(entry.wire)).decode("ascii"),
        "checkpoint": entry.checkpoint,
    }


@ledger_api.get("/checkpoint")
def checkpoint() -> Response:
    """The latest signed checkpoint (C2SP signed note, text/plain)."""
    params.only_params()
    block = proofs.latest_block()
    if block is None:
        raise ApiError(404, "no_checkpoint", "no block has been sealed yet")
    return _note(block.checkpoint)


@ledger_api.get("/checkpoint/cosigned")
def cosigned() -> Response:
    """The largest checkpoint with at least ``min`` witness cosignatures (default 1)."""
    params.only_params("min")
    least = params.query_int("min", 1, low=1, high=100)
    assert least is not None
    note = cosignatures.cosigned_checkpoint(least)
    if note is None:
        raise ApiError(404, "no_cosigned_checkpoint", f"no checkpoint has {least} cosignature(s)")
    return _note(note)


@ledger_api.post("/checkpoint/cosignature")
def add_cosignature() -> Response:
    """A witness posts the checkpoint it cosigned, with its signature line (text/plain)."""
    params.only_params()
    data = request.get_data(cache=False)
    try:
        names = cosignatures.collect(data, current_app.extensions["safecode.witnesses"])
    except cosignatures.CosignatureRefused as exc:
        status = 403 if exc.reason == "unknown_witness" else 400
        if exc.reason in ("unknown_checkpoint", "stale"):
            status = 409
        raise ApiError(status, exc.reason, str(exc)) from exc
    return jsonify(accepted=names)


@ledger_api.get("/blocks")
def blocks() -> Response:
    """Blocks from height ``start`` (default 0), at most ``limit`` (default 100, max 1000)."""
    params.only_params("start", "limit")
    start = params.query_int("start", 0)
    limit = params.query_int("limit", DEFAULT_PAGE, low=1, high=MAX_PAGE)
    assert start is not None and limit is not None
    rows = list(
        BlockEntry.select()
        .where(BlockEntry.height >= start)
        .order_by(BlockEntry.height)
        .limit(limit + 1)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        blocks=[_block_json(r) for r in rows],
        next=rows[-1].height + 1 if more else None,
    )


@ledger_api.get("/blocks/<height>")
def block(height: str) -> Response:
    """One block: its signed header (base64 CBOR), hash, tree size, root and checkpoint."""
    params.only_params()
    number = params.decimal(height, "height")
    entry = BlockEntry.get_or_none(BlockEntry.height == number)
    if entry is None:
        raise ApiError(404, "unknown_block", f"no block {number}")
    return jsonify(_block_json(entry))


@ledger_api.get("/blocks/<height>/leaves")
def block_leaves(height: str) -> Response:
    """The hashes of the leaves a block added, in order (hex)."""
    params.only_params()
    number = params.decimal(height, "height")
    entry, leaves = _proof(lambda: proofs.block_leaves(_leaves(), number))
    return jsonify(
        height=entry.height,
        first_leaf=entry.tree_size - len(leaves),
        tree_size=entry.tree_size,
        leaves=[leaf.hex() for leaf in leaves],
    )


@ledger_api.get("/audit")
def audit_entries() -> Response:
    """Sealed audit entries from leaf index ``start`` (default 0), at most ``limit``.

    Each entry: its id, leaf index, block, the signed entry (base64 CBOR, to check
    against the ledger key) and its fields. ``next`` is the leaf index to ask from.
    """
    params.only_params("start", "limit")
    start = params.query_int("start", 0)
    limit = params.query_int("limit", DEFAULT_PAGE, low=1, high=MAX_PAGE)
    assert start is not None and limit is not None
    rows = audit_log.sealed(start, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        entries=[_audit_json(r) for r in rows],
        next=rows[-1].leaf_index + 1 if more else None,
    )


@ledger_api.get("/audit/<audit_id>")
def audit_entry(audit_id: str) -> Response:
    """One sealed audit entry by its id (32 lowercase hex digits)."""
    params.only_params()
    if not _AUDIT_ID.fullmatch(audit_id):
        bad_request("bad_audit_id", "an audit id is 32 lowercase hex digits")
    row = audit_log.by_audit_id(bytes.fromhex(audit_id))
    if row is None or row.leaf_index is None:
        raise ApiError(404, "unknown_audit_entry", "no sealed audit entry has this id")
    return jsonify(_audit_json(row))


def _audit_json(row: audit_log.AuditLogEntry) -> dict[str, object]:
    try:
        return audit_log.entry_json(row)
    except ProtocolError as exc:
        log.error("stored audit entry at leaf %s does not parse: %s", row.leaf_index, exc)
        raise ApiError(500, "storage_fault", "the stored ledger is damaged") from exc


@ledger_api.get("/proof/inclusion/<checkin>")
def inclusion(checkin: str) -> Response:
    """Inclusion proof of a check-in or audit entry (by id) against the checkpoint of
    ``tree_size`` (default latest)."""
    params.only_params("tree_size")
    checkin_id = params.checkin_id(checkin)
    size = params.query_int("tree_size", None, low=1)
    proof = _proof(lambda: proofs.inclusion(_leaves(), checkin_id, size))
    return jsonify(proof.to_json())


@ledger_api.get("/proof/consistency")
def consistency() -> Response:
    """RFC 9162 consistency proof from tree size ``old`` to ``new`` (default latest)."""
    params.only_params("old", "new")
    old = params.query_int("old", None, low=1)
    if old is None:
        bad_request("bad_old", "old is required")
    new = params.query_int("new", None, low=1)
    first, second, path = _proof(lambda: proofs.consistency(_leaves(), old, new))
    return jsonify(old=first, new=second, proof=[p.hex() for p in path])
