"""The aggregator's MQTT bus (paho-mqtt): :class:`MqttBus` implements :class:`aggregator.bus.Bus`.

``on_message`` only hands messages to a bounded queue; workers do the rest. A message
is acknowledged to the broker only once it is in that queue: when the queue is full,
paho's network thread waits for room and reads nothing more meanwhile, so the broker
keeps the rest (back-pressure) and nothing acknowledged is ever dropped. Imported
only where an aggregator process builds its bus (``safecode aggregator run``).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from transport.paho_client import attach_callbacks, make_client, start_loop, stop_loop
from transport.settings import MqttSettings

from .bus import MAX_PAYLOAD, Bus, subscriptions

log = logging.getLogger(__name__)


class MqttBus(Bus):
    """paho-mqtt 2.x client with a persistent session, so check-ins wait while it is away."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str = "safecode-aggregator",
        *,
        shared_group: str | None = None,
        ingest: bool = True,
        inbox_size: int = 20_000,
    ) -> None:
        """``shared_group`` takes check-ins through ``$share/<group>/...`` so several
        ingest processes split them; ``ingest=False`` subscribes to nothing (sequencer)."""
        self.settings = settings
        self.subscriptions = subscriptions(shared_group) if ingest else []
        self.inbox = queue.Queue(maxsize=inbox_size)
        self.dropped = 0  # kept for the counts: back-pressure leaves it at 0
        self.oversize = 0
        self.waited = 0  # messages that found the inbox full and waited for room
        self._ready = threading.Event()
        self._paused = threading.Event()
        # Acknowledged by hand: once paused, messages are left unacknowledged, so the
        # broker hands them, in order, to the next process with this session.
        client = make_client(settings, client_id, manual_ack=True)
        client.max_inflight_messages_set(100)
        attach_callbacks(client, self)
        self.client = client

    def start(self) -> None:
        start_loop(self.client, self.settings)

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        if rc.is_failure:
            log.warning("broker refused connection: %s", rc)
            return
        if not self.subscriptions:
            self._ready.set()
            return
        client.subscribe([(name, 1) for name in self.subscriptions])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any):
        refused = [name for name, rc in zip(self.subscriptions, rcs, strict=False) if rc.is_failure]
        if refused:
            log.error(
                "broker refused the subscription to %s: the aggregator's broker account "
                "lacks the ACLs of aggregator/broker_acls.py (aggregator_acls)",
                ", ".join(refused),
            )
        self._ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self._ready.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._paused.is_set():
            return  # unacknowledged: the broker keeps it for this session's next connect
        if len(message.payload) > MAX_PAYLOAD:
            self.oversize += 1  # counted as refused:oversize_payload; never a valid record
        elif not self._enqueue((message.topic, bytes(message.payload))):
            return  # paused while it waited: unacknowledged, the broker keeps it
        client.ack(message.mid, message.qos)

    def _enqueue(self, item: tuple[str, bytes]) -> bool:
        """Put ``item`` in the inbox, waiting for room; False if paused meanwhile.

        While it waits, this (paho's network) thread reads no more messages and
        acknowledges none, so the broker holds them (up to its inflight window,
        then in this session's queue) until the workers catch up.
        """
        try:
            self.inbox.put_nowait(item)
            return True
        except queue.Full:
            self.waited += 1
        while not self._paused.is_set():
            try:
                self.inbox.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def send_answer(self, kiosk_id: str, wire: bytes) -> None:
        self.client.publish(topics.topic(kiosk_id, topics.RECEIPT), wire, qos=1)

    def pause(self, timeout: float = 2.0) -> None:
        """Take no more messages: from now on they stay unacknowledged at the broker.

        The subscriptions stay (so the persistent session keeps queueing), and the
        messages delivered meanwhile are redelivered, in order, on the next connect
        of this session; the ones already in the inbox are for the caller to finish.
        """
        self._paused.set()

    def publish_config(self, kiosk_id: str, wire: bytes) -> None:
        self.client.publish(topics.topic(kiosk_id, topics.CONFIG), wire, qos=1, retain=True)

    def stop(self) -> None:
        stop_loop(self.client)
