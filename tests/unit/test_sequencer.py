"""Sequencer: seal verified check-ins into signed, hash-chained blocks with receipts."""

from __future__ import annotations

import hashlib

import peewee
import pytest

from aggregator.db import BlockEntry, CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.sequencer import SealedBlock, Sequencer
from protocol import keys, merkle, topics
from protocol.block import GENESIS_PREV, parse_block
from protocol.checkin import ClockState, sign_checkin
from protocol.checkpoint import open_checkpoint
from protocol.encoding import decode
from protocol.errors import SignatureError
from protocol.note import NoteVerifier
from protocol.receipt import MAX_ENTRIES, ReceiptEntry, parse_receipt
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("sequencer-issuer")
LEDGER = seeded("sequencer-ledger")
OTHER_LEDGER = seeded("sequencer-other-ledger")
DEVICES = {"kiosk-a": seeded("sequencer-device-a"), "kiosk-b": seeded("sequencer-device-b")}
ORIGIN = "ledger.example/safecode"
NOW = 1_764_000_000
SEALED_AT = NOW + 2


class Site:
    """Two enrolled kiosks and an ingestor; ``scan`` stores one check-in."""

    def __init__(self) -> None:
        for kiosk, device in DEVICES.items():
            enrol_kiosk(kiosk, f"venue-{kiosk[-1]}", keys.public_bytes(device))
        self.ingestor = Ingestor([ISSUER.public_key()], now=lambda: NOW)
        self.seq = dict.fromkeys(DEVICES, 0)
        self.made = 0

    def scan(self, kiosk: str) -> CheckinEntry:
        self.seq[kiosk] += 1
        self.made += 1
        wire = sign_checkin(
            DEVICES[kiosk],
            checkin_id=hashlib.sha256(b"seq-test-%d" % self.made).digest()[:16],
            kiosk_id=kiosk,
            venue_id=f"venue-{kiosk[-1]}",
            seq=self.seq[kiosk],
            door="entrance",
            scanned_ms=NOW * 1000,
            clock=ClockState(True, bytes(16), self.made),
            presentation=enrol_visitor(ISSUER, NOW - 3600).show(NOW).to_bytes(),
        )
        outcome = self.ingestor.handle(topics.topic(kiosk, topics.CHECKIN), wire)
        assert outcome.result is Result.STORED, outcome.reason
        assert outcome.entry is not None
        return outcome.entry

    def scan_many(self, kiosks: str) -> list[CheckinEntry]:
        """One check-in per letter: "abba" scans at kiosk-a, kiosk-b, kiosk-b, kiosk-a."""
        return [self.scan(f"kiosk-{letter}") for letter in kiosks]


@pytest.fixture
def site(db: peewee.Database) -> Site:
    return Site()


def sequencer(batch_size: int = 1000) -> Sequencer:
    return Sequencer(LEDGER, ORIGIN, batch_size=batch_size, now=lambda: SEALED_AT)


def stored() -> list[CheckinEntry]:
    return list(CheckinEntry.select().order_by(CheckinEntry.id))


def all_leaf_hashes() -> list[bytes]:
    rows = CheckinEntry.select().where(CheckinEntry.leaf_index.is_null(False))
    return [bytes(r.leaf_hash) for r in rows.order_by(CheckinEntry.leaf_index)]


def check_receipts(block: SealedBlock) -> None:
    """Every receipt verifies and names exactly its kiosk's check-ins in this block."""
    in_block = CheckinEntry.select().where(CheckinEntry.block_height == block.height)
    expected: dict[str, list[ReceiptEntry]] = {}
    for row in in_block.order_by(CheckinEntry.leaf_index):
        expected.setdefault(row.kiosk_id, []).append(
            ReceiptEntry(bytes(row.checkin_id), row.seq, row.leaf_index)
        )
    assert set(block.receipts) == set(expected)
    for kiosk, wire in block.receipts.items():
        receipt = parse_receipt(wire)
        receipt.verify(LEDGER.public_key())
        with pytest.raises(SignatureError):
            receipt.verify(OTHER_LEDGER.public_key())
        assert receipt.kiosk_id == kiosk
        assert list(receipt.entries) == expected[kiosk]
        assert receipt.block == block.height
        assert receipt.tree_size == block.tree_size
        assert receipt.root == block.root
        assert receipt.issued_ms == SEALED_AT * 1000


# --- one block ----------------------------------------------------------------------------


def test_nothing_waiting_seals_nothing(db: peewee.Database) -> None:
    seq = sequencer()
    assert seq.pending() == 0
    assert seq.seal() is None
    assert BlockEntry.select().count() == 0


def test_first_block_seals_everything_in_arrival_order(site: Site) -> None:
    entries = site.scan_many("abbab")
    seq = sequencer()
    assert seq.pending() == 5
    block = seq.seal()
    assert block is not None
    assert (block.height, block.tree_size, block.leaf_count) == (0, 5, 5)
    assert seq.pending() == 0
    rows = stored()
    assert [r.id for r in rows] == [e.id for e in entries]
    assert [r.leaf_index for r in rows] == [0, 1, 2, 3, 4]
    assert [r.block_height for r in rows] == [0] * 5
    assert [r.kiosk_id for r in rows] == ["kiosk-a", "kiosk-b", "kiosk-b", "kiosk-a", "kiosk-b"]
    assert block.root == merkle.root([bytes(r.leaf_hash) for r in rows])
    check_receipts(block)
    a = parse_receipt(block.receipts["kiosk-a"])
    assert [(e.seq, e.leaf_index) for e in a.entries] == [(1, 0), (2, 3)]
    b = parse_receipt(block.receipts["kiosk-b"])
    assert [(e.seq, e.leaf_index) for e in b.entries] == [(1, 1), (2, 2), (3, 4)]


def test_first_block_header_and_checkpoint(site: Site) -> None:
    site.scan_many("aba")
    block = sequencer().seal()
    assert block is not None
    stored_block = BlockEntry.get_by_id(0)
    header = parse_block(bytes(stored_block.wire))
    header.verify(LEDGER.public_key())
    with pytest.raises(SignatureError):
        header.verify(OTHER_LEDGER.public_key())
    assert header.origin == ORIGIN
    assert header.height == 0
    assert header.prev == GENESIS_PREV == bytes(32)
    assert (header.first_leaf, header.leaf_count, header.tree_size) == (0, 3, 3)
    assert header.root == block.root
    assert header.sealed_ms == SEALED_AT * 1000
    assert bytes(stored_block.block_hash) == hashlib.sha256(bytes(stored_block.wire)).digest()
    assert bytes(stored_block.block_hash) == header.block_hash
    assert stored_block.tree_size == 3
    assert bytes(stored_block.root) == block.root
    assert stored_block.sealed_ms == SEALED_AT * 1000
    assert stored_block.checkpoint == block.checkpoint

    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checkpoint = open_checkpoint(block.checkpoint.encode(), verifier, ORIGIN)
    assert checkpoint.size == header.tree_size == 3
    assert checkpoint.root_hash == header.root
    assert checkpoint.origin == ORIGIN


def test_stored_peaks_match_the_tree(site: Site) -> None:
    site.scan_many("ababab")  # 6 leaves: peaks for 4 and 2
    sequencer().seal()
    leaves = all_leaf_hashes()
    peaks = decode(bytes(BlockEntry.get_by_id(0).peaks), max_size=4096, what="peaks")
    assert peaks == [merkle.root(leaves[:4]), merkle.root(leaves[4:])]


def test_block_of_one_kiosk_has_one_receipt(site: Site) -> None:
    site.scan_many("bb")
    block = sequencer().seal()
    assert block is not None
    assert list(block.receipts) == ["kiosk-b"]
    check_receipts(block)


# --- batching and chaining ----------------------------------------------------------------


def test_batch_size_limits_a_block(site: Site) -> None:
    site.scan_many("ababa")
    seq = sequencer(batch_size=2)
    first = seq.seal()
    assert first is not None
    assert (first.height, first.leaf_count, first.tree_size) == (0, 2, 2)
    assert seq.pending() == 3
    assert [r.leaf_index for r in stored()] == [0, 1, None, None, None]


def test_second_block_links_to_the_first_and_continues_the_tree(site: Site) -> None:
    site.scan_many("abab")
    seq = sequencer(batch_size=3)
    first = seq.seal()
    site.scan_many("bb")
    second = seq.seal()
    assert first is not None and second is not None
    assert (second.height, second.leaf_count, second.tree_size) == (1, 3, 6)
    h0 = parse_block(bytes(BlockEntry.get_by_id(0).wire))
    h1 = parse_block(bytes(BlockEntry.get_by_id(1).wire))
    h1.verify(LEDGER.public_key())
    assert h1.prev == h0.block_hash
    assert h1.first_leaf == h0.tree_size == 3
    assert (h1.leaf_count, h1.tree_size) == (3, 6)
    assert [r.leaf_index for r in stored()] == [0, 1, 2, 3, 4, 5]
    assert [r.block_height for r in stored()] == [0, 0, 0, 1, 1, 1]
    assert second.root == h1.root == merkle.root(all_leaf_hashes())
    assert first.root == merkle.root(all_leaf_hashes()[:3])
    check_receipts(first)
    check_receipts(second)
    b = parse_receipt(second.receipts["kiosk-b"])
    assert [(e.seq, e.leaf_index) for e in b.entries] == [(2, 3), (3, 4), (4, 5)]
    assert seq.seal() is None


def test_restarted_sequencer_continues_from_stored_peaks(site: Site) -> None:
    site.scan_many("aba")  # 3 leaves: two peaks
    assert sequencer().seal() is not None
    site.scan_many("babb")
    restarted = sequencer()
    block = restarted.seal()
    assert block is not None
    assert (block.height, block.leaf_count, block.tree_size) == (1, 4, 7)
    leaves = all_leaf_hashes()
    assert len(leaves) == 7
    assert block.root == merkle.root(leaves)
    h0 = parse_block(bytes(BlockEntry.get_by_id(0).wire))
    h1 = parse_block(bytes(BlockEntry.get_by_id(1).wire))
    assert h1.prev == h0.block_hash
    assert h1.first_leaf == 3
    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checkpoint = open_checkpoint(block.checkpoint, verifier, ORIGIN)
    assert (checkpoint.size, checkpoint.root_hash) == (7, merkle.root(leaves))
    check_receipts(block)


def test_many_blocks_of_one_leaf(site: Site) -> None:
    seq = sequencer(batch_size=1)
    roots = []
    for letter in "abaabbba":
        site.scan(f"kiosk-{letter}")
        block = seq.seal()
        assert block is not None
        roots.append(block.root)
    leaves = all_leaf_hashes()
    assert roots == [merkle.root(leaves[: n + 1]) for n in range(8)]
    assert BlockEntry.select().count() == 8


# --- receipts again and inclusion ---------------------------------------------------------


def test_receipt_again_for_a_sealed_checkin(site: Site) -> None:
    site.scan_many("ab")
    seq = sequencer()
    seq.seal()
    site.scan_many("a")
    seq.seal()
    row = CheckinEntry.get(CheckinEntry.leaf_index == 1)
    wire = sequencer().receipt_again(row)
    assert wire is not None
    receipt = parse_receipt(wire)
    receipt.verify(LEDGER.public_key())
    assert receipt.kiosk_id == "kiosk-b"
    assert receipt.entries == (ReceiptEntry(bytes(row.checkin_id), 1, 1),)
    block0 = BlockEntry.get_by_id(0)
    assert (receipt.block, receipt.tree_size, receipt.root) == (0, 2, bytes(block0.root))


def test_receipt_again_for_an_unsealed_checkin_is_none(site: Site) -> None:
    entry = site.scan("kiosk-a")
    assert sequencer().receipt_again(entry) is None
    assert sequencer().receipt_again(CheckinEntry.get_by_id(entry.id)) is None


def test_every_sealed_checkin_has_an_inclusion_proof_to_the_latest_root(site: Site) -> None:
    seq = sequencer(batch_size=4)
    site.scan_many("abbabaabbab")
    while seq.seal() is not None:
        pass
    latest = BlockEntry.select().order_by(BlockEntry.height.desc()).first()
    assert latest.height == 2 and latest.tree_size == 11
    leaves = all_leaf_hashes()
    assert merkle.root(leaves) == bytes(latest.root)
    for row in stored():
        proof = merkle.inclusion_proof(leaves, row.leaf_index)
        merkle.verify_inclusion(
            bytes(row.leaf_hash), row.leaf_index, latest.tree_size, proof, bytes(latest.root)
        )
    with pytest.raises(merkle.InclusionProofError):
        merkle.verify_inclusion(
            leaves[0], 1, latest.tree_size, merkle.inclusion_proof(leaves, 0), bytes(latest.root)
        )


def test_receipts_always_parse_whatever_the_batch_size(db: peewee.Database) -> None:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICES["kiosk-a"]))
    count = MAX_ENTRIES + 1
    rows = [
        {
            "checkin_id": n.to_bytes(16, "big"),
            "kiosk": "kiosk-a",
            "seq": n + 1,
            "presentation_hash": hashlib.sha256(b"p%d" % n).digest(),
            "commit": hashlib.sha256(b"w%d" % n).digest(),
            "day": 0,
            "sealed": b"",
            "leaf_hash": hashlib.sha256(b"l%d" % n).digest(),
            "scanned_ms": NOW * 1000,
            "received_ms": NOW * 1000,
        }
        for n in range(count)
    ]
    with db.atomic():
        for batch in peewee.chunked(rows, 500):
            CheckinEntry.insert_many(batch).execute()
    try:
        seq = sequencer(batch_size=count)
    except ValueError:
        return  # refusing such a batch size up front is a fix too
    block = seq.seal()
    assert block is not None
    for wire in block.receipts.values():
        parse_receipt(wire).verify(LEDGER.public_key())


# --- refusals and batch-size bounds -------------------------------------------------------


def _record(kiosk: str = "kiosk-b", seq: int = 17):
    from protocol.checkin import parse_checkin

    wire = sign_checkin(
        DEVICES[kiosk],
        checkin_id=hashlib.sha256(b"refused-record").digest()[:16],
        kiosk_id=kiosk,
        venue_id=f"venue-{kiosk[-1]}",
        seq=seq,
        door="exit",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, bytes(16), 5),
        presentation=enrol_visitor(ISSUER, NOW - 3600).show(NOW).to_bytes(),
    )
    return parse_checkin(wire)


@pytest.mark.parametrize("reason", ["replayed", "venue_mismatch", "expired", "bad_signature"])
def test_refusal_for_names_the_record_and_the_reason(reason: str) -> None:
    from protocol.receipt import Refusal, RefusalEntry, parse_answer, parse_refusal

    record = _record()
    wire = sequencer().refusal_for(record, reason)
    refusal = parse_refusal(wire)
    refusal.verify(LEDGER.public_key())
    with pytest.raises(SignatureError):
        refusal.verify(OTHER_LEDGER.public_key())
    assert refusal.kiosk_id == "kiosk-b"
    assert refusal.entries == (RefusalEntry(record.checkin_id, 17, reason),)
    assert refusal.issued_ms == SEALED_AT * 1000
    answer = parse_answer(wire)
    assert isinstance(answer, Refusal) and answer == refusal


def test_refusal_for_needs_no_database_and_keeps_large_sequence_numbers() -> None:
    from protocol.checkin import SEQ_MAX
    from protocol.receipt import parse_refusal

    record = _record(kiosk="kiosk-a", seq=SEQ_MAX)  # the largest a kiosk may send
    refusal = parse_refusal(sequencer().refusal_for(record, "replayed"))
    assert refusal.kiosk_id == "kiosk-a"
    assert refusal.entries[0].seq == SEQ_MAX


def test_refusal_for_refuses_a_reason_a_kiosk_would_refuse() -> None:
    from protocol.errors import MalformedError

    with pytest.raises(MalformedError):
        sequencer().refusal_for(_record(), "Not A Reason")


@pytest.mark.parametrize("batch_size", [0, -1, MAX_ENTRIES + 1, 10**9])
def test_batch_size_outside_the_receipt_limit_is_refused(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Sequencer(LEDGER, ORIGIN, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, MAX_ENTRIES])
def test_batch_size_at_the_bounds_is_accepted(batch_size: int) -> None:
    assert Sequencer(LEDGER, ORIGIN, batch_size=batch_size).batch_size == batch_size
