"""The kiosk's MQTT uplink (paho-mqtt): :class:`MqttLink` implements :class:`kiosk.link.Link`.

MQTT hygiene: client id = kiosk id, a persistent session so receipts wait at
the broker while the kiosk is away, a retained last will ``offline`` on the
status topic, a retained ``online`` status on every connect, QoS 1 everywhere,
automatic reconnect with backoff (``mqtt.reconnect_min_s`` .. ``reconnect_max_s``)
and a random extra wait before each attempt (transport/backoff.py: a fleet whose
broker restarts does not reconnect in step),
TLS and per-device credentials when configured. The kiosk subscribes to its
``receipt`` topic and to its retained ``config`` topic; both only queue bytes here,
the firmware loop verifies them.

Imported only where a firmware with a real uplink is built (``safecode kiosk run``),
so importing the firmware core does not load paho.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from protocol import topics
from protocol.status import encode_status
from transport.backoff import ReconnectJitter
from transport.paho_client import attach_callbacks, make_client, start_loop, stop_loop
from transport.settings import MqttSettings

from .link import Link

log = logging.getLogger(__name__)

#: At most one diagnosing probe (an extra TCP/TLS connect) per this many seconds.
DIAGNOSE_EVERY_S = 60.0


class MqttLink(Link):
    """The MQTT uplink (paho-mqtt 2.x, VERSION2 callbacks)."""

    def __init__(self, kiosk_id: str, settings: MqttSettings) -> None:
        self.kiosk_id = kiosk_id
        self.settings = settings
        self.receipts = queue.Queue(maxsize=10_000)
        self.configs: queue.Queue[bytes] = queue.Queue(maxsize=16)
        self.last_error: str | None = None
        self.connects = 0
        self._connected = threading.Event()
        self.jitter = ReconnectJitter(settings.reconnect_jitter_s, settings.reconnect_max_s)
        self._diagnosed_at = -DIAGNOSE_EVERY_S
        self._status_topic = topics.topic(kiosk_id, topics.STATUS)
        self._checkin_topic = topics.topic(kiosk_id, topics.CHECKIN)
        self._receipt_topic = topics.topic(kiosk_id, topics.RECEIPT)
        self._config_topic = topics.topic(kiosk_id, topics.CONFIG)
        client = make_client(settings, client_id=kiosk_id)
        client.will_set(self._status_topic, encode_status("offline"), qos=1, retain=True)
        client.max_queued_messages_set(1000)
        attach_callbacks(client, self)
        self.client = client

    def start(self) -> None:
        start_loop(self.client, self.settings)

    def _note_error(self, text: str) -> None:
        if text != self.last_error:  # log a change, not every retry
            log.warning("kiosk %s: cannot connect to the broker: %s", self.kiosk_id, text)
        self.last_error = text

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        if rc.is_failure:
            self._note_error(f"broker refused the connection: {rc}")
            return
        client.subscribe([(self._receipt_topic, 1), (self._config_topic, 1)])
        client.publish(self._status_topic, encode_status("online"), qos=1, retain=True)
        self.last_error = None
        self.connects += 1
        self.jitter.reset()
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        now = time.monotonic()
        if now - self._diagnosed_at >= DIAGNOSE_EVERY_S:  # one probe a minute, not per retry
            self._diagnosed_at = now
            self._note_error(diagnose(self.settings))
        self.jitter.wait()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        self._connected.clear()
        if rc.is_failure:  # lost, not asked to: wait a random while before paho retries
            self.jitter.wait()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._receipt_topic:
            target, what = self.receipts, "receipt"
        elif message.topic == self._config_topic:
            target, what = self.configs, "config"
        else:
            log.warning("ignored message on unexpected topic %.80r", message.topic)
            return
        try:
            target.put_nowait(bytes(message.payload))
        except queue.Full:
            log.warning(
                "%s queue full; message dropped (resends and retained config recover)", what
            )

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected, or ``timeout`` passes."""
        return self._connected.wait(timeout)

    def poll_config(self) -> bytes | None:
        try:
            return self.configs.get_nowait()
        except queue.Empty:
            return None

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
            self.jitter.cancel()
            stop_loop(self.client)


def diagnose(settings: MqttSettings, timeout: float = 3.0) -> str:
    """Why connecting fails, in words: one TCP (and TLS) attempt outside paho.

    paho's background thread retries silently; this names the cause (refused,
    unreachable, certificate not trusted, host name mismatch) for the log and status.
    """
    where = f"{settings.host}:{settings.port}"
    try:
        with socket.create_connection((settings.host, settings.port), timeout=timeout) as sock:
            context = settings.tls_context()
            if context is None:
                return f"{where}: TCP connects; the MQTT handshake failed"
            with context.wrap_socket(sock, server_hostname=settings.host):
                return f"{where}: TLS handshake succeeds; the MQTT handshake failed"
    except ssl.SSLCertVerificationError as exc:
        return f"{where}: broker certificate not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"{where}: TLS failed ({exc.reason or exc})"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc}"
