"""One MQTT connection seen through plain callbacks: what admin tools and checks talk to.

Frigate's ``Communicator`` is the model: a handful of methods and callbacks that carry
plain values (topic strings, payload bytes, the broker's reason as text), never a
transport type. :func:`open_session` builds the paho adapter
(:mod:`transport.session_paho`), importing paho only when it is called.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

from .settings import MqttSettings


def _ignore(*_: object) -> None:
    """A callback nobody asked for."""


@dataclass
class SessionCallbacks:
    """What a session reports, from its network thread."""

    connected: Callable[[str | None], None] = field(default=_ignore)
    """The broker answered the login: None when it accepted, else its reason in words."""
    subscribed: Callable[[bool], None] = field(default=_ignore)
    """The broker answered a subscription: True when it granted every filter."""
    message: Callable[[str, bytes], None] = field(default=_ignore)
    """A message arrived: its topic and payload."""
    disconnected: Callable[[str], None] = field(default=_ignore)
    """The connection closed: the reason in words."""


class Session(abc.ABC):
    """A connection to the broker; QoS 1 throughout."""

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection (TCP and TLS now, the broker's answer through ``connected``).

        Raises OSError (refused, unreachable, timed out, unknown host) or ssl.SSLError.
        """

    @abc.abstractmethod
    def subscribe(self, topic_filter: str) -> None:
        """Ask for messages on ``topic_filter``; the answer comes through ``subscribed``."""

    @abc.abstractmethod
    def publish(self, topic: str, payload: bytes) -> None:
        """Send ``payload`` on ``topic``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Disconnect and stop the network thread."""


def open_session(
    settings: MqttSettings,
    client_id: str,
    callbacks: SessionCallbacks,
    *,
    persistent: bool,
    manual_ack: bool = False,
    connect_timeout: float = 5.0,
) -> Session:
    """A not yet connected session with ``settings`` as ``client_id`` (paho underneath).

    ``persistent`` resumes (or keeps) the broker-side session of ``client_id``;
    ``manual_ack`` acknowledges nothing, so whatever the broker delivers stays queued
    for that session. Unreadable TLS files raise OSError or ssl.SSLError here.
    """
    from .session_paho import PahoSession

    return PahoSession(
        settings,
        client_id,
        callbacks,
        persistent=persistent,
        manual_ack=manual_ack,
        connect_timeout=connect_timeout,
    )
