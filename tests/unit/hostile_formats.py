"""Images Pillow can read but the kiosk must not: crashing TIFF and DDS files, byte flips.

Pillow picks a decoder from a file's content, not its name, and its plugins raise more
than OSError on hostile bytes. A TIFF whose StripOffsets tag is typed RATIONAL raises
``TypeError: 'IFDRational' object cannot be interpreted as an integer``; a DDS with no
pixel-format flags raises ``NotImplementedError``. Both are written here with a .png name.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

STRIP_OFFSETS = 273
RATIONAL = 5


def small_gray(size: int = 8) -> Image.Image:
    """A small grayscale ramp."""
    ramp = (np.arange(size * size, dtype=np.uint32) * 7 % 256).astype(np.uint8)
    return Image.fromarray(ramp.reshape(size, size))


def encoded(fmt: str, **params: object) -> bytes:
    """``small_gray`` in Pillow format ``fmt`` (DDS as RGB: Pillow writes no gray DDS)."""
    image = small_gray().convert("RGB") if fmt == "DDS" else small_gray()
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def crashing_tiff() -> bytes:
    """A little-endian TIFF whose StripOffsets entry is typed RATIONAL (a TypeError)."""
    data = bytearray(encoded("TIFF", dpi=(72, 72)))
    (ifd,) = struct.unpack("<I", data[4:8])
    (entries,) = struct.unpack("<H", data[ifd : ifd + 2])
    for entry in range(ifd + 2, ifd + 2 + 12 * entries, 12):
        if struct.unpack("<H", data[entry : entry + 2])[0] == STRIP_OFFSETS:
            data[entry + 2 : entry + 4] = struct.pack("<H", RATIONAL)
            return bytes(data)
    raise AssertionError("Pillow wrote a TIFF without StripOffsets")


def crashing_dds() -> bytes:
    """A DDS with its pixel-format flags zeroed (NotImplementedError in Pillow)."""
    data = bytearray(encoded("DDS"))
    assert data[:4] == b"DDS " and struct.unpack("<I", data[76:80]) == (32,)  # pixel format
    data[80:84] = bytes(4)  # its flags
    return bytes(data)


CORPUS_FORMATS: dict[str, dict[str, object]] = {
    "PNG": {},
    "JPEG": {},
    "BMP": {},
    "PPM": {},
    "TIFF": {"dpi": (72, 72)},  # rational tags, as in the TIFF that crashed
    "DDS": {},
}


def byte_flips(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """(format, bytes): ``count`` copies of each CORPUS_FORMATS image, 1-3 bytes replaced.

    One seeded generator for the whole corpus, so a failure is reproducible.
    """
    rng = random.Random(seed)
    for fmt, params in CORPUS_FORMATS.items():
        original = encoded(fmt, **params)
        for _ in range(count):
            flipped = bytearray(original)
            for _ in range(rng.randint(1, 3)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            yield fmt, bytes(flipped)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
