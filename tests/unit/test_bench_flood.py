"""``safecode bench flood`` runs end to end at a tiny size and prints its counts as JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.cli import bench_group


@pytest.mark.spawns  # a private Mosquitto, an aggregator and kiosk processes
def test_bench_flood_prints_its_counts_as_json() -> None:
    result = CliRunner().invoke(
        bench_group,
        ["flood", "--kiosks", "1", "--seconds", "1", "--rate", "5", "--garbage", "40"]
        + ["--heartbeats", "40", "--toggles", "10", "--burst", "20", "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["garbage_sent"] == figures["garbage_refused_and_counted"] == 40
    assert figures["heartbeats_sent"] == 50
    assert figures["lost"] == 0 and figures["doubled"] == 0
    assert figures["acknowledged_then_dropped"] == 0
    assert figures["valid_published"] == figures["sealed"] >= 20
    assert figures["configs_published"] >= figures["configs_signed"] >= 0
    assert figures["steady_receipt_ms_p95_quiet"] > 0
    assert figures["steady_receipt_ms_p95_flood"] > 0
    assert {"log_lines", "refusal_log_lines", "heartbeats_coalesced", "machine"} <= set(figures)
