"""The kiosk's link to the aggregator. The core sees only :class:`Link`; paho lives here.

MQTT hygiene: client id = kiosk id, a persistent session so receipts wait at
the broker while the kiosk is away, a retained last will ``offline`` on the
status topic, a retained ``online`` status on every connect, QoS 1 everywhere,
automatic reconnect with backoff, TLS and per-device credentials when configured.
"""

from __future__ import annotations

import abc
import logging
import queue
import threading
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.broker import MqttSettings, make_client
from protocol.status import encode_status

log = logging.getLogger(__name__)


class Link(abc.ABC):
    """What the kiosk core needs from its uplink."""

    receipts: queue.Queue[bytes]

    @abc.abstractmethod
    def start(self) -> None:
        """Begin connecting (in the background)."""

    @abc.abstractmethod
    def publish_checkin(self, wire: bytes) -> bool:
        """Hand a check-in to the uplink; False if it could not be queued now."""

    @abc.abstractmethod
    def publish_status(self, **figures: Any) -> None:
        """Publish the retained online status with current figures."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether the uplink is connected right now."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Publish offline status and disconnect."""


class MqttLink(Link):
    """The MQTT uplink (paho-mqtt 2.x, VERSION2 callbacks)."""

    def __init__(self, kiosk_id: str, settings: MqttSettings) -> None:
        self.kiosk_id = kiosk_id
        self.settings = settings
        self.receipts = queue.Queue(maxsize=10_000)
        self._connected = threading.Event()
        self._status_topic = topics.topic(kiosk_id, topics.STATUS)
        self._checkin_topic = topics.topic(kiosk_id, topics.CHECKIN)
        self._receipt_topic = topics.topic(kiosk_id, topics.RECEIPT)
        client = make_client(settings, client_id=kiosk_id)
        client.will_set(self._status_topic, encode_status("offline"), qos=1, retain=True)
        client.max_queued_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        if rc.is_failure:
            log.warning("broker refused connection: %s", rc)
            return
        client.subscribe(self._receipt_topic, qos=1)
        client.publish(self._status_topic, encode_status("online"), qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic != self._receipt_topic:
            log.warning("ignored message on unexpected topic %.80r", message.topic)
            return
        try:
            self.receipts.put_nowait(bytes(message.payload))
        except queue.Full:
            log.warning("receipt queue full; the aggregator will be asked again by resends")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def publish_checkin(self, wire: bytes) -> bool:
        if not self.connected:
            return False
        info = self.client.publish(self._checkin_topic, wire, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_status(self, **figures: Any) -> None:
        if self.connected:
            payload = encode_status("online", **figures)
            self.client.publish(self._status_topic, payload, qos=1, retain=True)

    def stop(self) -> None:
        try:
            if self.connected:
                info = self.client.publish(
                    self._status_topic, encode_status("offline"), qos=1, retain=True
                )
                info.wait_for_publish(timeout=2)
        except (RuntimeError, ValueError) as exc:  # the connection dropped meanwhile
            log.info("could not publish offline status: %s", exc)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
