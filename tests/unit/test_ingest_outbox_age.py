"""The outbox age bound: a record that cannot be placed within it is refused, never sealed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import peewee
import pytest

from aggregator.config import parse_config
from aggregator.db import CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from simulator.visitors import enrol_visitor
from support.config_file import ConfigError
from tests.unit.wire_checks import seeded

ISSUER = seeded("outbox-age-issuer")
DEVICE = seeded("outbox-age-device")
NOW = 1_764_000_000
DAY = 86_400
BOOT = bytes(range(16))
TOPIC = topics.topic("kiosk-a", topics.CHECKIN)
_ids = iter(range(1, 10**9))


def record(*, shown: int, synced: bool, scanned_ms: int = 7) -> bytes:
    """A check-in of a code shown at ``shown`` by a visitor enrolled 301 days before NOW."""
    code = enrol_visitor(ISSUER, NOW - 301 * DAY).show(shown).to_bytes()
    seq = next(_ids)
    return sign_checkin(
        DEVICE,
        checkin_id=hashlib.sha256(b"age-%d" % seq).digest()[:16],
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=seq,
        door="entrance",
        scanned_ms=scanned_ms,
        clock=ClockState(synced, BOOT, 1_000 + seq),
        presentation=code,
    )


@pytest.fixture
def ingestor(db: peewee.Database) -> Ingestor:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICE))
    return Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: NOW)


@pytest.mark.parametrize("days", [20, 300])
def test_old_code_from_an_unsynced_kiosk_without_heartbeat_is_refused_not_sealed(
    ingestor: Ingestor, days: int
) -> None:
    wire = record(shown=NOW - days * DAY, synced=False)
    outcome = ingestor.handle(TOPIC, wire)
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "too_old")
    assert outcome.refused_record is not None  # the kiosk gets a signed refusal
    assert outcome.refused_record.wire == wire
    assert ingestor.counts["refused:too_old"] == 1
    assert ingestor.counts["stored"] == 0
    assert CheckinEntry.select().count() == 0


def test_a_record_that_waited_within_the_bound_is_still_placed_at_its_arrival(
    ingestor: Ingestor,
) -> None:
    """A kiosk offline for six days, its clock lost: its records still count."""
    outcome = ingestor.handle(TOPIC, record(shown=NOW - 6 * DAY, synced=False))
    assert outcome.result is Result.STORED
    assert CheckinEntry.get().placement == "received"


def test_the_bound_is_the_configured_age_plus_the_code_validity(db: peewee.Database) -> None:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICE))
    ingestor = Ingestor(
        [ISSUER.public_key()], window=30, skew=5, now=lambda: NOW, max_outbox_age_s=DAY
    )
    inside = record(shown=NOW - DAY - 30, synced=False)
    assert ingestor.handle(TOPIC, inside).result is Result.STORED
    outside = record(shown=NOW - DAY - 30 - 5 - 1, synced=False)
    assert ingestor.handle(TOPIC, outside).reason == "too_old"


def test_a_synced_scan_older_than_the_bound_is_refused_too(ingestor: Ingestor) -> None:
    shown = NOW - 20 * DAY
    outcome = ingestor.handle(TOPIC, record(shown=shown, synced=True, scanned_ms=shown * 1000))
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "too_old")
    assert CheckinEntry.select().count() == 0


def _config(tmp_path: Path, **extra: object) -> dict:
    section = {"origin": "example.org/ledger", "database_url": "sqlite:///x.db"}
    section |= {"ledger_key": "l.key", "issuer_key": "i.key", **extra}
    return {"aggregator": section}


def test_max_outbox_age_days_is_read_and_defaults_to_a_week(tmp_path: Path) -> None:
    assert parse_config(_config(tmp_path), base=tmp_path).max_outbox_age_days == 7
    config = parse_config(_config(tmp_path, max_outbox_age_days=3), base=tmp_path)
    assert config.max_outbox_age_days == 3


@pytest.mark.parametrize("value", [0, -1, 91, 3650, 1.5, True, "7"])
def test_max_outbox_age_days_must_be_days_not_years(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="max_outbox_age_days"):
        parse_config(_config(tmp_path, max_outbox_age_days=value), base=tmp_path)
