"""systemd notifications (sd_notify) in a few lines: READY, WATCHDOG, STATUS, STOPPING.

A datagram to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a name starting with
``@`` is in the abstract namespace). ``$WATCHDOG_USEC`` sets the watchdog timeout;
the kiosk pings at half of it, and only while it makes progress: frames arriving
and the outbox answering. When either stalls the pings stop and systemd restarts
the service. Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify datagrams; silent when not run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = None
        if name.startswith("@"):
            self.address = b"\0" + name[1:].encode()
        elif name.startswith("/"):
            self.address = name
        self.interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.interval = int(usec) / 2_000_000
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is a notify socket to talk to."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False if it could not be sent."""
        if self.address is None:
            return False
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._socket.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1 (and a status line)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """STATUS=... shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def ping(self) -> bool:
        """WATCHDOG=1."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Watchdog:
    """Pings systemd every half timeout, but only while frames and the outbox progress."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        frame_stall_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.frame_stall_s = frame_stall_s
        self._monotonic = monotonic
        self._last_ping: float | None = None
        self.pings = 0
        self.withheld = 0

    def healthy(self, last_frame_at: float | None, outbox_ok: bool) -> bool:
        """Frames came within ``frame_stall_s`` and the last outbox operation succeeded."""
        if not outbox_ok or last_frame_at is None:
            return False
        return self._monotonic() - last_frame_at <= self.frame_stall_s

    def tick(self, last_frame_at: float | None, outbox_ok: bool) -> bool:
        """Ping if one is due and the kiosk is healthy; True if a ping was sent."""
        interval = self.notifier.interval
        if interval is None or not self.notifier.enabled:
            return False
        now = self._monotonic()
        if self._last_ping is not None and now - self._last_ping < interval:
            return False
        if not self.healthy(last_frame_at, outbox_ok):
            self.withheld += 1
            return False
        self._last_ping = now
        if self.notifier.ping():
            self.pings += 1
            return True
        return False
