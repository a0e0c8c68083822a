"""A kiosk sending out-of-range numbers harms nobody else (issue 13, item 1).

Before the bounds, a check-in with seq 2**63-1 was stored: its seq floor (2**63) no
config could carry, so that kiosk's next "online" heartbeat failed the whole ingest
batch (other kiosks' check-ins dropped without receipt or refusal) and `revoke`
failed for every kiosk; on PostgreSQL the gap counter then overflowed a bigint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from aggregator import status_store
from aggregator.config import load_config
from aggregator.db import CheckinEntry, KioskEntry
from aggregator.registry import enrol_kiosk
from aggregator.revocations import next_seq_floors, publish_revocations, revoked_ids
from aggregator.service import AggregatorService
from kiosk.config import load_config as load_kiosk_config
from protocol import keys, topics
from protocol.checkin import SEQ_MAX, ClockState, sign_checkin
from protocol.errors import OutOfRangeError, ProtocolError
from protocol.kiosk_config import parse_kiosk_config
from protocol.receipt import parse_receipt
from protocol.signed import seal
from simulator.site import init_simulated_site
from simulator.visitors import load_crowd
from tests.unit.fake_bus import ConfigBus

GOOD_PER_BATCH = 10
HUGE = 2**63 - 1


@dataclasses.dataclass
class Fleet:
    service: AggregatorService
    bus: ConfigBus
    good: object  # kiosk.config.KioskConfig
    bad: object
    wallets: list
    now: float

    def checkin(self, kiosk, seq: int, *, scanned_ms: int | None = None) -> bytes:
        fields = {
            "id": f"{kiosk.kiosk_id}/{seq}".encode()[:16].ljust(16, b"\0"),
            "kiosk": kiosk.kiosk_id,
            "venue": kiosk.venue_id,
            "seq": seq,
            "door": kiosk.door,
            "scanned_ms": int(self.now * 1000) if scanned_ms is None else scanned_ms,
            "clock": {"synced": True, "boot": bytes(16), "mono_ms": 1},
            "presentation": self.wallets.pop().show(self.now).to_bytes(),
        }
        # seal(), not sign_checkin(): a hostile kiosk signs what an honest one would not.
        return seal("checkin", fields, keys.load_private(kiosk.device_key_path))


@pytest.fixture
def fleet(tmp_path: Path, db_url: str, test_vault) -> Fleet:
    site = init_simulated_site(tmp_path / "site", kiosks=2, visitors=4 * GOOD_PER_BATCH + 10)
    config = dataclasses.replace(load_config(site.aggregator_config), database_url=db_url)
    bus = ConfigBus()
    service = AggregatorService(config, bus, on_event=lambda line: None, roles={"ingest"})
    good, bad = (load_kiosk_config(path) for path in site.kiosk_configs)
    for kiosk in (good, bad):
        device = keys.load_private(kiosk.device_key_path)
        enrol_kiosk(kiosk.kiosk_id, kiosk.venue_id, keys.public_bytes(device))
    yield Fleet(service, bus, good, bad, list(load_crowd(site.crowd_file)), time.time())
    service.db.close()


def _good_batch(fleet: Fleet, first_seq: int) -> list[tuple[str, bytes]]:
    topic = topics.topic(fleet.good.kiosk_id, topics.CHECKIN)
    seqs = range(first_seq, first_seq + GOOD_PER_BATCH)
    return [(topic, fleet.checkin(fleet.good, seq)) for seq in seqs]


def _receipted(fleet: Fleet, kiosk_id: str) -> set[int]:
    """Seal everything waiting; the seqs the kiosk got receipts for."""
    while fleet.service.seal_once() > 0:
        pass
    seqs: set[int] = set()
    for to, wire in fleet.bus.answers:
        try:
            receipt = parse_receipt(wire)
        except ProtocolError:  # a refusal
            continue
        if to == kiosk_id:
            seqs.update(entry.seq for entry in receipt.entries)
    return seqs


def test_a_hostile_kiosk_fails_nobody_elses_batch(fleet: Fleet) -> None:
    bad_topic = topics.topic(fleet.bad.kiosk_id, topics.CHECKIN)
    status_topic = topics.topic(fleet.bad.kiosk_id, topics.STATUS)
    hostile = [
        (bad_topic, fleet.checkin(fleet.bad, HUGE)),
        (bad_topic, fleet.checkin(fleet.bad, 0)),
        (bad_topic, fleet.checkin(fleet.bad, SEQ_MAX + 1)),
        (bad_topic, fleet.checkin(fleet.bad, 5, scanned_ms=HUGE)),
    ]
    batch: list[tuple[str, bytes]] = []
    for index, message in enumerate(_good_batch(fleet, 1)):
        batch += [message, *hostile[index : index + 1]]
    fleet.service.handle_many(batch)
    # Its next "online" heartbeat, with counters past any column, in a batch of others.
    huge_counts = {"v": 1, "state": "online", "scanned": HUGE, "queue": HUGE, "config_serial": None}
    heartbeat = json.dumps(huge_counts).encode()
    online = json.dumps({"v": 1, "state": "online", "config_serial": None}).encode()
    second = _good_batch(fleet, GOOD_PER_BATCH + 1)
    fleet.service.handle_many(
        [second[0], (status_topic, heartbeat), (status_topic, online)] + second[1:]
    )

    counts = fleet.service.counts()
    assert counts["refused:out_of_range"] == 4 and counts["refused:bad_status"] == 1
    assert counts["error:ingest"] == counts["error:status"] == 0
    assert CheckinEntry.select().where(CheckinEntry.kiosk == fleet.bad.kiosk_id).count() == 0
    assert _receipted(fleet, fleet.good.kiosk_id) == set(range(1, 2 * GOOD_PER_BATCH + 1))
    # The hostile kiosk still gets a config, with a floor any config can carry.
    configs = [parse_kiosk_config(w) for to, w in fleet.bus.configs if to == fleet.bad.kiosk_id]
    assert [c.next_seq_floor for c in configs] == [1]
    assert fleet.service.flusher.flush()


def test_revoke_still_reaches_every_kiosk(fleet: Fleet) -> None:
    fleet.service.handle_many(
        [(topics.topic(fleet.bad.kiosk_id, topics.CHECKIN), fleet.checkin(fleet.bad, HUGE))]
    )
    sent: list[str] = []
    wires = publish_revocations(
        lambda topic, wire: sent.append(topic), fleet.service.sequencer.ledger_key, revoked_ids()
    )
    assert sorted(wires) == sorted([fleet.good.kiosk_id, fleet.bad.kiosk_id])
    assert parse_kiosk_config(wires[fleet.bad.kiosk_id]).next_seq_floor == 1


def test_a_seq_stored_before_the_bounds_caps_the_floor(fleet: Fleet) -> None:
    # A database written before the bounds may already hold seq 2**63-1.
    KioskEntry.update(highest_seq=HUGE).where(KioskEntry.kiosk_id == fleet.bad.kiosk_id).execute()
    assert next_seq_floors()[fleet.bad.kiosk_id] == SEQ_MAX + 1
    wires = publish_revocations(lambda topic, wire: None, fleet.service.sequencer.ledger_key, [])
    assert parse_kiosk_config(wires[fleet.bad.kiosk_id]).next_seq_floor == SEQ_MAX + 1


def test_a_fault_in_one_status_is_counted_and_the_batch_goes_on(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = status_store.status_row

    def faulty(kiosk_id: str, status, received_ms: int) -> status_store.StatusRow:
        if kiosk_id == fleet.bad.kiosk_id:
            raise ValueError("a fault tied to this kiosk's status")
        return real(kiosk_id, status, received_ms)

    monkeypatch.setattr(status_store, "status_row", faulty)
    status = json.dumps({"v": 1, "state": "online"}).encode()
    batch = _good_batch(fleet, 1)
    batch.insert(3, (topics.topic(fleet.bad.kiosk_id, topics.STATUS), status))
    fleet.service.handle_many(batch)
    assert fleet.service.counts()["error:status"] == 1
    assert _receipted(fleet, fleet.good.kiosk_id) == set(range(1, GOOD_PER_BATCH + 1))


def test_a_record_that_cannot_be_stored_fails_only_its_kiosk(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CheckinEntry.visits_columns
    bad_prefix = fleet.bad.kiosk_id.encode()[:8]

    def unstorable(visits, *args, **kwargs):
        columns = real(visits, *args, **kwargs)
        for (checkin_id, *_), visit in zip(visits, columns, strict=True):
            if checkin_id.startswith(bad_prefix):
                visit["received_ms"] = 2**64  # beyond any column: a fault of the data
        return columns

    monkeypatch.setattr(CheckinEntry, "visits_columns", unstorable)
    good = _good_batch(fleet, 1)
    bad_topic = topics.topic(fleet.bad.kiosk_id, topics.CHECKIN)
    batch = good[:5] + [(bad_topic, fleet.checkin(fleet.bad, 1))] + good[5:]
    fleet.service.handle_many(batch)
    counts = fleet.service.counts()
    assert counts["error:store"] == 1 and counts["stored"] == GOOD_PER_BATCH
    assert _receipted(fleet, fleet.good.kiosk_id) == set(range(1, GOOD_PER_BATCH + 1))


def test_honest_signing_refuses_the_same_numbers(fleet: Fleet) -> None:
    device = keys.load_private(fleet.good.device_key_path)
    with pytest.raises(OutOfRangeError):
        sign_checkin(
            device,
            checkin_id=bytes(16),
            kiosk_id=fleet.good.kiosk_id,
            venue_id=fleet.good.venue_id,
            seq=HUGE,
            door=fleet.good.door,
            scanned_ms=0,
            clock=ClockState(True, bytes(16), 0),
            presentation=b"",
        )
