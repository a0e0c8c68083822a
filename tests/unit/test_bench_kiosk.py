"""``safecode bench kiosk`` runs end to end with tiny sample counts and prints its figures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.cli import bench_group


@pytest.mark.spawns  # a private Mosquitto
def test_bench_kiosk_prints_every_figure_as_json() -> None:
    result = CliRunner().invoke(
        bench_group,
        ["kiosk", "--samples", "3", "--frames", "12", "--hold", "4", "--memory-seconds", "2.5"]
        + ["--json", "--no-decoders"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"machine", "latency", "capacity", "outbox", "memory", "decoders"}
    assert figures["machine"]["cpu_count"] >= 1 and figures["machine"]["python"]
    assert figures["machine"]["libraries"]["zxing-cpp"]
    latency = figures["latency"]
    assert latency["samples"] == 3
    assert set(latency["parts_ms"]) == {"decode", "verify", "sign", "commit", "light", "other"}
    assert set(latency["floor_ms"]) == {"total", "decode", "two_verifies", "sign", "commit"}
    assert latency["frame_to_light_ms"]["p95"] >= latency["frame_to_light_ms"]["p50"] > 0
    # The parts are measured inside the total: they cannot add up to more than it.
    assert latency["frame_to_light_ms"]["max"] > latency["parts_ms"]["decode"]["p50"]
    assert latency["p95_vs_floor_p95"] > 0 and isinstance(latency["meets_target"], bool)
    capacity = figures["capacity"]
    for case in ("code_in_view", "new_visitor_every_frame", "empty_frames"):
        assert capacity[case]["frames"] == 12 and capacity[case]["fps"] > 0
    assert capacity["new_visitor_every_frame"]["accepted"] == 12
    assert capacity["code_in_view"]["accepted"] == 3  # 12 frames, a new visitor every 4
    assert capacity["empty_frames"]["accepted"] == 0
    assert figures["outbox"]["appends"] == 3 and figures["outbox"]["checkins_per_s"] > 0
    memory = figures["memory"]
    assert memory["frames"] > 0 and 10 < memory["peak_rss_mb"] < 2000
    assert figures["decoders"] is None


def test_bench_kiosk_refuses_zero_samples() -> None:
    result = CliRunner().invoke(bench_group, ["kiosk", "--samples", "0"])
    assert result.exit_code != 0 and "--samples" in result.output
