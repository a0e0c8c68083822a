"""The paho-mqtt adapter of :class:`transport.session.Session`."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

from .paho_client import make_client
from .session import Session, SessionCallbacks
from .settings import MqttSettings


class PahoSession(Session):
    """A paho-mqtt 2.x client whose callbacks hand on plain values."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        callbacks: SessionCallbacks,
        *,
        persistent: bool,
        manual_ack: bool,
        connect_timeout: float,
    ) -> None:
        self.settings = settings
        self.callbacks = callbacks
        client = make_client(settings, client_id, persistent=persistent, manual_ack=manual_ack)
        client.connect_timeout = connect_timeout
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.client = client

    def connect(self) -> None:
        settings = self.settings
        self.client.connect(settings.host, settings.port, settings.keepalive)
        self.client.loop_start()

    def subscribe(self, topic_filter: str) -> None:
        self.client.subscribe(topic_filter, qos=1)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self.callbacks.connected(str(rc) if rc.is_failure else None)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any):
        self.callbacks.subscribed(not any(rc.is_failure for rc in rcs))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.callbacks.message(message.topic, bytes(message.payload))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self.callbacks.disconnected(str(rc))
