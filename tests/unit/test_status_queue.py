"""Heartbeats apart from check-ins: the status queue, the config back-off, a bus that
never blocks its network thread (issue 14, item 1)."""

from __future__ import annotations

import dataclasses
import queue
import threading
from pathlib import Path
from types import SimpleNamespace

from aggregator.bus_paho import MqttBus
from aggregator.config import load_config
from aggregator.config_pacing import ConfigPacer
from aggregator.service import AggregatorService
from aggregator.status_box import StatusBox
from protocol import topics
from protocol.kiosk_config import parse_kiosk_config
from protocol.status import encode_status
from simulator.site import init_simulated_site
from tests.unit.fake_bus import ConfigBus
from tests.waiting import wait_until
from transport.settings import MqttSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_status_box_keeps_the_newest_per_kiosk_and_refuses_past_its_limit() -> None:
    box = StatusBox(limit=2)
    assert box.put("a", ("t", b"1")) and box.put("b", ("t", b"2"))
    assert box.put("a", ("t", b"3"))  # replaces a's older one
    assert not box.put("c", ("t", b"4"))  # a third kiosk: full
    assert box.coalesced == 1
    assert box.take() == [("a", ("t", b"3")), ("b", ("t", b"2"))]
    assert box.take() == [] and len(box) == 0


def test_a_config_resend_backs_off_until_the_kiosk_holds_one() -> None:
    clock = FakeClock()
    pacer = ConfigPacer(first_s=30, max_s=100, clock=clock)
    pacer.sent("k")  # came online holding none: sent at once
    assert not pacer.allow("k")
    clock.now += 30
    assert pacer.allow("k") and not pacer.allow("k")
    clock.now += 59
    assert not pacer.allow("k")  # the window doubled to 60 s
    clock.now += 1
    assert pacer.allow("k")
    clock.now += 100
    assert pacer.allow("k")  # capped at 100 s
    pacer.settled("k")
    assert pacer.waiting() == 0 and pacer.allow("k")


def test_heartbeats_before_the_config_arrives_do_not_resend_it(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    bus = ConfigBus()
    service = AggregatorService(
        load_config(site.aggregator_config), bus, on_event=lambda line: None, roles={"ingest"}
    )
    clock = FakeClock()
    service.config_pacer = ConfigPacer(first_s=30, max_s=600, clock=clock)
    status = topics.topic("kiosk-1", topics.STATUS)
    try:
        service.handle(status, encode_status("online", config_serial=None))
        assert len(bus.configs) == 1
        for _ in range(6):  # 15 s apart, still holding none: the config is on its way
            clock.now += 15
            service.handle(status, encode_status("online", config_serial=None))
        assert len(bus.configs) == 3  # again at 30 s, and 60 s after that (at 90 s)
        assert service.counts()["configs_paced"] == 4
        serial = parse_kiosk_config(bus.configs[0][1]).serial
        service.handle(status, encode_status("online", config_serial=serial))
        assert service.config_pacer.waiting() == 0
    finally:
        service.db.close()


def test_heartbeats_go_to_the_status_thread_not_the_ingest_queues(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=2, visitors=1)
    config = dataclasses.replace(load_config(site.aggregator_config), ingest_workers=2)
    bus = ConfigBus()
    service = AggregatorService(config, bus, on_event=lambda line: None, roles={"ingest"})
    handled: list[list[tuple[str, bytes]]] = []
    handle_many = service.handle_many

    def recording(messages: list[tuple[str, bytes]]) -> None:
        handled.append(list(messages))
        handle_many(messages)

    service.handle_many = recording  # type: ignore[method-assign]
    for kiosk_id in ("kiosk-1", "kiosk-2"):
        bus.inbox.put((topics.topic(kiosk_id, topics.STATUS), encode_status("online")))
    service.start()
    try:
        wait_until(lambda: sum(map(len, handled)) == 2, 10, message="both heartbeats stored")
    finally:
        service.stop()
    threads = {name for name in service._threads}
    assert "status" in threads
    assert all(len(batch) == 2 for batch in handled)  # one batch: the status thread's


class FakeClient:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)


def _message(mid: int, topic: str, payload: bytes = b"x") -> SimpleNamespace:
    return SimpleNamespace(mid=mid, qos=1, topic=topic, payload=payload)


def test_a_full_inbox_never_blocks_the_network_thread_and_keeps_the_order() -> None:
    bus = MqttBus(MqttSettings(), inbox_size=2)
    client = FakeClient()
    bus.client = client  # type: ignore[assignment]
    checkin = topics.topic("kiosk-1", topics.CHECKIN)
    status = topics.topic("kiosk-1", topics.STATUS)
    done = threading.Event()

    def deliver() -> None:  # paho's network thread
        for mid in range(1, 7):
            bus._on_message(client, None, _message(mid, checkin, b"%d" % mid))
        bus._on_message(client, None, _message(7, status))
        done.set()

    threading.Thread(target=deliver, daemon=True).start()
    assert done.wait(2), "on_message blocked on the full inbox"
    assert client.acked == [1, 2, 7]  # the inbox's two, and the heartbeat at once
    assert len(bus.statuses) == 1
    bus._feeder.start()
    try:
        got = [bus.inbox.get(timeout=2)[1] for _ in range(6)]
    finally:
        bus._stopped.set()
        bus._feeder.join(timeout=2)
    assert got == [b"1", b"2", b"3", b"4", b"5", b"6"]
    wait_until(lambda: client.acked[3:] == [3, 4, 5, 6], 2, message="acknowledged in order")


def test_a_disconnect_leaves_the_overflow_unacknowledged() -> None:
    bus = MqttBus(MqttSettings(), inbox_size=1)
    client = FakeClient()
    bus.client = client  # type: ignore[assignment]
    checkin = topics.topic("kiosk-1", topics.CHECKIN)
    for mid in (1, 2, 3):
        bus._on_message(client, None, _message(mid, checkin))
    bus._on_disconnect(client, None, None, None, None)
    assert client.acked == [1]
    bus.inbox.get_nowait()
    bus._feeder.start()
    try:
        bus._on_message(client, None, _message(1, checkin))  # the broker sends it again
        assert client.acked == [1, 1]
    finally:
        bus._stopped.set()
        bus._feeder.join(timeout=2)
    assert bus.inbox.qsize() == 1
    try:
        bus.inbox.get_nowait()
    except queue.Empty:  # pragma: no cover - asserted above
        raise
