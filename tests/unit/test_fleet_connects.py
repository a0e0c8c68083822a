"""The fleet simulator's connects fail as the firmware's do, without blocking the others.

A refused TCP connect is counted and retried after the back-off; a broker that accepts
the connection but never answers CONNECT is given up after ``keepalive`` (paho's own
loop does the same), and the kiosk goes back to waiting out its back-off.
"""

from __future__ import annotations

import random
import socket
import time

from protocol import keys
from simulator.broker import free_port
from simulator.fleet import IDLE, FleetKioskSpec, FleetSettings, KioskFleet
from transport.settings import MqttSettings


def _fleet(port: int, kiosks: int = 3) -> KioskFleet:
    issuer = keys.generate()
    ledger = keys.generate()
    settings = FleetSettings(
        mqtt=MqttSettings(port=port, keepalive=1, reconnect_min_s=30, reconnect_max_s=60),
        issuer_seed=keys.private_seed(issuer),
        ledger_public=keys.public_bytes(ledger),
        heartbeat_s=15.0,
        resend_after_s=10.0,
    )
    specs = [
        FleetKioskSpec(f"kiosk-{n}", "venue-1", bytes([n + 1]) * 32, None) for n in range(kiosks)
    ]
    return KioskFleet(specs, settings, rng=random.Random(1))


def test_a_refused_connect_is_counted_and_waits_out_its_back_off() -> None:
    fleet = _fleet(free_port())
    try:
        fleet.connect_all()
        fleet.run_for(2.0, until=lambda: fleet.counts["connect_error:ECONNREFUSED"] == 3)
        assert fleet.counts["connect_error:ECONNREFUSED"] == 3
        assert all(kiosk.state == IDLE for kiosk in fleet.kiosks)
        fleet.run_for(0.5)
        assert fleet.counts["connect_attempts"] == 3  # the next try waits 30 s and more
    finally:
        fleet.stop()


def test_a_broker_that_never_answers_connect_is_given_up_after_keepalive() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        fleet = _fleet(listener.getsockname()[1])
        try:
            fleet.connect_all()
            started = time.monotonic()
            fleet.run_for(8.0, until=lambda: fleet.counts["connect_failed"] == 3)
            assert fleet.counts["connect_failed"] == 3
            assert time.monotonic() - started >= 1.0  # not before keepalive
            assert all(kiosk.state == IDLE for kiosk in fleet.kiosks)
        finally:
            fleet.stop()
