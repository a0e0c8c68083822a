"""benchmarks/door_frames.py and door_reads.py: the seeded door set, its labels, the bench."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks import door_frames, door_reads
from benchmarks.cli import bench_group
from kiosk.decoders import ZxingDecoder
from protocol.presentation import CodeType, Presentation


def test_the_same_seed_gives_the_same_visit_frames_and_labels() -> None:
    one = door_frames.plan_visit(3, 1, frames=4)
    two = door_frames.plan_visit(3, 1, frames=4)
    assert one == two
    for a, b in zip(door_frames.visit_frames(one), door_frames.visit_frames(two), strict=True):
        assert a.shape == (480, 640) and a.dtype == np.uint8
        assert np.array_equal(a, b)
    other = door_frames.plan_visit(4, 1, frames=4)
    assert other.text != one.text and other.scenes != one.scenes
    image, kind = door_frames.empty_frame(3, 2)
    again, kind_again = door_frames.empty_frame(3, 2)
    assert np.array_equal(image, again) and kind == kind_again == "texture"


@pytest.mark.parametrize("kind", ["checkin", "card"])
def test_labels_are_real_presentations_that_read_back(kind: str) -> None:
    visit = door_frames.plan_visit(5, 0, frames=2, kind=kind)
    presentation = Presentation.from_text(visit.text)
    issuer = door_frames.issuer_key(5).public_key()
    if kind == "checkin":
        assert presentation.code_type == CodeType.CHECKIN
        assert visit.level == "L" and visit.symbol().version == 9
        presentation.verify([issuer], now=presentation.timestamp)
    else:
        assert presentation.code_type == CodeType.CARD
        assert visit.level == "M" and visit.code_mm == 62.0
        presentation.verify_card([issuer], now=presentation.timestamp + 86_400)
    clean = door_frames.clean_frame(visit)
    assert [d.text for d in ZxingDecoder().decode(clean)] == [visit.text]


def test_a_visit_moves_smoothly_within_the_door_range() -> None:
    for number in range(6):
        visit = door_frames.plan_visit(9, number)
        assert len(visit.scenes) == door_frames.FRAMES_PER_VISIT
        depth = np.array([s.distance_mm for s in visit.scenes])
        tilt = np.array([s.tilt_deg for s in visit.scenes])
        assert depth.min() >= 100 and depth.max() <= 400
        assert tilt.min() >= 0 and tilt.max() <= 40
        assert np.abs(np.diff(depth)).max() < 15  # mm per frame: a hand, not a jump
        assert np.abs(np.diff(tilt)).max() < 3
        if visit.kind == "card":
            assert not visit.conditions["moire"] and not visit.conditions["dark_mode"]
        if visit.conditions["inverted"]:
            assert visit.conditions["dark_mode"] and visit.scenes[0].inverted


def test_the_set_mixes_its_conditions() -> None:
    visits = [door_frames.plan_visit(17, v, frames=1) for v in range(60)]
    kinds = {v.kind for v in visits}
    assert kinds == {"checkin", "card"}
    for name in ("glare", "moire", "dark_mode", "inverted", "low_light"):
        assert any(v.conditions[name] for v in visits), name
    kinds_empty = {door_frames.empty_frame(17, i)[1] for i in range(3)}
    assert kinds_empty == set(door_frames.EMPTY_KINDS)


def test_door_figures_at_a_tiny_size() -> None:
    figures = door_reads.door_figures(visits=2, empty=3, frames=3, seed=1, levels=("L", "M"))
    assert figures["code_frames"] == 6 and figures["empty_frames"] == 3
    assert set(figures["decoders"]) == {"zxing", "cascade"}
    for name in ("zxing", "cascade"):
        f = figures["decoders"][name]
        assert 0 <= f["frame_read_rate"] <= 1 and 0 <= f["visit_read_rate"] <= 1
        assert f["visit_read_rate"] >= f["frame_read_rate"] or f["frames_read"] == 0
        assert f["misreads"] == 0
        assert f["empty_median_ms"] > 0 and f["code_median_ms"] > 0
    assert set(figures["levels"]) == {"L", "M"}
    assert figures["levels"]["L"]["version"] == 9
    assert figures["best_level"] in ("L", "M")
    assert figures["cascade_vs_zxing_empty_cost"] > 0
    assert len(figures["machine"]["load_before"]) == 3
    with pytest.raises(ValueError):
        door_reads.door_figures(visits=0)
    with pytest.raises(ValueError):
        door_reads.door_figures(visits=1, empty=1, frames=1, levels=("X",))


def test_bench_decoders_set_door_command() -> None:
    result = CliRunner().invoke(
        bench_group,
        [
            "decoders",
            "--set",
            "door",
            "--json",
            "--visits",
            "1",
            "--frames",
            "2",
            "--empty",
            "2",
            "--levels",
            "L",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["set"] == "door" and figures["code_frames"] == 2
    assert "cascade_gain_points" in figures and "zxing_visit_read_rate" in figures
    bad = CliRunner().invoke(bench_group, ["decoders", "--set", "door", "--visits", "0"])
    assert bad.exit_code != 0
