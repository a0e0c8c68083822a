"""The aggregator's broker connection: the :class:`Bus` interface the service sees.

Paho-free, and no transport type in its signatures: messages arrive in ``inbox`` as
(topic, payload bytes), answers and configs go out as bytes. The MQTT adapter is
:class:`aggregator.bus_paho.MqttBus`, imported only where a process builds its bus.
"""

from __future__ import annotations

import abc
import queue
import re

from protocol import topics
from protocol.errors import ProtocolError

from .status_box import StatusBox

Message = tuple[str, bytes]
SHARE_GROUP = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Larger than any check-in (1 KiB) or status (4 KiB): dropped before queueing, so a
#: flood of huge payloads cannot fill memory (the inbox is bounded by count).
MAX_PAYLOAD = 8192


def subscriptions(shared_group: str | None = None) -> list[str]:
    """Topic filters of an ingest process: check-ins (shared if a group is named), status.

    Status stays a normal subscription: every ingest process sees every heartbeat.
    """
    checkins = topics.ALL_CHECKINS
    if shared_group:
        if not SHARE_GROUP.fullmatch(shared_group):
            raise ValueError(f"shared group must match {SHARE_GROUP.pattern}")
        checkins = f"$share/{shared_group}/{checkins}"
    return [checkins, topics.ALL_STATUS]


def status_kiosk(topic: str) -> str | None:
    """The kiosk id of a status topic (``safecode/v1/kiosk/<id>/status``), else None."""
    try:
        kiosk_id, leaf = topics.parse_topic(topic)
    except ProtocolError:
        return None
    return kiosk_id if leaf == topics.STATUS else None


class Bus(abc.ABC):
    """What the aggregator needs from the broker."""

    inbox: queue.Queue[Message]
    #: Where the bus puts status messages itself (newest per kiosk); None: in ``inbox``.
    statuses: StatusBox | None = None

    @abc.abstractmethod
    def start(self) -> None:
        """Connect and subscribe (in the background)."""

    @abc.abstractmethod
    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed, or ``timeout`` passes."""

    @abc.abstractmethod
    def send_answer(self, kiosk_id: str, wire: bytes) -> None:
        """Publish a receipt or refusal to one kiosk (QoS 1)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Disconnect."""

    def pause(self, timeout: float = 2.0) -> None:  # noqa: B027 - optional for a bus
        """Stop taking new messages (stay connected to send answers); default: nothing."""

    def publish_config(self, kiosk_id: str, wire: bytes) -> None:
        """Publish a signed kiosk config to one kiosk, retained (QoS 1)."""
        raise NotImplementedError(f"{type(self).__name__} cannot publish kiosk configs")
