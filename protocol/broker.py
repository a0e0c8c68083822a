"""How a kiosk or the aggregator reaches the MQTT broker: settings and a client factory."""

from __future__ import annotations

from dataclasses import dataclass

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class MqttSettings:
    """Broker address, credentials and TLS options."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: int = 30


def make_client(settings: MqttSettings, client_id: str) -> mqtt.Client:
    """A paho-mqtt 2.x client (VERSION2 callbacks) with a persistent session.

    The session survives disconnects, so QoS 1 messages wait at the broker while
    the client is away. Credentials, TLS and reconnect backoff come from ``settings``.
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
