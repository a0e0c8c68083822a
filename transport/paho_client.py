"""The paho-mqtt client factory: one place that turns :class:`MqttSettings` into a client."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from .settings import MqttSettings


def make_client(
    settings: MqttSettings, client_id: str, *, persistent: bool = True, manual_ack: bool = False
) -> mqtt.Client:
    """A paho-mqtt 2.x client (VERSION2 callbacks), by default with a persistent session.

    The session survives disconnects, so QoS 1 messages wait at the broker while
    the client is away. Credentials, TLS and reconnect backoff come from ``settings``;
    unreadable TLS files raise OSError or ssl.SSLError here, not later in a thread.
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    context = settings.tls_context()
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(
        min_delay=settings.reconnect_min_s, max_delay=settings.reconnect_max_s
    )
    return client
