"""The kiosk's link to the aggregator: the :class:`Link` interface the core sees.

Paho-free, and no transport type in its signatures: check-ins and statuses go out as
bytes and figures, receipts and configs come back as bytes. The MQTT adapter is
:class:`kiosk.link_paho.MqttLink`; whoever builds a firmware with a real uplink imports
it (and so paho) only then.
"""

from __future__ import annotations

import abc
import queue
from typing import Any


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

    def poll_config(self) -> bytes | None:
        """The next config message that arrived, or None (uplinks without one: always None)."""
        return None
