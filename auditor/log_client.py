"""An auditor's view of the aggregator over HTTP: fetch, then check everything locally.

Nothing the server says is trusted: block headers and checkpoints must carry the
ledger key's signatures, the blocks must link, and every root is recomputed from the
leaf hashes the server lists. (Over HTTP the leaves are hashes: the records they
commit to stay private, so ``ledger verify --db`` is the check that also recomputes
every leaf from its record.)

Audit entries are public (they name officials, never visitors): every entry the
server lists (``GET /v1/audit``) must carry the ledger key's signature (or a given
audit key's), and its leaf, rebuilt from the signed entry, must be the leaf hash at
the listed index of the listed block. What a leaf hash alone cannot say is its kind,
so a leaf the listing leaves out is not noticed here; ``ledger verify --db`` checks
every stored row.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import merkle
from protocol.audit_entry import AuditEntry, parse_audit_entry
from protocol.block import AUDIT_LEAF, audit_leaf_data, leaf_data
from protocol.chain import ChainError, ChainWalk
from protocol.checkpoint import Checkpoint, open_checkpoint
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier

MAX_RESPONSE = 8 << 20
PAGE = 100


class LogUnavailable(OSError):
    """The aggregator cannot be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuditError(Exception):
    """What the server returned does not verify; the message says where."""


class LogClient:
    """Plain HTTP(S) requests to the read API, with a timeout and a size limit."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not an http(s) URL: {base_url[:80]!r}")
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, data=data)
        if data is not None:
            request.add_header("Content-Type", "text/plain; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode("utf-8", "replace")
            with contextlib.suppress(json.JSONDecodeError, AttributeError):
                detail = str(json.loads(detail).get("message", detail))
            raise LogUnavailable(f"{path}: HTTP {exc.code}: {detail[:200]}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LogUnavailable(f"{path}: {getattr(exc, 'reason', exc)}") from exc
        if len(body) > MAX_RESPONSE:
            raise LogUnavailable(f"{path}: response larger than {MAX_RESPONSE} bytes")
        return body

    def text(self, path: str) -> str:
        try:
            return self._request(path).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LogUnavailable(f"{path}: response is not UTF-8") from exc

    def json(self, path: str) -> dict[str, Any]:
        try:
            value = json.loads(self._request(path))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LogUnavailable(f"{path}: response is not JSON") from exc
        if not isinstance(value, dict):
            raise LogUnavailable(f"{path}: response is not a JSON object")
        return value

    def post_text(self, path: str, text: str) -> dict[str, Any]:
        value = json.loads(self._request(path, text.encode("utf-8")))
        return value if isinstance(value, dict) else {}


def _hex(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str):
        raise AuditError(f"{what} is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise AuditError(f"{what} is not hex") from exc
    if len(raw) != size:
        raise AuditError(f"{what} is not {size} bytes")
    return raw


def _int(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise AuditError(f"{what} is not a non-negative integer")
    return value


@dataclass(frozen=True)
class RemoteSummary:
    """What a successful remote audit covered."""

    blocks: int
    tree_size: int
    root: bytes
    latest_checkpoint: Checkpoint | None
    #: Audit entries listed and checked; None if the server lists none (an older server).
    audit_entries: int | None = None


@dataclass(frozen=True)
class ListedAudit:
    """An audit entry as listed, its signature checked; the walk checks its leaf."""

    entry: AuditEntry
    leaf_index: int
    block: int


def fetch_audit_entries(
    client: LogClient, trusted: list[Ed25519PublicKey]
) -> dict[int, ListedAudit] | None:
    """Every listed audit entry by leaf index, each signed by one of ``trusted``.

    None when the server has no audit listing (HTTP 404 on ``/v1/audit``).
    """
    found: dict[int, ListedAudit] = {}
    start = 0
    while True:
        try:
            page = client.json(f"/v1/audit?start={start}&limit={PAGE}")
        except LogUnavailable as exc:
            if exc.status == 404 and start == 0:
                return None
            raise
        items = page.get("entries")
        if not isinstance(items, list):
            raise AuditError("audit entry list is malformed")
        for item in items:
            listed = _check_listed_audit(item, trusted)
            if listed.leaf_index < start or listed.leaf_index in found:
                raise AuditError(f"audit list is out of order at leaf {listed.leaf_index}")
            found[listed.leaf_index] = listed
            start = listed.leaf_index + 1
        following = page.get("next")
        if following is None:
            return found
        if following != start or not items:
            raise AuditError(f"audit list skips from {start} to {following!r}")


def _check_listed_audit(item: object, trusted: list[Ed25519PublicKey]) -> ListedAudit:
    if not isinstance(item, dict):
        raise AuditError("audit entry list is malformed")
    index = _int(item.get("leaf_index"), "audit entry leaf_index")
    where = f"audit entry at leaf {index}"
    try:
        wire = base64.b64decode(str(item.get("entry")), validate=True)
        entry = parse_audit_entry(wire)
        entry.verify(trusted)
    except (binascii.Error, ValueError) as exc:  # ProtocolError is a ValueError
        raise AuditError(f"{where} does not verify: {exc}") from exc
    if any(item.get(name) != value for name, value in entry.listed().items()):
        raise AuditError(f"{where}: listed fields differ from the signed entry")
    return ListedAudit(entry, index, _int(item.get("block"), f"{where} block"))


def verify_remote_ledger(
    client: LogClient,
    verifier: NoteVerifier,
    *,
    progress: Callable[[int], None] | None = None,
    audit_keys: list[Ed25519PublicKey] | None = None,
) -> RemoteSummary:
    """Fetch every block and its leaf hashes; re-check signatures, links, roots, checkpoints.

    Also every listed audit entry: signed by the ledger key (or one of ``audit_keys``)
    and, rebuilt into its leaf, found at its listed index in its listed block.
    """
    audits = fetch_audit_entries(client, [verifier.public_key, *(audit_keys or [])])
    walk = ChainWalk(verifier)
    while True:
        page = client.json(f"/v1/blocks?start={walk.height}&limit={PAGE}")
        items = page.get("blocks")
        if not isinstance(items, list):
            raise AuditError("block list is malformed")
        for item in items:
            if not isinstance(item, dict):
                raise AuditError("block list is malformed")
            _check_block(client, item, walk, audits or {})
            if progress:
                progress(walk.height)
        following = page.get("next")
        if following is None:
            break
        if following != walk.height:
            raise AuditError(f"block list skips from {walk.height} to {following!r}")
    latest = _latest_checkpoint(client, walk) if walk.height else None
    beyond = [index for index in (audits or {}) if index >= walk.tree.size]
    if beyond:
        raise AuditError(f"audit entry listed at leaf {min(beyond)}, beyond the tree")
    count = None if audits is None else len(audits)
    return RemoteSummary(walk.height, walk.tree.size, walk.tree.root(), latest, count)


def _latest_checkpoint(client: LogClient, walk: ChainWalk) -> Checkpoint:
    """The server's latest checkpoint: signed, and not behind the blocks just walked."""
    try:
        latest = open_checkpoint(client.text("/v1/checkpoint"), walk.verifier, walk.verifier.name)
    except ProtocolError as exc:
        raise AuditError(f"latest checkpoint does not verify: {exc}") from exc
    if latest.size < walk.tree.size:
        raise AuditError(f"latest checkpoint ({latest.size}) is older than the blocks")
    if latest.size == walk.tree.size and latest.root_hash != walk.tree.root():
        raise AuditError("latest checkpoint disagrees with the last block")
    return latest


def _check_block(
    client: LogClient, item: dict[str, Any], walk: ChainWalk, audits: dict[int, ListedAudit]
) -> None:
    """Check one listed block (the chain walk plus the columns the server lists)."""
    where = f"block {walk.height}"
    try:
        wire = base64.b64decode(str(item.get("header")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuditError(f"{where}: header does not verify: {exc}") from exc
    try:
        header = walk.open_block(wire, item.get("height"))
        leaves = client.json(f"/v1/blocks/{header.height}/leaves").get("leaves")
        if not isinstance(leaves, list) or len(leaves) != header.leaf_count:
            raise AuditError(f"{where}: the server lists the wrong number of leaves")
        for i, leaf in enumerate(leaves):
            index = header.first_leaf + i
            value = _hex(leaf, 32, f"{where} leaf {index}")
            listed = audits.get(index)
            if listed is not None and (
                listed.entry.leaf_hash != value or listed.block != header.height
            ):
                raise AuditError(f"{where}: leaf {index} is not the audit entry listed there")
            walk.tree.append(value)
        walk.close_block(header, str(item.get("checkpoint")))
    except ChainError as exc:
        raise AuditError(str(exc)) from exc
    if (
        item.get("tree_size") != header.tree_size
        or item.get("root") != header.root.hex()
        or item.get("block_hash") != header.block_hash.hex()
    ):
        raise AuditError(f"{where}: listed size, root or hash differs from the signed header")


@dataclass(frozen=True)
class CheckedInclusion:
    """An inclusion proof that verified against a signed checkpoint."""

    checkin_id: bytes
    leaf_index: int
    tree_size: int
    root: bytes
    proof: list[bytes]
    bound_to_id: bool


def check_inclusion(
    checkin_id: bytes, answer: dict[str, Any], verifier: NoteVerifier
) -> CheckedInclusion:
    """Verify a proof answer (the API's JSON) for ``checkin_id``; raise AuditError."""
    try:
        checkpoint = open_checkpoint(str(answer.get("checkpoint")), verifier, verifier.name)
    except ProtocolError as exc:
        raise AuditError(f"checkpoint does not verify: {exc}") from exc
    index = _int(answer.get("leaf_index"), "leaf_index")
    size = _int(answer.get("tree_size"), "tree_size")
    leaf = _hex(answer.get("leaf_hash"), 32, "leaf_hash")
    path = answer.get("proof")
    if not isinstance(path, list):
        raise AuditError("proof is not a list")
    proof = [_hex(p, 32, f"proof[{i}]") for i, p in enumerate(path)]
    if checkpoint.size != size:
        raise AuditError(f"proof is for tree size {size}, the checkpoint for {checkpoint.size}")
    commit = answer.get("commit")
    bound = False
    if commit is not None:
        raw_commit = _hex(commit, 32, "commit")
        if answer.get("kind") == AUDIT_LEAF:
            expected = merkle.leaf_hash(audit_leaf_data(checkin_id, raw_commit))
            what = "audit entry"
        else:
            expected = merkle.leaf_hash(leaf_data(checkin_id, raw_commit))
            what = "check-in"
        if expected != leaf:
            raise AuditError(f"the leaf does not name this {what} id")
        bound = True
    try:
        merkle.verify_inclusion(leaf, index, size, proof, checkpoint.root_hash)
    except ProtocolError as exc:
        raise AuditError(str(exc)) from exc
    return CheckedInclusion(checkin_id, index, size, checkpoint.root_hash, proof, bound)
