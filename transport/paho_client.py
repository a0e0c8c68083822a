"""The paho-mqtt client factory: one place that turns :class:`MqttSettings` into a client."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.matcher import MQTTMatcher

from .read_ahead import ReadAheadSocket
from .settings import MqttSettings


class _LoopWake:
    """paho's wake-up socket, silent when the client's own loop thread writes to it."""

    __slots__ = ("_sock", "_client")

    def __init__(self, sock: Any, client: mqtt.Client) -> None:
        self._sock = sock
        self._client = client

    def send(self, data: bytes) -> int:
        if threading.current_thread() is getattr(self._client, "_thread", None):
            return len(data)
        return self._sock.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _FilterMatcher(MQTTMatcher):
    """paho's per-topic callback filters, not walked for each message while there are none.

    paho looks up ``message_callback_add`` filters for every message it receives; with
    none added (the aggregator adds none) its tree walk finds nothing, at some cost per
    message. Once a filter is added the walk is paho's own.
    """

    def iter_match(self, topic: str) -> Iterator[Any]:
        if not self._root._children:
            return iter(())
        return super().iter_match(topic)


class ReadAheadClient(mqtt.Client):
    """A paho client for a busy subscriber: its socket reads ahead (transport.read_ahead).

    Each pass of paho's loop reads every packet already read ahead before it writes,
    waits or looks at the socket again, so a burst of messages costs one ``recv`` and
    one loop pass instead of several of each per message. Acknowledgements queued
    meanwhile go out at the end of the pass, as paho sends them anyway.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message_filtered = _FilterMatcher()

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())

    # paho writes a byte to its wake-up socket pair for every packet it queues, to
    # break its loop out of ``select``. A packet queued by the loop's own thread (an
    # acknowledgement sent from ``on_message``) needs no wake-up: each pass of the
    # loop asks the socket for writing whenever packets wait. Other threads still
    # wake it (:class:`_LoopWake`).
    @property
    def _sockpairW(self) -> Any:  # noqa: N802 - paho's attribute name
        return self.__dict__.get("_loop_wake")

    @_sockpairW.setter
    def _sockpairW(self, sock: Any) -> None:  # noqa: N802 - paho's attribute name
        self.__dict__["_loop_wake"] = None if sock is None else _LoopWake(sock, self)

    def _packet_write(self) -> mqtt.MQTTErrorCode:
        """paho's write, after joining the acknowledgements waiting in a row into one."""
        join_acks(self._out_packet)
        return super()._packet_write()

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        while (
            rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            and isinstance(sock, ReadAheadSocket)
            and sock is self._sock
            and sock.buffered()
        ):
            rc = super().loop_read(max_packets)
        return rc


#: Bytes of acknowledgements joined into one write (a PUBACK is 4 bytes).
JOIN_LIMIT = 16_384


def join_acks(out: deque[Any]) -> None:
    """Join the unsent PUBACKs at the head of paho's outgoing queue into one packet.

    paho sends each queued packet with its own ``send``: one system call (and one
    wake-up of the broker) per acknowledged message. A PUBACK needs nothing done once
    written (paho acts on a written packet only for QoS 0 publishes and DISCONNECT),
    so a run of them can go as one write of their bytes, in the same order. Only the
    head of the queue is touched: other threads only append at its tail.
    """
    if len(out) < 2 or not _is_fresh_ack(out[0]) or not _is_fresh_ack(out[1]):
        return
    first = out.popleft()
    parts = [first["packet"]]
    size = len(first["packet"])
    while out and size < JOIN_LIMIT and _is_fresh_ack(out[0]):
        packet = out.popleft()["packet"]
        parts.append(packet)
        size += len(packet)
    joined = b"".join(parts)
    out.appendleft({**first, "packet": joined, "pos": 0, "to_process": len(joined)})


def _is_fresh_ack(packet: dict[str, Any]) -> bool:
    """A PUBACK none of which has been written yet."""
    return packet["command"] & 0xF0 == mqtt.PUBACK and packet["pos"] == 0


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    persistent: bool = True,
    manual_ack: bool = False,
    read_ahead: bool = False,
) -> mqtt.Client:
    """A paho-mqtt 2.x client (VERSION2 callbacks), by default with a persistent session.

    The session survives disconnects, so QoS 1 messages wait at the broker while
    the client is away. Credentials, TLS and reconnect backoff come from ``settings``;
    unreadable TLS files raise OSError or ssl.SSLError here, not later in a thread.
    ``read_ahead`` makes a :class:`ReadAheadClient` (for the aggregator's ingest).
    """
    client = (ReadAheadClient if read_ahead else mqtt.Client)(
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
