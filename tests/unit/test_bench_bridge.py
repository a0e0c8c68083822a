"""``safecode bench bridge`` runs end to end at a tiny size and prints JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.cli import bench_group


@pytest.mark.spawns  # two private Mosquittos, one bridged to the other
def test_bench_bridge_prints_bridged_and_direct_figures() -> None:
    result = CliRunner().invoke(bench_group, ["bridge", "--rounds", "8", "--burst", "20"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for kind in ("bridged", "direct"):
        assert figures[kind]["round_trip_ms"]["p50"] > 0
        assert figures[kind]["burst_per_s"] > 0
    assert isinstance(figures["bridge_adds_ms_p50"], float)
    assert figures["machine"]["cpu_count"]


def test_bench_bridge_refuses_tiny_sizes() -> None:
    result = CliRunner().invoke(bench_group, ["bridge", "--rounds", "2"])
    assert result.exit_code != 0 and "--rounds" in result.output
