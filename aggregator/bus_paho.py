"""The aggregator's MQTT bus (paho-mqtt): :class:`MqttBus` implements :class:`aggregator.bus.Bus`.

``on_message`` only hands messages on; workers do the rest, and it never blocks, so
paho's network thread keeps writing receipts and configs however busy ingest is.

- Status messages come over a connection and session of their own (client id
  ``<client id>-status``) into the heartbeat queue (:class:`aggregator.status_box.StatusBox`,
  newest per kiosk) and are acknowledged at once. The broker delivers a session's
  messages in order through a small in-flight window, so on the check-ins' session a
  heartbeat waited behind every check-in queued before it: after a broker restart
  (kiosks resending their outboxes) the fleet view stayed short of whole for minutes
  while ingest worked through the backlog (issue 14, the reconnect storm).
- Check-ins go to the bounded inbox and are acknowledged once there. When it is full,
  they wait, unacknowledged and in order, in a short overflow line that a feeder
  thread moves into the inbox as room appears, acknowledging each as it goes in.
  Unacknowledged messages fill the broker's in-flight window for this client (20 by
  default), after which the broker keeps the rest in the session (back-pressure), so
  the line stays short and nothing acknowledged is ever dropped.

Imported only where an aggregator process builds its bus (``safecode aggregator run``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from transport.paho_client import attach_callbacks, make_client, start_loop, stop_loop
from transport.settings import MqttSettings

from .bus import MAX_PAYLOAD, Bus, status_kiosk, subscriptions
from .status_box import StatusBox

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
        # The status filter goes to the status connection; check-ins stay on this one.
        self.status_subscriptions = [t for t in self.subscriptions if status_filter(t)]
        self.subscriptions = [t for t in self.subscriptions if not status_filter(t)]
        self.inbox = queue.Queue(maxsize=inbox_size)
        self.statuses = StatusBox()
        # (message, mid, qos, connection number): waiting for room in the inbox.
        self._overflow: deque[tuple[tuple[str, bytes], int, int, int]] = deque()
        self._line = threading.Condition()
        self._connection = 0  # bumped at each disconnect: older mids are void
        self._stopped = threading.Event()
        self._feeder = threading.Thread(target=self._feed, name="bus-feeder", daemon=True)
        self.dropped = 0  # kept for the counts: back-pressure leaves it at 0
        self.oversize = 0
        self.waited = 0  # messages that found the inbox full and waited for room
        self._ready = threading.Event()
        self._paused = threading.Event()
        # Acknowledged by hand: once paused, messages are left unacknowledged, so the
        # broker hands them, in order, to the next process with this session.
        # Reads ahead: one recv and one loop pass for a burst of check-ins, not several each.
        client = make_client(settings, client_id, manual_ack=True, read_ahead=True)
        client.max_inflight_messages_set(100)
        attach_callbacks(client, self)
        self.client = client
        self.status_client: mqtt.Client | None = None
        self._status_ready = threading.Event()
        if self.status_subscriptions:
            self.status_client = _status_client(settings, f"{client_id}-status", self)
        else:
            self._status_ready.set()

    def start(self) -> None:
        self._feeder.start()
        start_loop(self.client, self.settings)
        if self.status_client is not None:
            start_loop(self.status_client, self.settings)

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._ready.wait(timeout):
            return False
        return self._status_ready.wait(max(0.0, deadline - time.monotonic()))

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        if rc.is_failure:
            log.warning("broker refused connection: %s", rc)
            return
        if self.status_subscriptions:
            # A session made before statuses had their own may still hold the filter.
            client.unsubscribe(self.status_subscriptions)
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
        with self._line:
            # Unacknowledged: the broker sends them again to this session on reconnect.
            self._connection += 1
            self._overflow.clear()

    def _on_status_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            log.warning("broker refused the status connection: %s", rc)
            return
        client.subscribe([(name, 1) for name in self.status_subscriptions])

    def _on_status_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any
    ) -> None:
        if any(rc.is_failure for rc in rcs):
            log.error(
                "broker refused the subscription to %s: the aggregator's broker account "
                "lacks the ACLs of aggregator/broker_acls.py (aggregator_acls)",
                ", ".join(self.status_subscriptions),
            )
        self._status_ready.set()

    def _on_status_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        self._status_ready.clear()

    def _on_status_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        """A status from the status connection: into the heartbeat queue, acknowledged.

        Past the box's limit of kiosks (far above any fleet) it is dropped and counted:
        a status is only its kiosk's latest word, and the kiosk beats again.
        """
        if self._paused.is_set():
            return  # unacknowledged: the broker keeps it for this session's next connect
        kiosk_id = status_kiosk(message.topic)
        size_ok = len(message.payload) <= MAX_PAYLOAD
        if kiosk_id is None or not size_ok:
            self.oversize += not size_ok
        elif not self.statuses.put(kiosk_id, (message.topic, bytes(message.payload))):
            self.dropped += 1
        client.ack(message.mid, message.qos)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._paused.is_set():
            return  # unacknowledged: the broker keeps it for this session's next connect
        if len(message.payload) > MAX_PAYLOAD:
            self.oversize += 1  # counted as refused:oversize_payload; never a valid record
            client.ack(message.mid, message.qos)
            return
        topic = message.topic  # decoded from bytes at each reading
        item = (topic, bytes(message.payload))
        kiosk_id = status_kiosk(topic)
        if kiosk_id is not None and self.statuses.put(kiosk_id, item):
            client.ack(message.mid, message.qos)
            return
        with self._line:
            if not self._overflow:
                try:
                    self.inbox.put_nowait(item)
                except queue.Full:
                    pass
                else:
                    client.ack(message.mid, message.qos)
                    return
            self.waited += 1
            self._overflow.append((item, message.mid, message.qos, self._connection))
            self._line.notify()

    def _feed(self) -> None:
        """The feeder thread: the overflow line into the inbox, in order, acknowledging
        each message once it is in (and none after a pause or a disconnect)."""
        while not self._stopped.is_set():
            with self._line:
                if not self._overflow:
                    self._line.wait(0.5)
                    continue
                item, mid, qos, connection = self._overflow[0]
            if not self._put_waiting(item):
                with self._line:
                    self._overflow.clear()  # paused: unacknowledged, the broker keeps them
                continue
            with self._line:
                if self._overflow and self._overflow[0][1:] == (mid, qos, connection):
                    self._overflow.popleft()
                if connection == self._connection:
                    self.client.ack(mid, qos)

    def _put_waiting(self, item: tuple[str, bytes]) -> bool:
        """Put ``item`` in the inbox, waiting for room; False if paused or stopped meanwhile."""
        while not self._paused.is_set() and not self._stopped.is_set():
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
        self._stopped.set()
        if self.status_client is not None:
            stop_loop(self.status_client)
        stop_loop(self.client)
        if self._feeder.is_alive():
            self._feeder.join(timeout=2)


def status_filter(topic_filter: str) -> bool:
    """The filter is the kiosks' status topics (not check-ins, shared or not)."""
    return topic_filter == topics.ALL_STATUS


def _status_client(settings: MqttSettings, client_id: str, bus: MqttBus) -> mqtt.Client:
    """The status connection's client: persistent session (wills sent while the
    aggregator is away wait for it), acknowledged by hand (none while paused)."""
    client = make_client(settings, client_id, manual_ack=True, read_ahead=True)
    client.on_connect = bus._on_status_connect
    client.on_subscribe = bus._on_status_subscribe
    client.on_disconnect = bus._on_status_disconnect
    client.on_message = bus._on_status_message
    return client
