"""Ingest with printed cards: stored as cards, judged without freshness, travel refused."""

from __future__ import annotations

import hashlib

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import vault
from aggregator.card_checks import CardChecks, CardSightingEntry, CardTravelError, code_type_of
from aggregator.db import CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.revocations import revoke
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.credential import issue_credential
from protocol.presentation import CodeType, Presentation, make_card
from tests.unit.wire_checks import seeded

ISSUER = seeded("card-ingest-issuer")
DEVICES = {name: seeded(f"card-ingest-{name}") for name in ("kiosk-a", "kiosk-a2", "kiosk-b")}
VENUES = {"kiosk-a": "venue-a", "kiosk-a2": "venue-a", "kiosk-b": "venue-b"}
DAY = 86_400
ISSUED = 1_764_000_000
NOW = ISSUED + 3 * DAY  # a card issued three days ago, shown today
MINUTE_MS = 60_000
TRAVEL_MINUTES = 10
CLOCK = ClockState(synced=True, boot_id=bytes(16), monotonic_ms=1)

_seqs = {name: 0 for name in DEVICES}


def new_card(days: int = 28) -> Presentation:
    key = keys.generate()
    credential = issue_credential(
        ISSUER, keys.public_bytes(key), not_before=ISSUED, not_after=ISSUED + days * DAY
    )
    return make_card(credential, key, timestamp=ISSUED)


def record(kiosk: str, card: Presentation, scanned_ms: int) -> tuple[str, bytes]:
    _seqs[kiosk] += 1
    wire = sign_checkin(
        DEVICES[kiosk],
        checkin_id=hashlib.sha256(b"%s-%d" % (kiosk.encode(), _seqs[kiosk])).digest()[:16],
        kiosk_id=kiosk,
        venue_id=VENUES[kiosk],
        seq=_seqs[kiosk],
        door="entrance",
        scanned_ms=scanned_ms,
        clock=CLOCK,
        presentation=card.to_bytes(),
    )
    return topics.topic(kiosk, topics.CHECKIN), wire


@pytest.fixture
def ingestor(db: peewee.Database) -> Ingestor:
    for name, device in DEVICES.items():
        _seqs[name] = 0
        enrol_kiosk(name, VENUES[name], keys.public_bytes(device))
    return Ingestor(
        [ISSUER.public_key()],
        now=lambda: NOW + 3600,
        card_travel_s=TRAVEL_MINUTES * 60,
    )


def test_card_checkin_is_stored_and_its_record_says_card(
    ingestor: Ingestor, test_vault: vault.Vault
) -> None:
    outcome = ingestor.handle(*record("kiosk-a", new_card(), NOW * 1000))
    assert outcome.result is Result.STORED, outcome
    row = CheckinEntry.get_by_id(outcome.entry.id)
    assert code_type_of(test_vault.open_entry(row)) is CodeType.CARD
    assert ingestor.counts["stored"] == 1


def test_same_card_used_again_later_is_a_new_checkin_not_a_replay(ingestor: Ingestor) -> None:
    card = new_card()
    first = ingestor.handle(*record("kiosk-a", card, NOW * 1000))
    again = ingestor.handle(*record("kiosk-a", card, NOW * 1000 + 30 * MINUTE_MS))
    assert (first.result, again.result) == (Result.STORED, Result.STORED)
    hashes = {bytes(r.presentation_hash) for r in CheckinEntry.select()}
    assert len(hashes) == 2 and hashlib.sha256(card.to_bytes()).digest() not in hashes


def test_same_scan_signed_again_under_another_seq_is_a_replay(ingestor: Ingestor) -> None:
    card = new_card()
    assert ingestor.handle(*record("kiosk-a", card, NOW * 1000)).result is Result.STORED
    outcome = ingestor.handle(*record("kiosk-a", card, NOW * 1000))
    assert outcome.result is Result.REFUSED and outcome.reason == "replayed"


def test_card_at_two_venues_too_close_in_time_is_refused_counted_and_answered(
    ingestor: Ingestor,
) -> None:
    card = new_card()
    assert ingestor.handle(*record("kiosk-a", card, NOW * 1000)).result is Result.STORED
    topic, wire = record("kiosk-b", card, NOW * 1000 + 4 * MINUTE_MS)
    outcome = ingestor.handle(topic, wire)
    assert outcome.result is Result.REFUSED
    assert outcome.reason == "card_travel"
    # Through the refusal path: the kiosk gets a refusal receipt for its signed record.
    assert outcome.refused_record is not None and outcome.refused_record.wire == wire
    assert ingestor.counts["refused:card_travel"] == 1
    assert CheckinEntry.select().count() == 1


def test_travel_is_judged_both_ways_in_time(ingestor: Ingestor) -> None:
    """A record arriving late, placed before a sighting elsewhere, is refused too."""
    card = new_card()
    assert ingestor.handle(*record("kiosk-b", card, NOW * 1000)).result is Result.STORED
    late = ingestor.handle(*record("kiosk-a", card, NOW * 1000 - 5 * MINUTE_MS))
    assert late.reason == "card_travel"


def test_card_at_two_venues_far_enough_apart_is_stored(ingestor: Ingestor) -> None:
    card = new_card()
    assert ingestor.handle(*record("kiosk-a", card, NOW * 1000)).result is Result.STORED
    later = ingestor.handle(*record("kiosk-b", card, NOW * 1000 + (TRAVEL_MINUTES + 1) * 60_000))
    assert later.result is Result.STORED


def test_card_at_two_kiosks_of_one_venue_is_not_travel(ingestor: Ingestor) -> None:
    card = new_card()
    assert ingestor.handle(*record("kiosk-a", card, NOW * 1000)).result is Result.STORED
    other_door = ingestor.handle(*record("kiosk-a2", card, NOW * 1000 + MINUTE_MS))
    assert other_door.result is Result.STORED


def test_two_cards_at_two_venues_at_once_are_both_stored(ingestor: Ingestor) -> None:
    assert ingestor.handle(*record("kiosk-a", new_card(), NOW * 1000)).result is Result.STORED
    assert ingestor.handle(*record("kiosk-b", new_card(), NOW * 1000)).result is Result.STORED


def test_travel_refusal_in_one_batch_loses_nothing_else(ingestor: Ingestor) -> None:
    card, other = new_card(), new_card()
    outcomes = ingestor.handle_many(
        [
            record("kiosk-a", card, NOW * 1000),
            record("kiosk-b", card, NOW * 1000 + MINUTE_MS),
            record("kiosk-b", other, NOW * 1000 + MINUTE_MS),
        ]
    )
    assert [o.result for o in outcomes] == [Result.STORED, Result.REFUSED, Result.STORED]
    assert outcomes[1].reason == "card_travel"
    assert CheckinEntry.select().count() == 2


def test_refused_card_leaves_no_sighting(ingestor: Ingestor) -> None:
    card = new_card()
    forged = Presentation(card.code_type, card.credential, card.timestamp, bytes(64))
    outcome = ingestor.handle(*record("kiosk-a", forged, NOW * 1000))
    assert outcome.reason == "bad_signature"
    assert CardSightingEntry.select().count() == 0
    assert ingestor.handle(*record("kiosk-b", card, NOW * 1000)).result is Result.STORED


def test_expired_card_is_refused(ingestor: Ingestor) -> None:
    outcome = ingestor.handle(*record("kiosk-a", new_card(days=1), NOW * 1000))
    assert outcome.result is Result.REFUSED and outcome.reason == "expired"


def test_revoked_card_is_refused(ingestor: Ingestor) -> None:
    card = new_card()
    revoke([card.credential.credential_id])
    outcome = ingestor.handle(*record("kiosk-a", card, NOW * 1000))
    assert outcome.result is Result.REFUSED and outcome.reason == "revoked"


def test_card_days_after_its_date_is_not_too_old_when_placed_at_arrival(
    db: peewee.Database,
) -> None:
    """Unsynchronised kiosk, no anchor: the card's desk date must not count as its age."""
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICES["kiosk-a"]))
    ingestor = Ingestor([ISSUER.public_key()], now=lambda: NOW + 20 * DAY)
    card = new_card()
    wire = sign_checkin(
        DEVICES["kiosk-a"],
        checkin_id=bytes(16),
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=1,
        door="entrance",
        scanned_ms=5,
        clock=ClockState(synced=False, boot_id=bytes(16), monotonic_ms=1),
        presentation=card.to_bytes(),
    )
    outcome = ingestor.handle(topics.topic("kiosk-a", topics.CHECKIN), wire)
    assert outcome.result is Result.STORED, outcome


def test_sightings_are_pruned_after_the_horizon(db: peewee.Database) -> None:
    checks = CardChecks(min_gap_s=600, max_wait_s=DAY, now=lambda: NOW)
    checks.check_travel(new_card(), "venue-a", NOW * 1000)
    assert checks.prune(NOW * 1000 + DAY * 1000) == 0
    assert checks.prune(NOW * 1000 + DAY * 1000 + 600_001) == 1


@pytest.mark.parametrize("value", [-1, 1441, "10", True, float("nan")])
def test_card_travel_minutes_must_be_a_sane_number(tmp_path, value: object) -> None:
    from aggregator.config import parse_config
    from support.config_file import ConfigError

    section = {
        "origin": "example.org/ledger",
        "database_url": "sqlite:///ledger.sqlite",
        "ledger_key": "ledger.key",
        "issuer_key": "issuer.key",
    }
    assert parse_config({"aggregator": section}, base=tmp_path).card_travel_minutes == 10.0
    with pytest.raises(ConfigError, match="card_travel_minutes"):
        parse_config({"aggregator": {**section, "card_travel_minutes": value}}, base=tmp_path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 60)), max_size=12))
def test_accepted_sightings_never_clash(db: peewee.Database, uses: list[tuple[str, int]]) -> None:
    """Whatever order uses arrive in, no two accepted ones are at two venues within the gap."""
    CardSightingEntry.delete().execute()
    checks = CardChecks(min_gap_s=10 * 60, now=lambda: NOW)
    card = new_card()
    accepted: list[tuple[str, int]] = []
    for venue, minute in uses:
        try:
            checks.check_travel(card, f"venue-{venue}", NOW * 1000 + minute * MINUTE_MS)
        except CardTravelError:
            continue
        accepted.append((venue, minute))
    for venue, minute in accepted:
        assert all(v == venue or abs(m - minute) >= 10 for v, m in accepted)
