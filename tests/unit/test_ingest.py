"""Ingest: verify one check-in message and store it, or refuse it with a counted reason."""

from __future__ import annotations

import hashlib

import peewee
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aggregator.db import CheckinEntry, KioskEntry
from aggregator.ingest import Ingestor, Outcome, Result
from aggregator.registry import enrol_kiosk, retire_kiosk
from protocol import keys, topics
from protocol.block import leaf_data
from protocol.checkin import MAX_BYTES, ClockState, parse_checkin, sign_checkin
from protocol.errors import MalformedError
from protocol.merkle import leaf_hash
from protocol.presentation import Presentation
from protocol.signed import seal
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("ingest-issuer")
STRANGE_ISSUER = seeded("ingest-strange-issuer")
DEVICE_A = seeded("ingest-device-a")
DEVICE_B = seeded("ingest-device-b")
ROGUE_DEVICE = seeded("ingest-rogue-device")
NOW = 1_764_000_000
SCANNED_MS = NOW * 1000 + 250
CLOCK = ClockState(synced=True, boot_id=bytes(range(16)), monotonic_ms=42_000)
TOPIC_A = topics.topic("kiosk-a", topics.CHECKIN)
TOPIC_B = topics.topic("kiosk-b", topics.CHECKIN)

_counter = iter(range(1, 1_000_000))


def presentation(*, issuer: Ed25519PrivateKey = ISSUER, shown: float = NOW) -> bytes:
    """A new visitor (enrolled a day before NOW) showing a code at ``shown``."""
    return enrol_visitor(issuer, NOW - 86_400).show(shown).to_bytes()


def checkin(
    *,
    device: Ed25519PrivateKey = DEVICE_A,
    kiosk: str = "kiosk-a",
    venue: str = "venue-a",
    seq: int = 1,
    scanned_ms: int = SCANNED_MS,
    pres: bytes | None = None,
    checkin_id: bytes | None = None,
) -> bytes:
    """A check-in record signed by ``device``; a fresh visitor code unless ``pres`` is given."""
    if checkin_id is None:
        checkin_id = hashlib.sha256(b"checkin-%d" % next(_counter)).digest()[:16]
    return sign_checkin(
        device,
        checkin_id=checkin_id,
        kiosk_id=kiosk,
        venue_id=venue,
        seq=seq,
        door="entrance",
        scanned_ms=scanned_ms,
        clock=CLOCK,
        presentation=presentation(shown=scanned_ms // 1000) if pres is None else pres,
    )


@pytest.fixture
def kiosks(db: peewee.Database) -> None:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICE_A))
    enrol_kiosk("kiosk-b", "venue-b", keys.public_bytes(DEVICE_B))


@pytest.fixture
def ingestor(kiosks: None) -> Ingestor:
    return Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: NOW)


def rows() -> int:
    return CheckinEntry.select().count()


def assert_refused(outcome: Outcome, reason: str, ingestor: Ingestor) -> None:
    assert outcome.result is Result.REFUSED
    assert outcome.reason == reason
    assert outcome.entry is None
    assert ingestor.counts[f"refused:{reason}"] == 1
    assert ingestor.counts["stored"] == 0


# --- accepted, duplicate, replayed -------------------------------------------------------


def test_valid_checkin_is_stored_with_its_leaf_hash(ingestor: Ingestor) -> None:
    wire = checkin(seq=1)
    outcome = ingestor.handle(TOPIC_A, wire)
    assert outcome.result is Result.STORED
    assert outcome.reason == ""
    assert ingestor.counts == {"stored": 1, "issuer_cache:miss": 1}
    row = CheckinEntry.get(CheckinEntry.commit == hashlib.sha256(wire).digest())
    assert outcome.entry is not None and outcome.entry.id == row.id
    assert row.kiosk_id == "kiosk-a"
    assert row.seq == 1
    assert row.scanned_ms == SCANNED_MS
    assert row.received_ms == NOW * 1000
    assert row.leaf_index is None and row.block_height is None
    record_id = bytes(row.checkin_id)
    expected_leaf = leaf_hash(leaf_data(record_id, hashlib.sha256(wire).digest()))
    assert bytes(row.leaf_hash) == expected_leaf
    pres = parse_checkin(wire).presentation
    assert bytes(row.presentation_hash) == hashlib.sha256(pres).digest()
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 1


def test_same_wire_again_is_a_duplicate_without_a_second_row(ingestor: Ingestor) -> None:
    wire = checkin(seq=1)
    first = ingestor.handle(TOPIC_A, wire)
    again = ingestor.handle(TOPIC_A, wire)
    assert first.result is Result.STORED
    assert again.result is Result.DUPLICATE
    assert again.reason == "duplicate"
    assert again.entry is not None and again.entry.id == first.entry.id
    assert rows() == 1
    assert ingestor.counts == {
        "stored": 1,
        "duplicate": 1,
        "issuer_cache:miss": 1,
        "issuer_cache:hit": 1,
    }


def test_other_record_reusing_kiosk_and_seq_is_replayed(ingestor: Ingestor) -> None:
    assert ingestor.handle(TOPIC_A, checkin(seq=5)).result is Result.STORED
    outcome = ingestor.handle(TOPIC_A, checkin(seq=5))
    assert outcome.result is Result.REFUSED
    assert outcome.reason == "replayed"
    assert ingestor.counts["refused:replayed"] == 1
    assert rows() == 1


def test_same_visitor_code_at_another_kiosk_is_replayed(ingestor: Ingestor) -> None:
    code = presentation()
    assert ingestor.handle(TOPIC_A, checkin(pres=code)).result is Result.STORED
    other = checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-b", pres=code)
    outcome = ingestor.handle(TOPIC_B, other)
    assert outcome.result is Result.REFUSED
    assert outcome.reason == "replayed"
    assert ingestor.counts["refused:replayed"] == 1
    assert rows() == 1
    assert KioskEntry.get_by_id("kiosk-b").highest_seq == 0


def test_same_checkin_id_with_other_content_is_replayed(ingestor: Ingestor) -> None:
    cid = bytes(range(16))
    assert ingestor.handle(TOPIC_A, checkin(seq=1, checkin_id=cid)).result is Result.STORED
    outcome = ingestor.handle(TOPIC_A, checkin(seq=2, checkin_id=cid))
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "replayed")
    assert rows() == 1


# --- the kiosk and its device key ---------------------------------------------------------


def test_unknown_kiosk(ingestor: Ingestor) -> None:
    wire = checkin(device=ROGUE_DEVICE, kiosk="kiosk-z")
    outcome = ingestor.handle(topics.topic("kiosk-z", topics.CHECKIN), wire)
    assert_refused(outcome, "unknown_kiosk", ingestor)
    assert rows() == 0


def test_retired_kiosk(ingestor: Ingestor) -> None:
    retire_kiosk("kiosk-a")
    assert_refused(ingestor.handle(TOPIC_A, checkin()), "retired_kiosk", ingestor)
    assert rows() == 0


def test_record_signed_by_another_device_key(ingestor: Ingestor) -> None:
    wire = checkin(device=ROGUE_DEVICE)
    assert_refused(ingestor.handle(TOPIC_A, wire), "bad_signature", ingestor)
    assert rows() == 0


def test_record_of_kiosk_a_on_kiosk_b_topic(ingestor: Ingestor) -> None:
    assert_refused(ingestor.handle(TOPIC_B, checkin()), "topic_mismatch", ingestor)
    assert rows() == 0


# --- topics and payload bytes -------------------------------------------------------------


def test_wrong_topic_leaf(ingestor: Ingestor) -> None:
    outcome = ingestor.handle(topics.topic("kiosk-a", topics.STATUS), checkin())
    assert_refused(outcome, "wrong_topic", ingestor)
    assert rows() == 0


@pytest.mark.parametrize(
    "name",
    [
        "safecode/v1/kiosk/Kiosk_A/checkin",
        "safecode/v1/kiosk/kiosk-a/checkin/extra",
        "safecode/v2/kiosk/kiosk-a/checkin",
        "safecode/v1/kiosk/kiosk-a/gossip",
        "safecode/v1/kiosk//checkin",
        "",
        "safecode/v1/kiosk/" + "a" * 200 + "/checkin",
    ],
)
def test_malformed_topic(ingestor: Ingestor, name: str) -> None:
    assert_refused(ingestor.handle(name, checkin()), "malformed", ingestor)
    assert rows() == 0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\x00garbage", "malformed"),
        (b"not cbor at all", "malformed"),
        (b"", "truncated"),
        (None, "truncated"),  # the valid wire cut short, filled in below
        (b"\xa1" * (MAX_BYTES + 1), "oversize"),
    ],
    ids=["garbage", "text", "empty", "truncated", "oversize"],
)
def test_bad_payload_bytes(ingestor: Ingestor, payload: bytes | None, reason: str) -> None:
    if payload is None:
        payload = checkin()[:-7]
    assert_refused(ingestor.handle(TOPIC_A, payload), reason, ingestor)
    assert rows() == 0


def test_valid_record_with_oversize_padding(ingestor: Ingestor) -> None:
    wire = checkin() + bytes(MAX_BYTES)
    assert_refused(ingestor.handle(TOPIC_A, wire), "oversize", ingestor)


# --- the visitor's presentation -----------------------------------------------------------


def test_presentation_expired_relative_to_scan_time(ingestor: Ingestor) -> None:
    stale = presentation(shown=NOW - 120)
    assert_refused(ingestor.handle(TOPIC_A, checkin(pres=stale)), "expired", ingestor)
    assert rows() == 0


def test_old_scan_with_a_code_fresh_at_scan_time_is_accepted(ingestor: Ingestor) -> None:
    """An outbox may deliver hours late: freshness is judged at scanned_ms, not now."""
    scanned_ms = (NOW - 7200) * 1000
    wire = checkin(scanned_ms=scanned_ms, pres=presentation(shown=NOW - 7200))
    assert ingestor.handle(TOPIC_A, wire).result is Result.STORED


def test_scan_time_in_the_future_beyond_skew(ingestor: Ingestor) -> None:
    later_ms = (NOW + 60) * 1000
    wire = checkin(scanned_ms=later_ms, pres=presentation(shown=NOW + 60))
    assert_refused(ingestor.handle(TOPIC_A, wire), "future", ingestor)
    assert rows() == 0


def test_scan_time_in_the_future_within_skew_is_accepted(ingestor: Ingestor) -> None:
    later_ms = (NOW + 4) * 1000
    wire = checkin(scanned_ms=later_ms, pres=presentation(shown=NOW + 4))
    assert ingestor.handle(TOPIC_A, wire).result is Result.STORED


def test_credential_not_yet_valid_at_scan_time(ingestor: Ingestor) -> None:
    early = enrol_visitor(ISSUER, NOW + 3600)  # valid from NOW + 3540
    code = early.show(NOW).to_bytes()
    assert_refused(ingestor.handle(TOPIC_A, checkin(pres=code)), "future", ingestor)


def test_untrusted_issuer(ingestor: Ingestor) -> None:
    code = presentation(issuer=STRANGE_ISSUER)
    assert_refused(ingestor.handle(TOPIC_A, checkin(pres=code)), "unknown_key", ingestor)
    assert rows() == 0


def test_forged_visitor_signature(ingestor: Ingestor) -> None:
    genuine = Presentation.from_bytes(presentation())
    sig = bytearray(genuine.signature)
    sig[10] ^= 0x01
    forged = Presentation(genuine.code_type, genuine.credential, genuine.timestamp, bytes(sig))
    wire = checkin(pres=forged.to_bytes())
    assert_refused(ingestor.handle(TOPIC_A, wire), "bad_signature", ingestor)
    assert rows() == 0


def test_code_signed_by_another_wallet_key(ingestor: Ingestor) -> None:
    victim = enrol_visitor(ISSUER, NOW - 3600)
    thief = enrol_visitor(ISSUER, NOW - 3600)
    stolen = type(victim)(thief.key, victim.credential).show(NOW).to_bytes()
    assert_refused(ingestor.handle(TOPIC_A, checkin(pres=stolen)), "bad_signature", ingestor)


# --- counts and sequence gaps -------------------------------------------------------------


def test_refusals_are_counted_per_reason(ingestor: Ingestor) -> None:
    for _ in range(3):
        ingestor.handle(TOPIC_A, b"\xff")
    ingestor.handle(TOPIC_B, checkin())
    assert ingestor.counts["refused:malformed"] == 3
    assert ingestor.counts["refused:topic_mismatch"] == 1
    assert sum(ingestor.counts.values()) == 4


def test_sequence_gap_is_counted_once_and_filled_by_a_late_record(ingestor: Ingestor) -> None:
    assert ingestor.handle(TOPIC_A, checkin(seq=1)).result is Result.STORED
    assert ingestor.counts["gaps:opened"] == 0
    assert ingestor.handle(TOPIC_A, checkin(seq=3)).result is Result.STORED
    assert ingestor.counts["gaps:opened"] == 1
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 3
    assert KioskEntry.get_by_id("kiosk-a").gaps == 1
    # The missing one arrives late: stored, the gap closes, highest stays.
    assert ingestor.handle(TOPIC_A, checkin(seq=2)).result is Result.STORED
    assert ingestor.counts["gaps:opened"] == 1
    assert ingestor.counts["gaps:filled"] == 1
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 3
    assert KioskEntry.get_by_id("kiosk-a").gaps == 0
    assert rows() == 3


def test_gap_counts_every_missing_number(ingestor: Ingestor) -> None:
    ingestor.handle(TOPIC_A, checkin(seq=1))
    ingestor.handle(TOPIC_A, checkin(seq=5))
    assert ingestor.counts["gaps:opened"] == 3


def test_no_gap_across_kiosks(ingestor: Ingestor) -> None:
    ingestor.handle(TOPIC_A, checkin(seq=1))
    ingestor.handle(TOPIC_B, checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-b", seq=1))
    ingestor.handle(TOPIC_A, checkin(seq=2))
    assert ingestor.counts["gaps:opened"] == 0
    assert ingestor.counts["stored"] == 3


@pytest.mark.parametrize("seq", [0, 2**53 + 1, 2**63 - 1, 2**63])
def test_sequence_number_beyond_the_database_range_is_refused(ingestor: Ingestor, seq: int) -> None:
    with pytest.raises(MalformedError):  # no honest kiosk can sign it...
        checkin(seq=seq)
    fields = {
        "id": bytes(16),
        "kiosk": "kiosk-a",
        "venue": "venue-a",
        "seq": seq,
        "door": "entrance",
        "scanned_ms": SCANNED_MS,
        "clock": {"synced": True, "boot": CLOCK.boot_id, "mono_ms": CLOCK.monotonic_ms},
        "presentation": presentation(shown=SCANNED_MS // 1000),
    }
    outcome = ingestor.handle(TOPIC_A, seal("checkin", fields, DEVICE_A))  # ...but one may try
    assert outcome.result is Result.REFUSED
    assert outcome.reason == "out_of_range"
    assert ingestor.counts["refused:out_of_range"] == 1
    assert rows() == 0


# --- fuzzing ------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_FUZZ
@given(payload=st.binary(max_size=1200))
def test_arbitrary_payload_never_raises_nor_stores(ingestor: Ingestor, payload: bytes) -> None:
    outcome = ingestor.handle(TOPIC_A, payload)
    assert outcome.result is Result.REFUSED
    assert outcome.reason
    assert rows() == 0


_VALID = checkin(checkin_id=bytes(16), seq=9)


@_FUZZ
@given(data=st.data())
def test_mutated_valid_record_never_raises_nor_stores(ingestor: Ingestor, data) -> None:
    wire = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    mutated = bytes(wire[:cut])
    assume(mutated != _VALID)
    outcome = ingestor.handle(TOPIC_A, mutated)
    assert outcome.result is Result.REFUSED
    assert rows() == 0


# --- venue, refused records the kiosk is told about, persisted gaps -------------------------


def test_record_for_another_venue_is_refused_with_the_record(ingestor: Ingestor) -> None:
    wire = checkin(venue="venue-b")  # kiosk-a's own key and topic, but kiosk-a is at venue-a
    outcome = ingestor.handle(TOPIC_A, wire)
    assert_refused(outcome, "venue_mismatch", ingestor)
    assert outcome.refused_record == parse_checkin(wire)
    assert outcome.refused_record.wire == wire
    assert outcome.refused_record.kiosk_id == "kiosk-a"
    assert rows() == 0
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 0


def test_venue_is_checked_against_the_enrolment_not_the_record(ingestor: Ingestor) -> None:
    # kiosk-b is enrolled at venue-b: a genuine kiosk-b record naming venue-a is refused too.
    wire = checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-a")
    outcome = ingestor.handle(TOPIC_B, wire)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "venue_mismatch")
    assert outcome.refused_record is not None and outcome.refused_record.wire == wire


def test_stored_and_duplicate_outcomes_have_no_refused_record(ingestor: Ingestor) -> None:
    wire = checkin()
    assert ingestor.handle(TOPIC_A, wire).refused_record is None
    again = ingestor.handle(TOPIC_A, wire)
    assert again.result is Result.DUPLICATE
    assert again.refused_record is None


def _forged_code() -> bytes:
    genuine = Presentation.from_bytes(presentation())
    sig = bytearray(genuine.signature)
    sig[3] ^= 0x40
    return Presentation(
        genuine.code_type, genuine.credential, genuine.timestamp, bytes(sig)
    ).to_bytes()


@pytest.mark.parametrize(
    ("make_code", "reason"),
    [
        (lambda: presentation(shown=NOW - 120), "expired"),
        (lambda: presentation(issuer=STRANGE_ISSUER), "unknown_key"),
        (_forged_code, "bad_signature"),
        (lambda: b"\x00garbage", "malformed"),
    ],
    ids=["expired", "unknown_key", "bad_visitor_signature", "garbage_presentation"],
)
def test_presentation_failures_carry_the_genuine_record(
    ingestor: Ingestor, make_code, reason: str
) -> None:
    wire = checkin(pres=make_code())
    outcome = ingestor.handle(TOPIC_A, wire)
    assert_refused(outcome, reason, ingestor)
    assert outcome.refused_record == parse_checkin(wire)
    assert rows() == 0


def test_replayed_conflicts_carry_the_refused_record(ingestor: Ingestor) -> None:
    assert ingestor.handle(TOPIC_A, checkin(seq=5)).result is Result.STORED
    same_seq = checkin(seq=5)
    outcome = ingestor.handle(TOPIC_A, same_seq)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "replayed")
    assert outcome.refused_record == parse_checkin(same_seq)

    code = presentation()
    assert ingestor.handle(TOPIC_A, checkin(seq=6, pres=code)).result is Result.STORED
    at_b = checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-b", pres=code)
    outcome = ingestor.handle(TOPIC_B, at_b)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "replayed")
    assert outcome.refused_record == parse_checkin(at_b)
    assert outcome.refused_record.kiosk_id == "kiosk-b"  # the kiosk that is told
    assert rows() == 2


def test_no_refused_record_for_a_bad_device_signature(ingestor: Ingestor) -> None:
    outcome = ingestor.handle(TOPIC_A, checkin(device=ROGUE_DEVICE, venue="venue-z"))
    assert_refused(outcome, "bad_signature", ingestor)
    assert outcome.refused_record is None


def test_no_refused_record_for_an_unknown_or_retired_kiosk(ingestor: Ingestor) -> None:
    unknown = ingestor.handle(
        topics.topic("kiosk-z", topics.CHECKIN), checkin(device=ROGUE_DEVICE, kiosk="kiosk-z")
    )
    assert (unknown.reason, unknown.refused_record) == ("unknown_kiosk", None)
    retire_kiosk("kiosk-a")
    retired = ingestor.handle(TOPIC_A, checkin())
    assert (retired.reason, retired.refused_record) == ("retired_kiosk", None)


def test_no_refused_record_for_a_topic_mismatch(ingestor: Ingestor) -> None:
    outcome = ingestor.handle(TOPIC_B, checkin())
    assert (outcome.reason, outcome.refused_record) == ("topic_mismatch", None)
    wrong_leaf = ingestor.handle(topics.topic("kiosk-a", topics.STATUS), checkin())
    assert (wrong_leaf.reason, wrong_leaf.refused_record) == ("wrong_topic", None)


@pytest.mark.parametrize("payload", [b"", b"\xff\x00garbage", b"\xa1" * (MAX_BYTES + 1)])
def test_no_refused_record_for_malformed_payloads(ingestor: Ingestor, payload: bytes) -> None:
    outcome = ingestor.handle(TOPIC_A, payload)
    assert outcome.result is Result.REFUSED
    assert outcome.refused_record is None


def test_scan_time_in_the_future_is_not_final(kiosks: None) -> None:
    clock = {"now": float(NOW)}
    ingestor = Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: clock["now"])
    later_ms = (NOW + 60) * 1000
    wire = checkin(scanned_ms=later_ms, pres=presentation(shown=NOW + 60))
    outcome = ingestor.handle(TOPIC_A, wire)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "future")
    assert outcome.refused_record is None  # the kiosk is not told: it will pass later
    clock["now"] = NOW + 60
    assert ingestor.handle(TOPIC_A, wire).result is Result.STORED


def test_future_scan_at_another_venue_is_refused_as_future_first(ingestor: Ingestor) -> None:
    wire = checkin(venue="venue-b", scanned_ms=(NOW + 60) * 1000, pres=presentation(shown=NOW))
    outcome = ingestor.handle(TOPIC_A, wire)
    assert (outcome.reason, outcome.refused_record) == ("future", None)


def test_sequence_gaps_are_persisted_in_the_kiosk_entry(ingestor: Ingestor) -> None:
    assert KioskEntry.get_by_id("kiosk-a").gaps == 0
    ingestor.handle(TOPIC_A, checkin(seq=1))
    assert KioskEntry.get_by_id("kiosk-a").gaps == 0
    ingestor.handle(TOPIC_A, checkin(seq=5))
    assert KioskEntry.get_by_id("kiosk-a").gaps == 3
    # A new ingestor (a restart) starts its counts afresh; the stored figure adds up.
    restarted = Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: NOW)
    restarted.handle(TOPIC_A, checkin(seq=8))
    assert restarted.counts["gaps:opened"] == 2
    assert KioskEntry.get_by_id("kiosk-a").gaps == 5
    assert KioskEntry.get_by_id("kiosk-b").gaps == 0
    # A late arrival fills a hole: the stored figure is what is still missing.
    restarted.handle(TOPIC_A, checkin(seq=2))
    assert KioskEntry.get_by_id("kiosk-a").gaps == 4
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 8


def test_first_record_with_a_high_seq_counts_the_numbers_before_it(ingestor: Ingestor) -> None:
    ingestor.handle(TOPIC_B, checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-b", seq=4))
    assert KioskEntry.get_by_id("kiosk-b").gaps == 3
    assert KioskEntry.get_by_id("kiosk-a").gaps == 0


# --- one batch: duplicates and replays told apart by the unique keys ---------------------


def test_duplicates_and_replays_inside_one_batch(ingestor: Ingestor) -> None:
    """One multi-row INSERT per batch: every conflict is still judged by the unique keys."""
    stored_before = checkin(seq=1)
    assert ingestor.handle(TOPIC_A, stored_before).result is Result.STORED
    same = checkin(seq=2)
    pres = presentation()
    first_of_code = checkin(seq=3, pres=pres)
    same_id = parse_checkin(same).checkin_id
    batch = [
        (TOPIC_A, same),
        (TOPIC_A, same),  # the same record twice in one batch: a duplicate
        (TOPIC_A, checkin(seq=4, checkin_id=same_id)),  # its id, other content: a replay
        (TOPIC_A, first_of_code),
        (TOPIC_B, checkin(device=DEVICE_B, kiosk="kiosk-b", venue="venue-b", pres=pres)),
        (TOPIC_A, checkin(seq=2)),  # (kiosk, seq) taken earlier in this batch
        (TOPIC_A, stored_before),  # stored by an earlier batch
        (TOPIC_A, checkin(seq=5)),
    ]
    outcomes = ingestor.handle_many(batch)
    assert [(o.result, o.reason) for o in outcomes] == [
        (Result.STORED, ""),
        (Result.DUPLICATE, "duplicate"),
        (Result.REFUSED, "replayed"),
        (Result.STORED, ""),
        (Result.REFUSED, "replayed"),
        (Result.REFUSED, "replayed"),
        (Result.DUPLICATE, "duplicate"),
        (Result.STORED, ""),
    ]
    assert outcomes[1].entry is not None and outcomes[0].entry is not None
    assert outcomes[1].entry.id == outcomes[0].entry.id
    assert rows() == 4
    for outcome, (_, wire) in zip(outcomes, batch, strict=True):
        if outcome.result is Result.STORED:
            assert outcome.entry is not None
            row = CheckinEntry.get_by_id(outcome.entry.id)
            assert bytes(row.commit) == hashlib.sha256(wire).digest()
            assert bytes(outcome.entry.checkin_id) == bytes(row.checkin_id)
    assert ingestor.counts["stored"] == 4
    assert ingestor.counts["duplicate"] == 2
    assert ingestor.counts["refused:replayed"] == 3
    assert KioskEntry.get_by_id("kiosk-a").highest_seq == 5
    assert KioskEntry.get_by_id("kiosk-a").gaps == 1  # seq 4 came only as a replay


# --- revoked credentials ---------------------------------------------------------------------


def test_a_revoked_credential_is_refused_and_its_kiosk_told(ingestor: Ingestor) -> None:
    from aggregator.revocations import revoke
    from protocol.presentation import Presentation

    pres = presentation()
    revoke([Presentation.from_bytes(pres).credential.credential_id])
    outcome = ingestor.handle(TOPIC_A, checkin(pres=pres))
    assert_refused(outcome, "revoked", ingestor)
    assert outcome.refused_record is not None  # a signed refusal goes back to the kiosk
    assert ingestor.handle(TOPIC_A, checkin(seq=2)).result is Result.STORED  # others pass


def test_a_forged_code_on_a_revoked_credential_reads_bad_signature(ingestor: Ingestor) -> None:
    from aggregator.revocations import revoke
    from protocol.presentation import Presentation

    pres = bytearray(presentation())
    revoke([Presentation.from_bytes(bytes(pres)).credential.credential_id])
    pres[-1] ^= 1  # the visitor's signature no longer verifies
    assert_refused(ingestor.handle(TOPIC_A, checkin(pres=bytes(pres))), "bad_signature", ingestor)
