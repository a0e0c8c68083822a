"""The gunicorn worker class of the read API: gthread, with a deadline for reading requests.

gunicorn's sync workers serve one connection at a time: ten clients sending their
headers a byte a second stall two workers, and /healthz times out. gthread serves each
connection in a thread of a pool, but a thread reading a request still blocks until the
last byte arrives, however slowly it trickles in, and gunicorn's --timeout does not
notice. This worker gives every request head ``HEAD_DEADLINE_S`` from the moment a thread
takes the connection, and then its body ``BODY_DEADLINE_S`` more from the moment the head
is parsed: a watchdog thread shuts down the sockets of requests not in by then, which
frees the thread (the client sees the connection close; an application blocked reading
the body gets a short read). Once the whole body has arrived the application may take
its time: answering is not under the deadline.

So a slow client holds a thread for seconds, not for ever; a flood of them larger than
the thread pool still needs the TLS proxy in front, which buffers whole requests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.workers.gthread import ThreadWorker

HEAD_DEADLINE_S = 5.0
BODY_DEADLINE_S = 5.0
WATCH_EVERY_S = 0.25


def body_received(req: Any) -> bool:
    """Whether the socket has delivered the whole body of ``req`` (an empty one counts)."""
    reader = getattr(getattr(req, "body", None), "reader", None)
    if isinstance(reader, LengthReader):
        return reader.length == 0
    if isinstance(reader, ChunkedReader):
        return reader.parser is None
    return False


class HeadDeadlineWorker(ThreadWorker):
    """gthread, cutting off connections whose request (head, then body) is not in in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # connection -> (deadline, its request once the head is parsed, else None)
        self._reading: dict[Any, tuple[float, Any]] = {}
        self._reading_lock = threading.Lock()

    def init_process(self) -> None:
        threading.Thread(target=self._watch_reads, name="read-deadline", daemon=True).start()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        with self._reading_lock:
            self._reading[conn] = (time.monotonic() + HEAD_DEADLINE_S, None)
        try:
            return super().handle(conn)
        finally:
            self._read_done(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        # The head is parsed: the body, if any, gets its own deadline.
        with self._reading_lock:
            self._reading[conn] = (time.monotonic() + BODY_DEADLINE_S, req)
        return super().handle_request(req, conn)

    def _read_done(self, conn: Any) -> None:
        with self._reading_lock:
            self._reading.pop(conn, None)

    def _watch_reads(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            for conn, phase in self._late_reads(time.monotonic()):
                self._cut(conn, phase)

    def _late_reads(self, now: float) -> list[tuple[Any, str]]:
        """Connections past their deadline, forgotten here, with what was late. One still
        waiting for its first byte gets a fresh deadline instead (gunicorn hands it back to
        the poller soon); one whose body is all in is forgotten without a cut."""
        late = []
        with self._reading_lock:
            for conn, (deadline, req) in list(self._reading.items()):
                if deadline >= now:
                    continue
                if req is not None:
                    del self._reading[conn]
                    if not body_received(req):
                        late.append((conn, "body"))
                elif getattr(conn, "initialized", True):
                    late.append((conn, "head"))
                    del self._reading[conn]
                else:
                    self._reading[conn] = (now + HEAD_DEADLINE_S, None)
        return late

    def _cut(self, conn: Any, phase: str) -> None:
        with contextlib.suppress(OSError):  # already closed by its own thread
            conn.sock.shutdown(socket.SHUT_RDWR)
        limit = HEAD_DEADLINE_S if phase == "head" else BODY_DEADLINE_S
        self.log.info("closed a connection whose request %s took over %ss", phase, limit)
