"""benchmarks/qr_levels.py: a real presentation, its versions per level, the door renderer
and the comparison arithmetic (the figures themselves are run on demand, never timed here)."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks import qr_levels
from kiosk.decoders import default_decoder
from protocol.presentation import Presentation


def test_the_presentation_is_real_and_the_size_the_issue_names() -> None:
    text = qr_levels.presentation_text()
    assert text == qr_levels.presentation_text()  # fixed seeds
    assert len(text) == 297
    presentation = Presentation.from_text(text)
    credential = presentation.credential
    assert credential.not_after - credential.not_before == 86_400
    issuer = qr_levels._seeded_key("qr-levels issuer").public_key()
    presentation.verify([issuer], now=presentation.timestamp, credential_at=presentation.timestamp)


def test_level_l_fits_version_9_and_m_version_10() -> None:
    text = qr_levels.presentation_text()
    versions = {level: qr_levels.encode(text, level).version for level in "LMQ"}
    assert versions == {"L": 9, "M": 10, "Q": 13}
    assert qr_levels.encode(text, "L").modules == 53


def _scene(**changes: object) -> qr_levels.Scene:
    base = qr_levels.draw_scene(np.random.default_rng(0), 12)
    return dataclasses.replace(
        base, tilt_deg=0.0, blur_px=0.4, glare=None, noise=2.0, jpeg_quality=90, **changes
    )


def test_a_close_clean_frame_reads_and_a_far_one_does_not() -> None:
    text = qr_levels.presentation_text()
    symbol = qr_levels.encode(text, "L")
    decoder = default_decoder()
    close = qr_levels.render(symbol, _scene(), np.random.default_rng(1))
    assert close.shape == (480, 640) and close.dtype == np.uint8
    assert [d.text for d in decoder.decode(close)] == [text]
    far = qr_levels.render(symbol, _scene(distance_mm=600.0), np.random.default_rng(1))
    assert decoder.decode(far) == []


def test_the_same_seed_gives_the_same_frame() -> None:
    symbol = qr_levels.encode(qr_levels.presentation_text(), "M")
    scene = qr_levels.draw_scene(np.random.default_rng([11, 200, 3]), 20)
    one = qr_levels.render(symbol, scene, np.random.default_rng(5))
    two = qr_levels.render(symbol, scene, np.random.default_rng(5))
    assert np.array_equal(one, two)


def test_sign_test_and_recommendation() -> None:
    assert qr_levels.sign_test(0, 0) == 1.0
    assert qr_levels.sign_test(5, 5) == 1.0
    assert qr_levels.sign_test(10, 0) == pytest.approx(2 / 1024)
    figures = {
        "L": {"read": 50, "decode_ms_mean": 2.0},
        "M": {"read": 50, "decode_ms_mean": 1.0},
        "Q": {"read": 49, "decode_ms_mean": 0.5},
    }
    assert qr_levels.recommend(figures) == "M"
    figures["L"]["read"] = 51
    assert qr_levels.recommend(figures) == "L"
    pairs = qr_levels.paired({"L": [True, True, False], "M": [False, True, True]})
    assert pairs == {"L_vs_M": {"only_L": 1, "only_M": 1, "p_value": 1.0}}


def test_the_command_prints_json_figures_per_level() -> None:
    start = time.monotonic()
    result = CliRunner().invoke(
        qr_levels.qr_levels_command, ["--frames", "1", "--levels", "L,M", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures["levels"]) == {"L", "M"}
    assert figures["levels"]["L"]["frames"] == len(qr_levels.DISTANCES_CM)
    assert figures["recommended"] in {"L", "M"}
    assert time.monotonic() - start < 60
    bad = CliRunner().invoke(qr_levels.qr_levels_command, ["--levels", "X"])
    assert bad.exit_code == 2
