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


CALLBACKS = ("on_connect", "on_connect_fail", "on_disconnect", "on_subscribe", "on_message")


def attach_callbacks(client: mqtt.Client, owner: object) -> None:
    """Point each of paho's ``on_*`` callbacks at ``owner``'s ``_on_*`` method, where it has one."""
    for name in CALLBACKS:
        method = getattr(owner, f"_{name}", None)
        if method is not None:
            setattr(client, name, method)


def start_loop(client: mqtt.Client, settings: MqttSettings, *, wait: bool = False) -> None:
    """Connect to the broker of ``settings`` (in the background unless ``wait``) and start
    paho's network thread, which then reconnects with backoff by itself."""
    if wait:
        client.connect(settings.host, settings.port, settings.keepalive)
    else:
        client.connect_async(settings.host, settings.port, settings.keepalive)
    client.loop_start()


def stop_loop(client: mqtt.Client) -> None:
    """Disconnect and stop paho's network thread."""
    client.disconnect()
    client.loop_stop()
