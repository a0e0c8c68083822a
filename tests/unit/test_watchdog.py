"""systemd notifications (kiosk.watchdog) over a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.watchdog import Notifier, Watchdog


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    sock.settimeout(2)
    return out


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_ready_status_stopping_over_a_path_socket(listener, monkeypatch) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready("scanning")
    assert sock.recv(4096) == b"READY=1\nSTATUS=scanning"
    assert notifier.status("queue 3")
    assert sock.recv(4096) == b"STATUS=queue 3"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_socket_name() -> None:
    name = f"safecode-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ping()
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.ping()
    assert Watchdog(notifier).tick(0.0, True) is False


def test_gone_socket_is_not_an_error(tmp_path: Path) -> None:
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ping() is False


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "abc"}, None),
        ({}, None),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, None),  # for another process
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}, 2.0),
    ],
)
def test_ping_interval_is_half_the_timeout(env: dict[str, str], interval: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", **env}).interval == interval


def test_pings_only_while_frames_and_outbox_progress(listener) -> None:
    sock, path = listener
    clock = Clock()
    dog = Watchdog(
        Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}),
        frame_stall_s=10,
        monotonic=clock,
    )
    assert dog.tick(clock.t, True)  # first ping at once
    assert not dog.tick(clock.t, True)  # not due yet (every 1 s)
    clock.t += 1.0
    assert dog.tick(clock.t - 0.5, True)
    clock.t += 1.0
    assert not dog.tick(clock.t - 10.5, True)  # camera stalled
    assert not dog.tick(None, True)  # never a frame
    assert not dog.tick(clock.t, False)  # the outbox failed
    assert dog.withheld == 3
    assert dog.tick(clock.t, True)  # recovered
    assert received(sock) == ["WATCHDOG=1"] * 3
    assert dog.pings == 3
