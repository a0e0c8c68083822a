"""How large an image read from a file may be: checked on its header, before decoding.

A PNG of 70,000 x 1 pixels is 149 bytes, and one of 13,370 x 13,370 about half a
megabyte, yet decoding the second takes over a gigabyte of memory and the first is
wider than any QR decoder accepts. A camera frame is at most a few megapixels, so an
image file larger than :data:`MAX_IMAGE_PIXELS` (or with a side over
:data:`MAX_IMAGE_SIDE`) is refused from its header (``PIL.Image.open`` reads only the
header), before a single pixel is decoded.
"""

from __future__ import annotations

MAX_IMAGE_PIXELS = 4096 * 4096
"""Default pixel budget: 16.8 megapixels, above every Raspberry Pi camera's full frame."""

MAX_IMAGE_SIDE = 16384
"""Longest side accepted whatever the budget (zxing-cpp itself stops at 65,535)."""


def over_budget(width: int, height: int, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why a ``width`` x ``height`` image is refused, or None if it is within the budget."""
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        return f"{width}x{height} pixels: a side is over {MAX_IMAGE_SIDE} pixels"
    if width * height > max_pixels:
        return f"{width}x{height} pixels is over the budget of {max_pixels} pixels"
    return None
