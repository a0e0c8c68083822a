"""The aggregator's bus acknowledges a message only once its inbox holds it (issue 13, item 5).

A burst larger than the inbox is held at the broker (back-pressure) instead of being
acknowledged and dropped as ``inbox_full``: every message arrives, once, in order.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from aggregator.bus_paho import MqttBus
from protocol import topics
from simulator.broker import LocalBroker
from tests.waiting import wait_until
from transport.settings import MqttSettings

BURST = 300
INBOX = 10

pytestmark = pytest.mark.spawns


def test_a_burst_beyond_the_inbox_waits_at_the_broker(own_broker: LocalBroker) -> None:
    settings = MqttSettings(host=own_broker.host, port=own_broker.port)
    bus = MqttBus(settings, "backpressure-aggregator", inbox_size=INBOX)
    bus.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="backpressure-kiosk")
    sender.max_inflight_messages_set(BURST)
    sender.connect(own_broker.host, own_broker.port)
    sender.loop_start()
    try:
        assert bus.wait_connected(10)
        topic = topics.topic("kiosk-1", topics.CHECKIN)
        infos = [sender.publish(topic, b"checkin %d" % n, qos=1) for n in range(BURST)]
        for info in infos:
            info.wait_for_publish(10)
        wait_until(bus.inbox.full, 10, message="a full inbox")
        received: list[bytes] = []

        def drained() -> bool:
            while not bus.inbox.empty():
                received.append(bus.inbox.get_nowait()[1])
            return len(received) >= BURST

        wait_until(drained, 20, interval=0.01, message="every message of the burst")
        assert bus.dropped == 0
        assert bus.waited > 0  # the burst really was larger than the inbox
        assert received == [b"checkin %d" % n for n in range(BURST)]
    finally:
        sender.loop_stop()
        sender.disconnect()
        bus.stop()


def test_a_heartbeat_does_not_wait_behind_held_check_ins(own_broker: LocalBroker) -> None:
    """Check-ins held at the broker (the inbox full, nobody taking) do not hold back the
    kiosks' status messages: those come over a session of their own (issue 14, the
    reconnect storm, where the fleet view waited behind ingest's backlog)."""
    settings = MqttSettings(host=own_broker.host, port=own_broker.port)
    bus = MqttBus(settings, "heartbeat-aggregator", inbox_size=INBOX)
    bus.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="heartbeat-kiosk")
    sender.max_inflight_messages_set(BURST)
    sender.connect(own_broker.host, own_broker.port)
    sender.loop_start()
    try:
        assert bus.wait_connected(10)
        checkin = topics.topic("kiosk-1", topics.CHECKIN)
        infos = [sender.publish(checkin, b"checkin %d" % n, qos=1) for n in range(BURST)]
        for info in infos:
            info.wait_for_publish(10)
        wait_until(bus.inbox.full, 10, message="a full inbox")
        status = topics.topic("kiosk-2", topics.STATUS)
        sender.publish(status, b"online", qos=1).wait_for_publish(10)
        wait_until(lambda: len(bus.statuses) == 1, 5, message="the heartbeat past the backlog")
        assert bus.statuses.take() == [("kiosk-2", (status, b"online"))]
        assert bus.inbox.full()  # nothing was taken from the inbox meanwhile
    finally:
        sender.loop_stop()
        sender.disconnect()
        bus.stop()
