"""Jeju on one box, small: 200 kiosks through one broker, one aggregator and a broker restart.

``safecode bench fleet`` at test size (issue 14, item 1): 200 kiosks in two fleet
processes, each kiosk logged in with its own broker account, connecting from two
loopback source addresses, heartbeating at the firmware's interval with a retained last
will while visitors check in; the broker restarts (persistence on) and every kiosk
reconnects with the firmware's jittered back-off. Nothing may be lost or doubled, every
receipt verifies, and the fleet view is whole again after the storm.
"""

from __future__ import annotations

import pytest

from benchmarks.fleet import FleetRun, _kiosk_default

pytestmark = pytest.mark.spawns

KIOSKS = 200
BRIEF_FIELDS = (
    "kiosks",
    "checkins_per_s",
    "scan_to_receipt_ms",
    "lost",
    "duplicated",
    "broker_rss_mb",
    "aggregator_rss_mb",
    "reconnect_storm_s",
)


def test_200_kiosks_ride_out_a_broker_restart() -> None:
    figures = FleetRun(
        kiosks=KIOSKS,
        minutes=0.5,
        rate=20.0,  # the test checks delivery, not throughput, on a shared machine
        fleets=2,
        storm=True,
        heartbeat_s=_kiosk_default("heartbeat_s"),
        jitter_s=None,
        timeout_s=240.0,
        log=lambda text: None,
        per_source_address=KIOSKS // 2,
    ).run()
    assert set(BRIEF_FIELDS) <= set(figures)
    assert figures["source_addresses"] == 2
    assert figures["made"] > 0 and figures["drained"]
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["unanswered"] == 0 and figures["receipt_leaf_mismatch"] == 0
    assert figures["unexpected_sealed"] == 0
    counts = figures["fleet_counts"]
    assert "bad_answers" not in counts and "refused_checkins" not in counts
    assert counts["configs"] >= KIOSKS  # every kiosk got and verified its signed config
    assert counts["reconnected"] >= KIOSKS  # every kiosk lost the broker and came back
    assert figures["reconnect_storm_s"] is not None  # the fleet view was whole again
    assert figures["scan_to_receipt_ms"]["samples"] > 0
    assert figures["heartbeat_to_fleet_view_ms"]["samples"] > 0
