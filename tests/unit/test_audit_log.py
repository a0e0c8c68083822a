"""Audit entries appended, signed and sealed by the sequencer, verified with the ledger.

Covers aggregator/audit_log.py, its place in aggregator/sequencer.py, aggregator/audit.py,
aggregator/tiles.py (leaves of two tables), aggregator/proofs.py and retention.
"""

from __future__ import annotations

import peewee
import pytest

from aggregator import audit_log
from aggregator.audit import LedgerError, verify_ledger
from aggregator.audit_log import AuditLogEntry, append_audit
from aggregator.db import BlockEntry, CheckinEntry, database_proxy
from aggregator.proofs import TreeCache, inclusion
from aggregator.retention import destroy_expired_keys
from aggregator.sequencer import seal_once
from auditor.log_client import check_inclusion
from protocol import merkle
from protocol.audit_entry import parse_audit_entry, parse_draft, sign_audit_entry
from protocol.block import parse_block
from protocol.encoding import encode
from protocol.errors import MalformedError
from protocol.merkle import verify_inclusion
from protocol.note import NoteVerifier
from tests.unit.ledger_site import LEDGER, ORIGIN, LedgerSite, sequencer
from tests.unit.wire_checks import seeded

DAY0 = 20_412
T0 = DAY0 * 86_400 + 3_600
CASE = bytes(range(16))


def audit(action: str = "case-opened", **overrides: object) -> bytes:
    fields: dict = {
        "action": action,
        "actor": "kim.official",
        "role": "health-official",
        "case": CASE,
        "reason": "confirmed case 7, Jeju",
        "counts": {"visits": 3},
        "now": lambda: T0 + 10,
    }
    fields.update(overrides)
    return append_audit(**fields)  # type: ignore[arg-type]


@pytest.fixture
def site(db: peewee.Database) -> LedgerSite:
    return LedgerSite("audit-log")


def build(site: LedgerSite) -> list[bytes]:
    """Block 0: two check-ins; block 1: one audit entry, then one check-in; block 2: two
    audit entries only. Returns the audit ids in order."""
    site.scan(T0)
    site.scan(T0 + 1)
    assert sequencer(now=T0 + 2).seal() is not None
    ids = [audit()]
    site.scan(T0 + 3)
    block = sequencer(now=T0 + 4).seal()
    assert block is not None and block.audit_count == 1 and block.leaf_count == 2
    assert block.receipts  # the check-in still gets its receipt
    ids += [audit("exposure-list", counts={"visits": 20}), audit("export")]
    block = sequencer(now=T0 + 5).seal()
    assert block is not None and (block.audit_count, block.leaf_count) == (2, 2)
    assert block.receipts == {}
    return ids


def row(audit_id: bytes) -> AuditLogEntry:
    return AuditLogEntry.get(AuditLogEntry.audit_id == audit_id)


def test_entries_are_sealed_in_order_and_the_ledger_verifies(site: LedgerSite) -> None:
    ids = build(site)
    summary = verify_ledger(LEDGER.public_key(), ORIGIN)
    assert (summary.blocks, summary.tree_size, summary.audit_entries) == (3, 6, 3)
    rows = [row(i) for i in ids]
    assert [(r.leaf_index, r.block_height) for r in rows] == [(2, 1), (4, 2), (5, 2)]
    # Within block 1 the audit entry comes first, then the check-in.
    assert CheckinEntry.get(CheckinEntry.leaf_index == 3).block_height == 1
    for r in rows:
        entry = parse_audit_entry(bytes(r.wire))
        entry.verify(LEDGER.public_key())
        assert entry.audit_id == bytes(r.audit_id) and entry.at_ms == (T0 + 10) * 1000
        assert entry.leaf_hash == bytes(r.leaf_hash)
    assert [bytes(r.audit_id) for r in audit_log.for_case(CASE)] == ids
    assert audit_log.for_case(bytes(16)) == []
    # The leaf reader merges both tables: proofs rebuild every signed root.
    cache = TreeCache()
    for block in BlockEntry.select():
        assert cache.root(block.tree_size) == bytes(block.root)


def test_inclusion_proof_of_an_audit_leaf(site: LedgerSite) -> None:
    ids = build(site)
    proof = inclusion(TreeCache(), ids[0], None)
    assert proof.kind == "audit" and proof.leaf_index == 2 and proof.tree_size == 6
    verify_inclusion(proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.proof, proof.root)
    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checked = check_inclusion(ids[0], proof.to_json(), verifier)
    assert checked.bound_to_id and checked.leaf_index == 2
    # The same answer does not pass for another id, nor as a check-in leaf.
    with pytest.raises(Exception, match="does not name"):
        check_inclusion(ids[1], proof.to_json(), verifier)
    with pytest.raises(Exception, match="does not name"):
        check_inclusion(ids[0], {**proof.to_json(), "kind": "checkin"}, verifier)


def test_a_waiting_entry_makes_a_block_due_at_once(site: LedgerSite) -> None:
    seq = sequencer(now=T0)
    assert not seq.due(3600)
    audit()
    assert seq.due(3600)  # no check-in waits, the oldest wait is far below the age
    sealed = []
    assert seal_once(seq, sealed.append, max_age_s=3600) == 1
    assert sealed[0].audit_count == 1 and not seq.due(3600)
    assert seq.counts["audit_sealed"] == 1 and seq.counts["sealed"] == 0


def test_append_is_committed_before_it_returns(site: LedgerSite, db_url: str) -> None:
    """Another connection (the sequencer's process) sees the row as soon as the call returns."""
    from aggregator.db import connect_database

    audit_id = audit()
    other = connect_database(db_url, create=False)
    try:
        with database_proxy.bound_to(other):
            assert audit_log.by_audit_id(audit_id) is not None
            assert audit_log.waiting()
    finally:
        other.close()


def test_refused_fields_write_nothing_and_are_counted(site: LedgerSite) -> None:
    before = audit_log.COUNTS["refused:MalformedError"]
    with pytest.raises(MalformedError):
        audit(reason="=HYPERLINK(\u202e)")
    with pytest.raises(MalformedError):
        audit(action="peeked")
    with pytest.raises(MalformedError):
        audit(case=b"short")
    assert AuditLogEntry.select().count() == 0
    assert audit_log.COUNTS["refused:MalformedError"] == before + 3


def test_reason_is_normalised_and_transactions_are_refused(
    site: LedgerSite, db: peewee.Database
) -> None:
    audit_id = audit(reason="  e\u0301pide\u0301miologie  ")  # NFD, as some keyboards type
    assert parse_draft(bytes(row(audit_id).draft))["reason"] == "\u00e9pid\u00e9miologie"
    with db.atomic(), pytest.raises(RuntimeError, match="outside any database transaction"):
        audit()
    assert AuditLogEntry.select().count() == 1


def test_a_damaged_draft_stops_sealing_and_is_counted(site: LedgerSite) -> None:
    audit_id = audit()
    site.scan(T0 + 1)
    AuditLogEntry.update(draft=b"\xa0").where(AuditLogEntry.audit_id == audit_id).execute()
    seq = sequencer(now=T0 + 2)
    assert seal_once(seq, lambda block: None, max_age_s=0) == -1
    assert seq.counts["error:audit"] == 1
    assert BlockEntry.select().count() == 0  # nothing sealed, nothing dropped
    assert CheckinEntry.get().leaf_index is None


def _tamper(audit_id: bytes, **fields: object) -> None:
    assert AuditLogEntry.update(**fields).where(AuditLogEntry.audit_id == audit_id).execute() == 1


def _resigned(audit_id: bytes, key: object, **changes: object) -> tuple[bytes, bytes]:
    """The entry with ``changes``, signed by ``key``: (draft, wire)."""
    fields = parse_audit_entry(bytes(row(audit_id).wire)).fields()
    fields.update(changes)
    return encode(fields), sign_audit_entry(key, fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("reason_in_wire", "does not verify"),
        ("reason_everywhere_other_key", "does not verify"),
        ("reason_resigned", "does not match its leaf"),
        ("draft_only", "differs from the signed one"),
        ("action_column", "differs from the signed one"),
        ("case_column", "differs from the signed one"),
        ("leaf_hash", "does not match its leaf"),
        ("leaf_index", "missing"),
        ("deleted", "missing"),
        ("wire_missing", "missing"),
    ],
)
def test_a_tampered_entry_fails_verification(site: LedgerSite, change: str, message: str) -> None:
    ids = build(site)
    target = ids[1]
    verify_ledger(LEDGER.public_key(), ORIGIN)
    stored = row(target)
    if change == "reason_in_wire":
        wire = bytes(stored.wire).replace(b"confirmed case 7", b"confirmed case 8")
        _tamper(target, wire=wire)
    elif change == "reason_everywhere_other_key":
        draft, wire = _resigned(target, seeded("not-the-ledger"), reason="routine check")
        _tamper(target, draft=draft, wire=wire)
    elif change == "reason_resigned":
        # Even with the ledger key, a changed entry is not the leaf that was sealed.
        draft, wire = _resigned(target, LEDGER, reason="routine check")
        _tamper(target, draft=draft, wire=wire)
    elif change == "draft_only":
        draft, _ = _resigned(target, LEDGER, counts={"visits": 2})
        _tamper(target, draft=draft)
    elif change == "action_column":
        _tamper(target, action="notice")
    elif change == "case_column":
        _tamper(target, case_id=bytes(16))
    elif change == "leaf_hash":
        _tamper(target, leaf_hash=bytes(32))
    elif change == "leaf_index":
        _tamper(target, leaf_index=99)
    elif change == "deleted":
        AuditLogEntry.delete().where(AuditLogEntry.audit_id == target).execute()
    elif change == "wire_missing":
        _tamper(target, wire=None)
    with pytest.raises(LedgerError, match=message):
        verify_ledger(LEDGER.public_key(), ORIGIN)


def test_an_audit_key_may_sign_entries(site: LedgerSite) -> None:
    ids = build(site)
    audit_key = seeded("an-audit-key")
    stored = row(ids[0])
    draft, wire = _resigned(ids[0], audit_key)
    leaf = parse_audit_entry(wire).leaf_hash
    assert leaf != bytes(stored.leaf_hash)  # a re-signed entry is another leaf: refused
    _tamper(ids[0], draft=draft, wire=wire)
    with pytest.raises(LedgerError, match="does not verify"):
        verify_ledger(LEDGER.public_key(), ORIGIN)
    with pytest.raises(LedgerError, match="does not match its leaf"):
        verify_ledger(LEDGER.public_key(), ORIGIN, audit_keys=[audit_key.public_key()])


def test_retention_keeps_audit_entries(site: LedgerSite, test_vault: object) -> None:
    """Entries hold no visitor identity: destroying day keys and forgetting visits
    leaves every audit entry whole, and the ledger still verifies."""
    ids = build(site)
    before = {bytes(r.audit_id): r.__data__.copy() for r in AuditLogEntry.select()}
    report = destroy_expired_keys(T0 + 60 * 86_400, retention_days=28)
    assert report.days == (DAY0,) and report.visits_forgotten == 3
    after = {bytes(r.audit_id): r.__data__ for r in AuditLogEntry.select()}
    assert after == before and set(after) == set(ids)
    summary = verify_ledger(LEDGER.public_key(), ORIGIN)
    assert summary.audit_entries == 3
    proof = inclusion(TreeCache(), ids[2], None)
    verify_inclusion(proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.proof, proof.root)


def test_block_headers_count_audit_leaves(site: LedgerSite) -> None:
    build(site)
    headers = [parse_block(bytes(b.wire)) for b in BlockEntry.select().order_by(BlockEntry.height)]
    assert [(h.first_leaf, h.leaf_count) for h in headers] == [(0, 2), (2, 2), (4, 2)]
    leaves = merkle.MerkleAccumulator()
    for index in range(6):
        found = CheckinEntry.get_or_none(CheckinEntry.leaf_index == index) or AuditLogEntry.get(
            AuditLogEntry.leaf_index == index
        )
        leaves.append(bytes(found.leaf_hash))
    assert leaves.root() == headers[-1].root
