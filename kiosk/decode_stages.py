"""Pre-processing stages of the door cascade (kiosk/decoders.py), numpy and Pillow only.

* :func:`probable_code` is the cheap gate: "is there probably a QR code in this frame, and
  where?". A QR code is a compact patch of fine, high-contrast texture: on a 4x
  subsampled frame (every 4th pixel of every 4th row) the absolute differences between
  neighbouring samples are large inside a code, whatever its module size from about 1 px
  up, and small over walls, doors, skin and plain clothes. The differences (along rows
  only: a code turned any way varies along them too) are summed over cells of 4x4
  samples (16x16 frame pixels); a cell is *hot* when its energy exceeds
  ``ratio`` times the frame's median cell (so sensor noise and an all-over texture raise
  the bar with themselves) and an absolute ``floor``. Hot cells with fewer than
  ``neighbours`` hot cells around them are dropped; the rest must form a compact, squarish
  region (their bounding box at least ``fill`` full, sides within a factor ``aspect``) of at
  least ``min_cells`` cells. The answer is that region's box in frame pixels, or ``None``.
  It costs about a third of a zxing-cpp pass on an empty 640x480 frame.
* :func:`crop` cuts a box out of a frame, grown by a margin (the quiet zone and what the
  gate's 16-pixel cells cut off).
* :func:`sharpen_and_enlarge`: unsharp mask (Pillow's ``UnsharpMask``), then bicubic
  enlargement. A door frame's code at 1.5-2.5 pixels per module, blurred by focus and
  motion, is too fine for zxing-cpp's finder-pattern search; sharpened and doubled it
  is often read.

All take and return 2-D ``uint8`` arrays (checked by the decoders).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

Box = tuple[int, int, int, int]
"""An axis-aligned region (x0, y0, x1, y1), x1 and y1 exclusive."""

STEP = 4
"""Subsampling of the gate: every STEP-th pixel of every STEP-th row."""
CELL = 4
"""Gate cells are CELL x CELL samples (STEP * CELL frame pixels a side)."""


def energy_cells(image: np.ndarray) -> np.ndarray:
    """Sum of absolute differences between horizontally neighbouring samples of the
    subsampled frame, per gate cell (``CELL`` x ``CELL`` samples), as int32."""
    samples = image[::STEP, ::STEP].astype(np.int16)
    energy = np.abs(samples[:, 1:] - samples[:, :-1])
    rows, cols = energy.shape[0] // CELL, energy.shape[1] // CELL
    if rows == 0 or cols == 0:
        return np.zeros((0, 0), np.int32)
    energy = energy[: rows * CELL, : cols * CELL].astype(np.int32)
    strips = sum(energy[k::CELL] for k in range(CELL))
    return sum(strips[:, k::CELL] for k in range(CELL))


def probable_code(
    image: np.ndarray,
    *,
    ratio: float = 3.0,
    floor: float = 12.0,
    neighbours: int = 3,
    min_cells: int = 6,
    fill: float = 0.25,
    aspect: float = 2.5,
) -> Box | None:
    """The box of the frame's probable QR code, or ``None`` (see the module docs).

    ``floor`` is in grey levels of mean neighbour difference per sample."""
    cells = energy_cells(image)
    if cells.size == 0:
        return None
    flat = cells.ravel()
    middle = float(np.partition(flat, flat.size // 2)[flat.size // 2])
    bar = max(floor * CELL * CELL, ratio * middle)
    hot = cells > bar
    if int(np.count_nonzero(hot)) < min_cells:
        return None
    padded = np.pad(hot.astype(np.int8), 1)
    across = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    box = across[:-2] + across[1:-1] + across[2:]  # hot cells in each 3x3, itself included
    dense = hot & (box > neighbours)
    count = int(np.count_nonzero(dense))
    if count < min_cells:
        return None
    ys = np.flatnonzero(dense.any(axis=1))
    xs = np.flatnonzero(dense.any(axis=0))
    height, width = int(ys[-1] - ys[0] + 1), int(xs[-1] - xs[0] + 1)
    if count < fill * height * width or not 1 / aspect <= width / height <= aspect:
        return None
    side = STEP * CELL
    return (
        int(xs[0]) * side,
        int(ys[0]) * side,
        int(xs[-1] + 1) * side + STEP,
        int(ys[-1] + 1) * side + STEP,
    )


def crop(image: np.ndarray, box: Box, margin: float = 0.25, pad: int = 8) -> np.ndarray:
    """``box`` grown by ``margin`` of its size plus ``pad`` pixels on each side, clipped."""
    height, width = image.shape
    x0, y0, x1, y1 = box
    grow_x = int((x1 - x0) * margin) + pad
    grow_y = int((y1 - y0) * margin) + pad
    x0, x1 = max(0, x0 - grow_x), min(width, x1 + grow_x)
    y0, y1 = max(0, y0 - grow_y), min(height, y1 + grow_y)
    if x1 <= x0 or y1 <= y0:
        return image
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def sharpen_and_enlarge(
    image: np.ndarray, *, factor: float = 2.0, radius: float = 1.0, percent: int = 100
) -> np.ndarray:
    """Unsharp mask (Gaussian ``radius``, ``percent`` strength), then bicubic ``factor``x."""
    picture = Image.fromarray(np.ascontiguousarray(image))  # 2-D uint8: mode "L"
    if percent > 0:
        mask = ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=0)
        picture = picture.filter(mask)
    if factor != 1.0:
        size = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
        picture = picture.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(picture, dtype=np.uint8)
