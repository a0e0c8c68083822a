"""Several ingest workers keep each kiosk's check-ins in the order they arrived."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from aggregator.config import load_config
from aggregator.db import CheckinEntry
from aggregator.service import AggregatorService
from kiosk.config import load_config as load_kiosk_config
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from simulator.site import init_simulated_site
from simulator.visitors import load_crowd
from tests.unit.fake_bus import ConfigBus, QueueBus


def test_each_kiosks_checkins_are_stored_in_arrival_order(tmp_path: Path) -> None:
    per_kiosk = 40
    # One visitor per check-in: the same code twice would be a replay.
    site = init_simulated_site(tmp_path / "site", kiosks=3, visitors=per_kiosk * 3)
    config = dataclasses.replace(
        load_config(site.aggregator_config), ingest_workers=3, ingest_batch=7
    )
    wallets = iter(load_crowd(site.crowd_file))
    kiosks = [load_kiosk_config(path) for path in site.kiosk_configs]
    bus = QueueBus()
    now = time.time()
    for seq in range(1, per_kiosk + 1):
        for kiosk in kiosks:
            wire = sign_checkin(
                keys.load_private(kiosk.device_key_path),
                checkin_id=f"{kiosk.kiosk_id}/{seq}".encode().ljust(16, b"\0")[:16],
                kiosk_id=kiosk.kiosk_id,
                venue_id=kiosk.venue_id,
                seq=seq,
                door=kiosk.door,
                scanned_ms=int(now * 1000),
                clock=ClockState(True, bytes(16), seq),
                presentation=next(wallets).show(now).to_bytes(),
            )
            bus.inbox.put((topics.topic(kiosk.kiosk_id, topics.CHECKIN), wire))
    service = AggregatorService(config, bus, on_event=lambda line: None, roles={"ingest"})
    service.start()
    try:
        deadline = time.monotonic() + 30
        while CheckinEntry.select().count() < per_kiosk * len(kiosks):
            assert time.monotonic() < deadline, "not everything was stored"
            time.sleep(0.05)
    finally:
        service.stop()
    service.db.connect(reuse_if_open=True)
    for kiosk in kiosks:
        rows = CheckinEntry.select().where(CheckinEntry.kiosk == kiosk.kiosk_id)
        stored = [row.seq for row in rows.order_by(CheckinEntry.id)]
        assert stored == list(range(1, per_kiosk + 1)), kiosk.kiosk_id
    service.db.close()


def test_a_kiosk_coming_online_gets_its_config(tmp_path: Path) -> None:
    from aggregator.revocations import revoke
    from protocol.kiosk_config import parse_kiosk_config
    from protocol.status import encode_status

    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    config = load_config(site.aggregator_config)
    bus = ConfigBus()
    service = AggregatorService(config, bus, on_event=lambda line: None, roles={"ingest"})
    status_topic = topics.topic("kiosk-1", topics.STATUS)
    try:
        service.handle_many([(status_topic, encode_status("online", config_serial=None))])
        service.handle_many([(status_topic, encode_status("online", config_serial=5))])
        service.handle_many([(status_topic, encode_status("offline"))])
        # Its config changed meanwhile (an unchanged one is not signed again: test_floods).
        revoke([b"\x01" * 8])
        service.handle_many([(status_topic, encode_status("online", config_serial=5))])
    finally:
        service.db.close()
    assert [kiosk for kiosk, _ in bus.configs] == ["kiosk-1", "kiosk-1"]
    message = parse_kiosk_config(bus.configs[0][1])
    message.verify(keys.load_private(config.ledger_key_path).public_key())
    assert message.next_seq_floor == 1 and message.revoked == frozenset()
