"""Camera-like frames showing a QR code, for simulated visitors and decoder tests.

``render_code_frame`` draws the code the way a kiosk camera sees a phone held up to it:
a slightly grey "screen" (dark modules about 30, light about 220, 4-module quiet zone)
at a random place on a mid-grey background, with Gaussian sensor noise. ``blank_frame``
is the same scene with nobody in front of the camera. Sizes are (width, height), as in
picamera2; the arrays returned are (height, width) ``uint8``.

A frame takes about 1 ms on a 2-core development machine once the code's module matrix is
cached; encoding a new text with segno costs about 20 ms (version 10), so matrices are
kept in a small LRU cache keyed by text.
"""

from __future__ import annotations

import functools
from statistics import NormalDist

import numpy as np
import segno

QUIET_ZONE = 4
"""Quiet zone in modules (the QR standard's minimum)."""

DARK_LEVEL = 30
LIGHT_LEVEL = 220
BACKGROUND_LEVEL = 128
TARGET_SPAN = 0.75
"""Default scale: the largest whole module size at which code + quiet zone fit in 75 %
of the frame's shorter side (a version 10 code at 640x480 spans 325 px, 68 %)."""

_NOISE_LEVELS = 1 << 16


@functools.lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """65536 equiprobable quantiles of N(0, 1), rescaled to unit variance.

    Indexing them with uniform random 16-bit integers draws Gaussian noise (truncated at
    about 4.3 sigma) several times faster than ``Generator.standard_normal`` for a frame.
    Built once per process (about 30 ms).
    """
    unit = NormalDist()
    table = np.array(
        [unit.inv_cdf((i + 0.5) / _NOISE_LEVELS) for i in range(_NOISE_LEVELS)],
        dtype=np.float64,
    )
    return table / table.std()


@functools.lru_cache(maxsize=8)
def _noise_table(noise: float) -> np.ndarray:
    """The quantiles scaled to std ``noise`` and rounded to whole grey levels (int16).

    Rounding the noise before adding it to whole-number grey levels gives the same pixels
    as adding real-valued noise and rounding the sum.
    """
    table = np.rint(_normal_quantiles() * noise).astype(np.int16)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=256)
def code_matrix(text: str) -> np.ndarray:
    """The QR module matrix for ``text`` (1 = dark), without quiet zone; read-only uint8.

    segno.make_qr with error level M and ``boost_error=False`` (the level stays M), never
    a Micro QR; segno picks the smallest version and the best mask.
    """
    qr = segno.make_qr(text, error="m", boost_error=False)
    matrix = np.array(qr.matrix, dtype=np.uint8)  # tuple of bytearrays, 0x1 = dark
    matrix.setflags(write=False)
    return matrix


def default_module_px(modules: int, size: tuple[int, int] = (640, 480)) -> int:
    """Pixels per module so ``modules`` (quiet zone included) fill about 75 % of the frame."""
    return max(1, int(TARGET_SPAN * min(size) // modules))


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


def _frame_shape(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive (width, height), got {size!r}")
    return int(height), int(width)


def _finish(canvas: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``noise`` to an int16 canvas; clip to uint8."""
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    if noise > 0:
        count = canvas.size
        words = rng.bit_generator.random_raw((count + 3) // 4)  # uint64, from rng's state
        draws = words.view(np.uint16)[:count].reshape(canvas.shape)
        noisy = np.take(_noise_table(float(noise)), draws)
        noisy += canvas
        canvas = noisy
    np.clip(canvas, 0, 255, out=canvas)
    return canvas.astype(np.uint8)


def render_code_frame(
    text: str,
    *,
    size: tuple[int, int] = (640, 480),
    rng: np.random.Generator | None = None,
    module_px: int | None = None,
    noise: float = 6.0,
) -> np.ndarray:
    """A (height, width) uint8 frame showing the QR code of ``text`` on a phone screen.

    The code (error level M, 4-module quiet zone) is scaled to ``module_px`` pixels per
    module (default: :func:`default_module_px`), placed at a random offset drawn from
    ``rng``, drawn dark ~30 on light ~220 (levels jittered a little per frame) over a
    mid-grey background, plus Gaussian noise of std ``noise``. The same ``rng`` state
    gives the same frame.
    """
    shape = _frame_shape(size)
    rng = _rng(rng)
    matrix = code_matrix(text)
    modules = matrix.shape[0] + 2 * QUIET_ZONE
    px = default_module_px(modules, size) if module_px is None else int(module_px)
    if px < 1:
        raise ValueError(f"module_px must be >= 1, got {module_px!r}")
    side = modules * px
    if side > min(shape):
        raise ValueError(
            f"a {modules}-module code at {px} px/module ({side} px) does not fit in {size}"
        )
    dark = DARK_LEVEL + int(rng.integers(-6, 7))
    light = LIGHT_LEVEL + int(rng.integers(-12, 13))
    background = BACKGROUND_LEVEL + int(rng.integers(-24, 25))
    top = int(rng.integers(0, shape[0] - side + 1))
    left = int(rng.integers(0, shape[1] - side + 1))

    levels = np.array([light, dark], dtype=np.int16)[matrix]
    levels = np.pad(levels, QUIET_ZONE, constant_values=light)
    code = np.repeat(np.repeat(levels, px, axis=0), px, axis=1)

    canvas = np.full(shape, background, dtype=np.int16)
    canvas[top : top + side, left : left + side] = code
    return _finish(canvas, rng, noise)


def blank_frame(
    size: tuple[int, int] = (640, 480),
    rng: np.random.Generator | None = None,
    *,
    noise: float = 6.0,
) -> np.ndarray:
    """A (height, width) uint8 frame with no code: mid-grey background and noise."""
    shape = _frame_shape(size)
    rng = _rng(rng)
    background = BACKGROUND_LEVEL + int(rng.integers(-24, 25))
    canvas = np.full(shape, background, dtype=np.int16)
    return _finish(canvas, rng, noise)
