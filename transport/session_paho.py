"""The paho-mqtt adapter of :class:`transport.session.Session`."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

from .paho_client import attach_callbacks, make_client, start_loop, stop_loop
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
        attach_callbacks(client, self)
        self.client = client

    def connect(self) -> None:
        start_loop(self.client, self.settings, wait=True)

    def subscribe(self, topic_filter: str) -> None:
        self.client.subscribe(topic_filter, qos=1)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        stop_loop(self.client)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self.callbacks.connected(str(rc) if rc.is_failure else None)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any):
        self.callbacks.subscribed(not any(rc.is_failure for rc in rcs))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.callbacks.message(message.topic, bytes(message.payload))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self.callbacks.disconnected(str(rc))
