"""Rendering simulated camera frames with a QR code."""

from __future__ import annotations

import time
from statistics import NormalDist

import numpy as np
import pytest

from simulator.render import (
    QUIET_ZONE,
    blank_frame,
    code_matrix,
    default_module_px,
    render_code_frame,
)

TEXT = "SC1:" + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" * 6 + "ABCDEFGHIJKLMNOPQRSTUVW"


def test_text_is_a_version_10_code() -> None:
    assert len(TEXT) == 297
    matrix = code_matrix(TEXT)
    assert matrix.shape == (57, 57)
    assert matrix.dtype == np.uint8 and set(np.unique(matrix)) == {0, 1}
    assert not matrix.flags.writeable
    assert code_matrix(TEXT) is matrix  # cached


def test_short_text_is_a_regular_qr_not_micro() -> None:
    assert code_matrix("A").shape == (21, 21)  # version 1; segno.make would pick Micro QR


def test_frame_shape_type_and_determinism() -> None:
    a = render_code_frame(TEXT, rng=np.random.default_rng(42))
    b = render_code_frame(TEXT, rng=np.random.default_rng(42))
    c = render_code_frame(TEXT, rng=np.random.default_rng(43))
    assert a.shape == (480, 640) and a.dtype == np.uint8 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    small = render_code_frame("HI", size=(320, 200), rng=np.random.default_rng(0))
    assert small.shape == (200, 320)


def test_default_scale_spans_55_to_75_percent_of_the_height() -> None:
    modules = 57 + 2 * QUIET_ZONE
    px = default_module_px(modules, (640, 480))
    assert px == 5
    assert 0.55 <= modules * px / 480 <= 0.75
    for version in range(1, 16):
        total = 17 + 4 * version + 2 * QUIET_ZONE
        assert 0.55 <= total * default_module_px(total) / 480 <= 0.75


def screen_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (top, left, bottom, right) of the bright phone screen."""
    bright = frame > 190
    rows = np.flatnonzero(bright.sum(axis=1) > 20)
    cols = np.flatnonzero(bright.sum(axis=0) > 20)
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def test_code_size_levels_and_random_placement() -> None:
    boxes = set()
    for seed in range(6):
        frame = render_code_frame(TEXT, rng=np.random.default_rng(seed), noise=0.0)
        top, left, bottom, right = screen_box(frame)
        assert (bottom - top, right - left) == (325, 325)  # 65 modules x 5 px
        boxes.add((top, left))
        screen = frame[top:bottom, left:right]
        assert 10 <= screen.min() <= 40 and 200 <= screen.max() <= 235
        outside = frame.copy()
        outside[top:bottom, left:right] = 128
        assert outside.min() >= 100 and outside.max() <= 155  # mid-grey background
        # the quiet zone is light
        assert (screen[: 4 * 5] > 190).all() and (screen[:, -4 * 5 :] > 190).all()
    assert len(boxes) > 1


def test_explicit_module_px_and_too_big() -> None:
    frame = render_code_frame(TEXT, rng=np.random.default_rng(0), module_px=3, noise=0.0)
    top, left, bottom, right = screen_box(frame)
    assert (bottom - top, right - left) == (195, 195)
    with pytest.raises(ValueError, match="does not fit"):
        render_code_frame(TEXT, module_px=8)
    with pytest.raises(ValueError):
        render_code_frame(TEXT, module_px=0)
    with pytest.raises(ValueError):
        render_code_frame(TEXT, noise=-1.0)
    with pytest.raises(ValueError):
        blank_frame((0, 480))


def test_noise_has_the_requested_spread() -> None:
    for noise in (3.0, 6.0, 12.0):
        frame = blank_frame(rng=np.random.default_rng(5), noise=noise).astype(np.float64)
        residual = frame - np.median(frame)
        assert abs(residual.mean()) < 0.1
        assert abs(residual.std() - noise) < 0.05 * noise
        # Gaussian, not uniform: the share within one standard deviation (after rounding
        # to whole grey levels) is what N(0, noise) gives, not the 58 % of a uniform.
        expected = 2 * NormalDist().cdf((np.floor(noise) + 0.5) / noise) - 1
        assert abs((np.abs(residual) <= noise).mean() - expected) < 0.02
    quiet = blank_frame(rng=np.random.default_rng(5), noise=0.0)
    assert quiet.min() == quiet.max()


def test_blank_frame_is_deterministic() -> None:
    a = blank_frame((640, 480), np.random.default_rng(9))
    b = blank_frame((640, 480), np.random.default_rng(9))
    assert a.shape == (480, 640) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_render_is_fast() -> None:
    """Under 5 ms a frame once the code is cached (about 1 ms on a 2-core x86 machine)."""
    rng = np.random.default_rng(0)
    render_code_frame(TEXT, rng=rng)  # encode once, build the noise table
    times = []
    for _ in range(30):
        start = time.perf_counter()
        render_code_frame(TEXT, rng=rng)
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.005, f"median {np.median(times) * 1000:.2f} ms"
