"""A socket that reads ahead: one ``recv`` of what the kernel holds, small reads served from it.

paho-mqtt reads each packet in three or four ``recv`` calls (its first byte, its
length bytes, the rest) after a ``select``: at ingest's rates that is several system
calls and passes of paho's loop per check-in. :class:`ReadAheadSocket` takes up to
:data:`CHUNK` bytes at once and answers paho's small reads from them; ``pending``
(which paho asks of TLS sockets too) tells paho's loop that bytes are already here,
so it reads on without waiting in ``select``. Nothing is lost or reordered: the bytes
come out in the order the kernel gave them. It implements paho's ``SocketLike``
protocol (``recv``, ``send``, ``close``, ``fileno``, ``setblocking``, ``pending``)
and passes anything else to the socket it wraps.
"""

from __future__ import annotations

from typing import Any

#: Bytes asked of the kernel per read: about a hundred check-ins.
CHUNK = 65_536


class ReadAheadSocket:
    """Wraps a connected socket (plain or TLS); reads ahead in chunks of :data:`CHUNK`."""

    __slots__ = ("_sock", "_data", "_pos")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes: from what was read ahead, else one read of the socket.

        Raises what the socket raises when it has nothing (``BlockingIOError``, TLS
        want-read) and returns ``b""`` at the end of the stream, as a socket does.
        """
        if self._pos >= len(self._data):
            data = self._sock.recv(max(bufsize, CHUNK))
            if len(data) <= bufsize:
                return data
            self._data, self._pos = data, 0
        start = self._pos
        self._pos = start + bufsize
        return self._data[start : self._pos]

    def buffered(self) -> int:
        """Bytes read ahead and not yet handed out."""
        return max(0, len(self._data) - self._pos)

    def pending(self) -> int:
        """Bytes readable without waiting: read ahead here, plus a TLS socket's own."""
        inner = getattr(self._sock, "pending", None)
        return self.buffered() + (inner() if inner is not None else 0)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        return self._sock.send(data)

    def close(self) -> None:
        self._data, self._pos = b"", 0
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
