"""Floods from one kiosk cost little and stay quiet (issue 13, item 5).

Heartbeats are coalesced per kiosk (newest wins) and counted, a config is signed
again only when its content changes, and refusals go through the rate-limited log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.config_memory import PublishedConfigs
from aggregator.db import KioskEntry
from aggregator.heartbeat_gate import HeartbeatGate
from aggregator.revocation_push import RevocationWatch
from aggregator.revocations import revoke
from aggregator.service import AggregatorService
from protocol import topics
from protocol.kiosk_config import parse_kiosk_config
from protocol.status import encode_status
from simulator.site import init_simulated_site
from tests.unit.fake_bus import ConfigBus
from tests.waiting import wait_until

STATUS = topics.topic("kiosk-1", topics.STATUS)


def _service(tmp_path: Path, **changes: object) -> tuple[AggregatorService, ConfigBus]:
    site = init_simulated_site(tmp_path / "site", kiosks=2, visitors=1)
    config = dataclasses.replace(load_config(site.aggregator_config), **changes)
    bus = ConfigBus()
    return AggregatorService(config, bus, on_event=lambda line: None, roles={"ingest"}), bus


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_gate_lets_one_heartbeat_a_kiosk_through_per_interval_newest_wins() -> None:
    clock = FakeClock()
    gate: HeartbeatGate[str] = HeartbeatGate(1.0, clock)
    assert gate.admit("kiosk-1", "first")
    assert gate.admit("kiosk-2", "other kiosk")  # each kiosk has its own allowance
    assert [gate.admit("kiosk-1", f"storm {n}") for n in range(100)] == [False] * 100
    assert gate.coalesced == 99 and gate.pending() == 1
    assert gate.due() == []  # not yet: the interval has not passed
    clock.now += 1.0
    assert gate.due() == ["storm 99"]
    assert not gate.admit("kiosk-1", "too soon after the released one")
    clock.now += 5.0
    assert gate.due() == ["too soon after the released one"]
    clock.now += 5.0
    gate.due()  # a quiet kiosk is forgotten, then passes at once again
    assert gate.admit("kiosk-1", "much later")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_heartbeat_storm_costs_one_status_write_per_interval(
    tmp_path: Path, workers: int
) -> None:
    service, bus = _service(tmp_path, ingest_workers=workers, heartbeat_interval_s=0.3)
    written: list[str] = []
    note_statuses = service._note_statuses

    def counting_note_statuses(statuses: list[tuple[str, bytes]]) -> None:
        written.extend(kiosk_id for kiosk_id, _ in statuses)
        note_statuses(statuses)

    service._note_statuses = counting_note_statuses  # type: ignore[method-assign]
    storm = 3000
    for n in range(storm):
        state = "offline" if n % 2 else "online"
        bus.inbox.put((STATUS, encode_status(state, config_serial=None)))
    last = encode_status("online", config_serial=7)
    bus.inbox.put((STATUS, last))
    service.start()
    try:

        def settled() -> bool:
            stored = KioskEntry.get_by_id("kiosk-1").last_status
            return stored is not None and json.loads(stored) == json.loads(last)

        wait_until(settled, 10, message="the newest heartbeat stored")
    finally:
        service.stop()
    assert len(written) <= 10, len(written)  # not one database write per heartbeat
    coalesced = service.counts()["dropped:heartbeat_coalesced"]
    assert coalesced + len(written) == storm + 1
    assert len(bus.configs) <= len(written)


def test_a_held_heartbeat_is_stored_at_a_clean_stop(tmp_path: Path) -> None:
    # Acknowledged to the broker but held by the rate limit: the kiosk's last word
    # (here its last will, offline) must not vanish with the process.
    service, bus = _service(tmp_path, heartbeat_interval_s=60.0)
    bus.inbox.put((STATUS, encode_status("online", config_serial=None)))
    service.start()
    try:
        wait_until(
            lambda: KioskEntry.get_by_id("kiosk-1").last_status is not None,
            10,
            message="the first heartbeat stored",
        )
        bus.inbox.put((STATUS, encode_status("offline")))
        wait_until(lambda: service.heartbeats.pending() == 1, 10, message="the will held")
    finally:
        service.stop()
    service.db.connect(reuse_if_open=True)
    try:
        assert json.loads(KioskEntry.get_by_id("kiosk-1").last_status)["state"] == "offline"
    finally:
        service.db.close()


def test_an_unchanged_config_is_not_signed_again(tmp_path: Path) -> None:
    service, bus = _service(tmp_path)
    try:
        service.handle(STATUS, encode_status("online", config_serial=None))
        assert len(bus.configs) == 1
        first = parse_kiosk_config(bus.configs[0][1])
        for _ in range(200):  # alternating offline/online, nothing changed
            service.handle(STATUS, encode_status("offline"))
            service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert len(bus.configs) == 1
        assert service.counts()["configs_unchanged"] == 200
        # A kiosk that says it holds none gets the same bytes, not a new signature.
        service.handle(STATUS, encode_status("offline"))
        service.handle(STATUS, encode_status("online", config_serial=None))
        assert bus.configs[1] == bus.configs[0]
        # New content (a revocation) is signed and sent.
        revoke([b"\x01" * 8])
        service.handle(STATUS, encode_status("offline"))
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert len(bus.configs) == 3
        assert parse_kiosk_config(bus.configs[2][1]).revoked == frozenset({b"\x01" * 8})
        assert service.counts()["configs_sent"] == 2
    finally:
        service.db.close()


def test_a_kiosk_holding_an_older_config_gets_the_newest_again(tmp_path: Path) -> None:
    # The broker lost the retained newest config (killed before its autosave) and the
    # kiosk came back holding the one before: unchanged content must still reach it.
    service, bus = _service(tmp_path)
    try:
        service.handle(STATUS, encode_status("online", config_serial=None))
        first = parse_kiosk_config(bus.configs[0][1])
        revoke([b"\x02" * 8])
        service.handle(STATUS, encode_status("offline"))
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        newest = bus.configs[-1]
        assert parse_kiosk_config(newest[1]).serial > first.serial
        service.handle(STATUS, encode_status("offline"))
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert bus.configs[-1] == newest and len(bus.configs) == 3  # the same bytes again
        assert service.counts()["configs_resent"] == 1
        held = parse_kiosk_config(newest[1]).serial
        service.handle(STATUS, encode_status("offline"))
        service.handle(STATUS, encode_status("online", config_serial=held))
        assert len(bus.configs) == 3  # up to date: nothing sent
    finally:
        service.db.close()


def test_refusals_are_logged_through_the_rate_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    service, bus = _service(tmp_path, log_lines_per_reason=3, log_interval_s=3600)
    service._on_event = events.append
    checkin = topics.topic("kiosk-1", topics.CHECKIN)
    try:
        with caplog.at_level(logging.INFO, logger="aggregator.service"):
            for n in range(500):
                service.handle(checkin, b"\xff garbage %d" % n)
    finally:
        service.db.close()
    assert service.counts()["refused:malformed"] == 500
    refused = [r for r in caplog.records if "refused a check-in" in r.getMessage()]
    refused += [line for line in events if "refused a check-in" in line]
    assert 1 <= len(refused) <= 3, len(refused)


def test_a_revocation_reaches_a_kiosk_that_stays_online(tmp_path: Path) -> None:
    service, bus = _service(tmp_path)
    clock = FakeClock()
    service.revocation_watch = RevocationWatch(refresh_s=5, gap_s=30, clock=clock)
    try:
        service.handle(STATUS, encode_status("online", config_serial=None))
        first = parse_kiosk_config(bus.configs[-1][1])
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert len(bus.configs) == 1  # nothing moved: no new config
        revoke([b"\x03" * 8])  # a wallet left while the kiosk stayed online
        clock.now += 10  # the list is read again; but the kiosk's last config is fresh
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert len(bus.configs) == 1
        clock.now += 25
        service.handle(STATUS, encode_status("online", config_serial=first.serial))
        assert len(bus.configs) == 2
        assert parse_kiosk_config(bus.configs[-1][1]).revoked == frozenset({b"\x03" * 8})
        assert service.counts()["configs_pushed"] == 1
        clock.now += 60  # up to date now: heartbeats cost no signature
        service.handle(STATUS, encode_status("online", config_serial=first.serial + 1))
        assert len(bus.configs) == 2
    finally:
        service.db.close()


def test_a_restarted_aggregator_does_not_resign_every_online_kiosk(tmp_path: Path) -> None:
    service, bus = _service(tmp_path)
    clock = FakeClock()
    try:
        revoke([b"\x04" * 8])
        service.handle(STATUS, encode_status("online", config_serial=None))  # came online
        held = parse_kiosk_config(bus.configs[-1][1]).serial
        # A new process: it remembers nothing it sent; the kiosk stays online.
        service.published_configs = PublishedConfigs()
        service.revocation_watch = RevocationWatch(refresh_s=0, gap_s=0, clock=clock)
        for _ in range(3):
            clock.now += 1
            service.handle(STATUS, encode_status("online", config_serial=held))
        assert len(bus.configs) == 1
    finally:
        service.db.close()


def test_a_reboot_seen_only_in_a_coalesced_heartbeat_still_gets_its_config(
    tmp_path: Path,
) -> None:
    """Offline and online coalesced away (newest per kiosk wins), the heartbeat's new boot
    id still counts as coming online: the kiosk is sent its config (sequence floor)."""
    service, bus = _service(tmp_path)
    first_boot, second_boot = "a" * 32, "b" * 32
    try:
        service.handle(STATUS, encode_status("online", config_serial=None, clock_boot=first_boot))
        held = parse_kiosk_config(bus.configs[-1][1]).serial
        service.handle(STATUS, encode_status("online", config_serial=held, clock_boot=first_boot))
        assert len(bus.configs) == 1  # same boot, holding its config: nothing to send
        # Its check-ins up to seq 41 are in the ledger; a power cut took the last from its
        # outbox. It rebooted; its will and bare "online" were replaced by this heartbeat.
        KioskEntry.update(highest_seq=41).where(KioskEntry.kiosk_id == "kiosk-1").execute()
        service.handle(STATUS, encode_status("online", config_serial=held, clock_boot=second_boot))
        assert len(bus.configs) == 2
        assert parse_kiosk_config(bus.configs[-1][1]).next_seq_floor == 42
        service.handle(STATUS, encode_status("online", config_serial=held, clock_boot=second_boot))
        assert len(bus.configs) == 2
    finally:
        service.db.close()
