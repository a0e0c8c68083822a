"""The gunicorn worker class of the read API: gthread, with a deadline for request heads.

gunicorn's sync workers serve one connection at a time: ten clients sending their
headers a byte a second stall two workers, and /healthz times out. gthread serves each
connection in a thread of a pool, but a thread reading a request head still blocks until
the last header byte arrives, however slowly it trickles in. This worker gives every
request head ``HEAD_DEADLINE_S`` from the moment a thread takes the connection: a
watchdog thread shuts down the sockets of heads not complete by then, which frees the
thread (the client sees the connection close). Bodies are small (MAX_CONTENT_LENGTH).

So a slow client holds a thread for seconds, not for ever; a flood of them larger than
the thread pool still needs the TLS proxy in front, which buffers whole requests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

HEAD_DEADLINE_S = 5.0
WATCH_EVERY_S = 0.25


class HeadDeadlineWorker(ThreadWorker):
    """gthread, cutting off connections whose request head is not in within the deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading: dict[Any, float] = {}  # connection -> deadline for its request head
        self._reading_lock = threading.Lock()

    def init_process(self) -> None:
        threading.Thread(target=self._watch_heads, name="head-deadline", daemon=True).start()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        with self._reading_lock:
            self._reading[conn] = time.monotonic() + HEAD_DEADLINE_S
        try:
            return super().handle(conn)
        finally:
            self._head_done(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        self._head_done(conn)  # the head is parsed: the application has the request
        return super().handle_request(req, conn)

    def _head_done(self, conn: Any) -> None:
        with self._reading_lock:
            self._reading.pop(conn, None)

    def _watch_heads(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            for conn in self._late_heads(time.monotonic()):
                self._cut(conn)

    def _late_heads(self, now: float) -> list[Any]:
        """Connections past their deadline, forgotten here; one still waiting for its first
        byte gets a fresh deadline instead (gunicorn hands it back to the poller soon)."""
        late = []
        with self._reading_lock:
            for conn, deadline in list(self._reading.items()):
                if deadline >= now:
                    continue
                if getattr(conn, "initialized", True):
                    late.append(conn)
                    del self._reading[conn]
                else:
                    self._reading[conn] = now + HEAD_DEADLINE_S
        return late

    def _cut(self, conn: Any) -> None:
        with contextlib.suppress(OSError):  # already closed by its own thread
            conn.sock.shutdown(socket.SHUT_RDWR)
        self.log.info("closed a connection whose request head took over %ss", HEAD_DEADLINE_S)
