"""Past one broker: three regional Mosquittos bridged to the central one, real processes.

Kiosks are homed on regions ``north``, ``south`` and ``west`` (laid out by ``safecode
aggregator broker-region``) and two on the central broker directly; the aggregator runs
unchanged against the central broker. One regional broker is killed with SIGKILL: the
other regions' check-ins keep being sealed and receipted, the dead region's kiosks keep
scanning into their outboxes, and when it returns everything drains, each check-in
sealed exactly once.

The run also measures what the bridge costs: scan-to-receipt (outbox row written to
receipt stored) of bridged and direct kiosks before the kill, printed as JSON (and
written to ``SAFECODE_REGIONS_JSON`` if set) over ``SAFECODE_REGIONS_MEASURE_S`` seconds
(default 10) of steady scanning. Outage length: ``SAFECODE_OUTAGE_SECONDS``
and ``SAFECODE_OUTAGE_CHECKINS`` as in test_kiosk_reliability.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from aggregator.db import KioskEntry, open_database
from provisioning.regions import read_region_map
from tests.integration.regions_rig import CENTRAL, RegionRig, percentiles
from tests.integration.test_kiosk_reliability import (
    OUTAGE_CHECKINS,
    OUTAGE_SECONDS,
    _assert_exactly_once,
    _assert_ledger_verifies,
    _stop_kiosk,
    _wait_until,
)

pytestmark = pytest.mark.integration

REGIONS = ("north", "south", "west")
#: Seconds of steady scanning before the kill, the stretch scan-to-receipt is measured on.
MEASURE_S = float(os.environ.get("SAFECODE_REGIONS_MEASURE_S", "10"))
DEAD = "north"


def _status_seen(rig: RegionRig) -> dict[str, bool]:
    """kiosk id -> whether the aggregator's fleet view holds a status from it."""
    db = open_database(rig.site.database_url, create=False)
    try:
        return {k.kiosk_id: k.last_status_ms is not None for k in KioskEntry.select()}
    finally:
        db.close()


def _receipted_since(rig: RegionRig, number: int, since_ms: float) -> int:
    """How many of a kiosk's check-ins written after ``since_ms`` hold their receipt."""
    rows = rig.outbox_times(number).values()
    return sum(1 for created, delivered, _ in rows if created >= since_ms and delivered)


@pytest.mark.slow
def test_a_region_dies_the_others_carry_on_and_it_drains_exactly_once(tmp_path: Path) -> None:
    rig = RegionRig(tmp_path / "rig", REGIONS, direct_kiosks=2, fps=15.0)
    try:
        homes = read_region_map(rig.site.regions_file).kiosks  # type: ignore[arg-type]
        assert homes == {rig.kiosk_id(n): home for n, home in enumerate(rig.homes, start=1)}
        aggregator = rig.start_aggregator()
        numbers = list(range(1, len(rig.homes) + 1))
        kiosks = {n: rig.start_kiosk(n, drain_seconds=120) for n in numbers}
        for kiosk in kiosks.values():
            kiosk.wait_for(r"receipt: ", 90)
        # Status (retained, with a last will) crosses the bridges into the fleet view.
        _wait_until(lambda: all(_status_seen(rig).values()), 60, "every kiosk's status")
        for n in numbers:  # a backlog-free stretch to measure scan-to-receipt on
            kiosks[n].wait_for(r"receipt: ", 60, start=len(kiosks[n].lines))
        time.sleep(MEASURE_S)

        dead = rig.numbers_in(DEAD)
        alive = [n for n in numbers if n not in dead]
        killed_ms = time.time() * 1000
        killed = time.monotonic()
        rig.kill_region(DEAD)
        # The other regions do not notice: their new check-ins are sealed and receipted.
        _wait_until(
            lambda: all(_receipted_since(rig, n, killed_ms + 1000) >= 3 for n in alive),
            120,
            "receipts in the live regions while north is down",
        )
        # The dead region's kiosks keep scanning into their outboxes.
        _wait_until(
            lambda: all(len(kiosks[n].accepted(killed)) >= OUTAGE_CHECKINS for n in dead),
            120 + OUTAGE_SECONDS,
            f"{OUTAGE_CHECKINS} check-ins per north kiosk during the outage",
        )
        _wait_until(lambda: time.monotonic() - killed >= OUTAGE_SECONDS, 600, "the outage")
        for n in dead:
            waiting = [s for s, (c, d, _) in rig.outbox_times(n).items() if c > killed_ms and not d]
            assert len(waiting) >= OUTAGE_CHECKINS - 1, f"kiosk {n}: outbox {waiting}"
        assert aggregator.alive()
        live_during = {rig.kiosk_id(n): _receipted_since(rig, n, killed_ms) for n in alive}

        rig.regional[DEAD].start()
        restarted = time.monotonic()

        def sealed_all_accepted_before(moment: float) -> bool:
            ledger = rig.ledger()
            for n in numbers:
                stored = {e["seq"] for e in ledger.get(rig.kiosk_id(n), [])}
                if not {seq for _, seq in kiosks[n].accepted(until=moment)} <= stored:
                    return False
            return True

        _wait_until(lambda: sealed_all_accepted_before(restarted), 120, "north's backlog")
        drained_s = time.monotonic() - restarted
        for kiosk in kiosks.values():
            assert _stop_kiosk(kiosk)["pending"] == 0
        assert aggregator.stop(timeout=60) == 0
        sealed = {}
        for n in numbers:
            logged = [seq for _, seq in kiosks[n].accepted()]
            sealed[rig.kiosk_id(n)] = len(_assert_exactly_once(rig, n, logged))
        _assert_ledger_verifies(rig)

        latency: dict[str, list[float]] = {"bridged": [], "direct": []}
        for n in numbers:
            kind = "direct" if rig.homes[n - 1] == CENTRAL else "bridged"
            for created, delivered, attempts in rig.outbox_times(n).values():
                if delivered and created < killed_ms - 1000 and attempts == 1:
                    latency[kind].append(delivered - created)
        figures = {
            "regions": len(REGIONS),
            "kiosks": len(numbers),
            "killed_region": DEAD,
            "outage_s": round(restarted - killed, 1),
            "backlog_drained_s": round(drained_s, 1),
            "receipted_in_live_regions_during_outage": live_during,
            "sealed_once": sealed,
            "lost": 0,
            "duplicated": 0,
            "scan_to_receipt_ms": {kind: percentiles(v) for kind, v in latency.items()},
        }
        text = json.dumps(figures, sort_keys=True)
        print(text)
        if os.environ.get("SAFECODE_REGIONS_JSON"):
            Path(os.environ["SAFECODE_REGIONS_JSON"]).write_text(text + "\n", encoding="utf-8")
        assert all(count >= 3 for count in live_during.values()), live_during
        assert latency["bridged"] and latency["direct"], latency
    finally:
        rig.close()
