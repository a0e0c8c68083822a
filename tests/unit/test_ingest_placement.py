"""Clock placement of unsynchronised check-ins, the issuer cache and exact gap counts."""

from __future__ import annotations

import hashlib
import json

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import placement
from aggregator.db import CheckinEntry, KioskEntry
from aggregator.ingest import Ingestor, IssuerCache, Result, counter_key
from aggregator.registry import enrol_kiosk
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.credential import issue_credential
from protocol.errors import UnknownKeyError
from protocol.status import encode_status, parse_status
from simulator.visitors import Wallet, enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("placement-issuer")
DEVICE = seeded("placement-device")
NOW = 1_764_000_000
BOOT = bytes(range(16))
OTHER_BOOT = bytes(range(1, 17))
TOPIC = topics.topic("kiosk-a", topics.CHECKIN)
_ids = iter(range(1, 10**9))


def record(seq: int, *, synced: bool, scanned_ms: int, mono_ms: int, shown: int, boot=BOOT):
    code = enrol_visitor(ISSUER, NOW - 86_400).show(shown).to_bytes()
    return sign_checkin(
        DEVICE,
        checkin_id=hashlib.sha256(b"p-%d" % next(_ids)).digest()[:16],
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=seq,
        door="entrance",
        scanned_ms=scanned_ms,
        clock=ClockState(synced, boot, mono_ms),
        presentation=code,
    )


@pytest.fixture
def ingestor(db: peewee.Database) -> Ingestor:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICE))
    return Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: NOW)


def stored(seq: int) -> CheckinEntry:
    return CheckinEntry.get((CheckinEntry.kiosk == "kiosk-a") & (CheckinEntry.seq == seq))


def test_synced_record_is_placed_at_its_scan_time(ingestor: Ingestor) -> None:
    wire = record(1, synced=True, scanned_ms=(NOW - 100) * 1000, mono_ms=5_000, shown=NOW - 100)
    assert ingestor.handle(TOPIC, wire).result is Result.STORED
    row = stored(1)
    assert (row.placed_ms, row.placement) == ((NOW - 100) * 1000, "clock")
    assert (bytes(row.boot_id), row.mono_ms) == (BOOT, 5_000)


def test_unsynced_record_is_placed_from_a_synced_anchor_of_the_same_boot(
    ingestor: Ingestor,
) -> None:
    anchor = record(1, synced=True, scanned_ms=(NOW - 600) * 1000, mono_ms=10_000, shown=NOW - 600)
    assert ingestor.handle(TOPIC, anchor).result is Result.STORED
    # Scanned 200 s after the anchor by the monotonic clock; the wall clock says 1970.
    wrong = record(2, synced=False, scanned_ms=5_000, mono_ms=210_000, shown=NOW - 400)
    assert ingestor.handle(TOPIC, wrong).result is Result.STORED
    row = stored(2)
    assert (row.placed_ms, row.placement) == ((NOW - 400) * 1000, "anchor")
    assert row.scanned_ms == 5_000  # what the kiosk signed is kept as it is


def test_freshness_of_an_unsynced_record_is_judged_at_its_placed_time(
    ingestor: Ingestor,
) -> None:
    anchor = record(1, synced=True, scanned_ms=(NOW - 600) * 1000, mono_ms=10_000, shown=NOW - 600)
    ingestor.handle(TOPIC, anchor)
    # The code was shown 300 s before the placed scan time: stale, whatever the wall clock.
    stale = record(2, synced=False, scanned_ms=(NOW - 400) * 1000, mono_ms=210_000, shown=NOW - 700)
    outcome = ingestor.handle(TOPIC, stale)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "expired")


def test_anchor_of_another_boot_is_not_used(ingestor: Ingestor) -> None:
    anchor = record(1, synced=True, scanned_ms=(NOW - 600) * 1000, mono_ms=10_000, shown=NOW - 600)
    ingestor.handle(TOPIC, anchor)
    other = record(2, synced=False, scanned_ms=1, mono_ms=210_000, shown=NOW - 2, boot=OTHER_BOOT)
    assert ingestor.handle(TOPIC, other).result is Result.STORED
    assert (stored(2).placed_ms, stored(2).placement) == (NOW * 1000, "received")


def test_heartbeat_places_when_no_anchor(ingestor: Ingestor) -> None:
    status = {"clock_boot": BOOT.hex(), "clock_mono_ms": 50_000, "clock_wall_ms": (NOW - 10) * 1000}
    assert placement.note_heartbeat("kiosk-a", {**status, "clock_synced": True}, NOW * 1000)
    wire = record(1, synced=False, scanned_ms=7, mono_ms=45_000, shown=NOW - 15)
    assert ingestor.handle(TOPIC, wire).result is Result.STORED
    assert (stored(1).placed_ms, stored(1).placement) == ((NOW - 15) * 1000, "heartbeat")
    assert ingestor.counts["placed:heartbeat"] == 1


def test_unsynced_heartbeat_is_anchored_at_its_arrival(ingestor: Ingestor) -> None:
    status = {
        "clock_boot": BOOT.hex(),
        "clock_mono_ms": 50_000,
        "clock_wall_ms": 3,
        "clock_synced": False,
    }
    placement.note_heartbeat("kiosk-a", status, (NOW - 1) * 1000)
    wire = record(1, synced=False, scanned_ms=7, mono_ms=49_000, shown=NOW - 2)
    ingestor.handle(TOPIC, wire)
    assert (stored(1).placed_ms, stored(1).placement) == ((NOW - 2) * 1000, "heartbeat")


def test_a_kiosk_heartbeat_in_protocol_field_names_anchors_placement(ingestor: Ingestor) -> None:
    beat = parse_status(
        encode_status(
            "online",
            clock_synced=False,
            clock_boot=BOOT.hex(),
            clock_mono_ms=50_000,
            clock_wall_ms=3,
        )
    )
    assert placement.note_heartbeat("kiosk-a", beat, (NOW - 1) * 1000)
    ingestor.handle(TOPIC, record(1, synced=False, scanned_ms=7, mono_ms=49_000, shown=NOW - 2))
    assert (stored(1).placed_ms, stored(1).placement) == ((NOW - 2) * 1000, "heartbeat")


def test_record_placed_at_arrival_may_have_waited_but_not_come_from_the_future(
    ingestor: Ingestor,
) -> None:
    late = record(1, synced=False, scanned_ms=7, mono_ms=1, shown=NOW - 3 * 3600)
    assert ingestor.handle(TOPIC, late).result is Result.STORED
    assert stored(1).placement == "received"
    ahead = record(2, synced=False, scanned_ms=7, mono_ms=2, shown=NOW + 600)
    assert ingestor.handle(TOPIC, ahead).reason == "future"


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"clock_boot": "zz" * 16, "clock_mono_ms": 1},
        {"clock_boot": BOOT.hex()[:-2], "clock_mono_ms": 1},
        {"clock_boot": BOOT.hex().upper(), "clock_mono_ms": 1},
        {"clock_boot": BOOT.hex(), "clock_mono_ms": -1},
        {"clock_boot": BOOT.hex(), "clock_mono_ms": 1.5},
        {"clock_boot": BOOT.hex(), "clock_mono_ms": True},
        {"clock_boot": BOOT.hex(), "clock_mono_ms": "1"},
        {"clock_boot": 5, "clock_mono_ms": 1},
        {"clock_boot": BOOT.hex(), "clock_mono_ms": 2**70},
    ],
)
def test_heartbeat_without_a_usable_clock_is_ignored(status: dict) -> None:
    assert placement.heartbeat_clock(status, 1) is None


def test_heartbeat_with_a_bad_wall_time_falls_back_to_arrival() -> None:
    status = {
        "clock_boot": BOOT.hex(),
        "clock_mono_ms": 5,
        "clock_wall_ms": "soon",
        "clock_synced": True,
    }
    assert placement.heartbeat_clock(status, 99) == (BOOT, 5, 99, "received")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.none() | st.booleans() | st.integers() | st.text()))
def test_heartbeat_parser_never_raises(status: dict) -> None:
    json.dumps(status)
    clock = placement.heartbeat_clock(status, 1)
    assert clock is None or len(clock[0]) == 16


# --- the issuer cache ---------------------------------------------------------------------


def test_issuer_signature_is_checked_once_per_credential() -> None:
    wallet = enrol_visitor(ISSUER, NOW)
    cache = IssuerCache(maxsize=2)
    assert cache.check(wallet.credential, [ISSUER.public_key()]) is False
    assert cache.check(wallet.credential, [ISSUER.public_key()]) is True


def test_a_failed_issuer_check_is_not_cached() -> None:
    wallet = enrol_visitor(seeded("placement-other-issuer"), NOW)
    cache = IssuerCache()
    for _ in range(2):
        with pytest.raises(UnknownKeyError):
            cache.check(wallet.credential, [ISSUER.public_key()])


def test_issuer_cache_is_bounded() -> None:
    cache = IssuerCache(maxsize=2)
    wallets = [enrol_visitor(ISSUER, NOW) for _ in range(3)]
    for wallet in wallets:
        cache.check(wallet.credential, [ISSUER.public_key()])
    assert cache.check(wallets[0].credential, [ISSUER.public_key()]) is False  # evicted
    assert cache.check(wallets[2].credential, [ISSUER.public_key()]) is True


def test_cached_credential_still_needs_a_fresh_visitor_signature(ingestor: Ingestor) -> None:
    wallet = enrol_visitor(ISSUER, NOW - 86_400)
    good = wallet.show(NOW).to_bytes()
    first = sign_checkin(
        DEVICE,
        checkin_id=bytes(16),
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=1,
        door="entrance",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, BOOT, 1),
        presentation=good,
    )
    assert ingestor.handle(TOPIC, first).result is Result.STORED
    shown = wallet.show(NOW - 1)
    forged = type(shown)(shown.code_type, shown.credential, shown.timestamp, bytes(64))
    second = sign_checkin(
        DEVICE,
        checkin_id=bytes(15) + b"\x01",
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=2,
        door="entrance",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, BOOT, 2),
        presentation=forged.to_bytes(),
    )
    outcome = ingestor.handle(TOPIC, second)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "bad_signature")
    assert ingestor.counts["issuer_cache:hit"] == 1


# --- gaps ---------------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(list(range(1, 13))), cut=st.integers(0, 12), batch=st.integers(1, 5))
def test_gaps_equal_highest_seq_minus_stored_in_any_order(
    ingestor: Ingestor, order: list[int], cut: int, batch: int
) -> None:
    CheckinEntry.delete().execute()
    KioskEntry.update(highest_seq=0, gaps=0).execute()
    arrived = order[:cut]
    wires = [
        record(seq, synced=True, scanned_ms=NOW * 1000, mono_ms=seq, shown=NOW) for seq in arrived
    ]
    for start in range(0, len(wires), batch):
        ingestor.handle_many([(TOPIC, wire) for wire in wires[start : start + batch]])
        kiosk = KioskEntry.get_by_id("kiosk-a")
        seen = arrived[: start + batch]
        assert kiosk.highest_seq == max(seen)
        assert kiosk.gaps == max(seen) - len(seen)


def test_counter_keys() -> None:
    assert counter_key("stored") == ("ingested", "")
    assert counter_key("refused:bad_signature") == ("refused", "bad_signature")
    assert counter_key("duplicate") == ("duplicate", "")
    assert counter_key("gaps:opened") == ("gaps", "opened")
    assert counter_key("error:database") == ("error", "database")


def test_a_late_heartbeat_does_not_move_the_anchor(ingestor: Ingestor) -> None:
    """Queued while the aggregator was down, it arrives late: its offset is worse."""
    fresh = {"clock_boot": BOOT.hex(), "clock_mono_ms": 50_000, "clock_wall_ms": 0}
    fresh["clock_synced"] = False
    assert placement.note_heartbeat("kiosk-a", fresh, (NOW - 20) * 1000)
    stale = {**fresh, "clock_mono_ms": 60_000}  # sent 10 s later, received 19 s later
    assert placement.note_heartbeat("kiosk-a", stale, (NOW - 1) * 1000)
    wire = record(1, synced=False, scanned_ms=7, mono_ms=55_000, shown=NOW - 15)
    assert ingestor.handle(TOPIC, wire).result is Result.STORED
    assert (stored(1).placed_ms, stored(1).placement) == ((NOW - 15) * 1000, "heartbeat")


def _day_wallet(not_after: int) -> Wallet:
    """A wallet whose day credential ends at ``not_after`` (a midnight)."""
    wallet_key = keys.generate()
    credential = issue_credential(
        ISSUER, keys.public_bytes(wallet_key), not_before=not_after - 86_400, not_after=not_after
    )
    return Wallet(wallet_key, credential)


def _late_placed(wallet: Wallet, shown: int) -> bytes:
    """A scan of ``wallet``'s code, placed by a heartbeat that arrived 8 s after it was sent."""
    status = {"clock_boot": BOOT.hex(), "clock_mono_ms": 40_000, "clock_wall_ms": 0}
    placement.note_heartbeat("kiosk-a", {**status, "clock_synced": False}, (NOW - 2) * 1000)
    return sign_checkin(
        DEVICE,
        checkin_id=hashlib.sha256(b"midnight-%d" % shown).digest()[:16],
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=1,
        door="entrance",
        scanned_ms=7,
        clock=ClockState(False, BOOT, 42_000),
        presentation=wallet.show(shown).to_bytes(),
    )


def test_a_day_code_shown_before_midnight_is_not_expired_by_a_late_placement(
    ingestor: Ingestor,
) -> None:
    """The kiosk accepted it at 23:59:51; the heartbeat places the scan at 00:00:00."""
    wallet = _day_wallet(not_after=NOW - 9)
    outcome = ingestor.handle(TOPIC, _late_placed(wallet, shown=NOW - 10))
    assert outcome.result is Result.STORED, outcome.reason
    assert (stored(1).placed_ms, stored(1).placement) == (NOW * 1000, "heartbeat")


def test_a_day_code_shown_after_its_midnight_stays_expired(ingestor: Ingestor) -> None:
    wallet = _day_wallet(not_after=NOW - 9)
    outcome = ingestor.handle(TOPIC, _late_placed(wallet, shown=NOW - 1))
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "expired")
