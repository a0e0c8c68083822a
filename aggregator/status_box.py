"""The heartbeat queue: latest wins per kiosk, and putting never blocks.

Heartbeats and check-ins used to share the bus inbox, so at 19,500 kiosks (1,300
heartbeats a second) check-ins waited behind heartbeats and their kiosks resent them.
Now status messages go here instead: one slot per kiosk holding its newest message
(only a kiosk's last word matters for the fleet view), taken a batch at a time by the
service's status thread. The bus's network thread puts and acknowledges at once; the
box is bounded by the number of kiosks (the broker's ACL lets a kiosk publish only its
own status topic), and past ``limit`` kiosks a put is refused and the caller falls back
to the bounded inbox.
"""

from __future__ import annotations

import threading

Message = tuple[str, bytes]

#: Kiosks with a heartbeat waiting, at most (a fleet of 50,000 is far below).
LIMIT = 200_000


class StatusBox:
    """Kiosk id -> its newest waiting status message. Thread-safe."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._ready = threading.Condition()
        self._items: dict[str, Message] = {}
        self.coalesced = 0  # messages a newer one of the same kiosk replaced

    def put(self, kiosk_id: str, message: Message) -> bool:
        """Keep ``message`` as ``kiosk_id``'s newest; False if the box is full."""
        with self._ready:
            if kiosk_id in self._items:
                self.coalesced += 1
            elif len(self._items) >= self.limit:
                return False
            self._items[kiosk_id] = message
            self._ready.notify()
        return True

    def take(self, timeout: float = 0.0) -> list[tuple[str, Message]]:
        """Everything waiting, as (kiosk id, message); waits up to ``timeout`` for one."""
        with self._ready:
            if not self._items and timeout > 0:
                self._ready.wait(timeout)
            taken = list(self._items.items())
            self._items.clear()
        return taken

    def __len__(self) -> int:
        with self._ready:
            return len(self._items)
