"""Hostile PNG files made on the fly, in little time and memory.

Pillow would need the whole image in memory to write one; these are written row by
row through one zlib stream (1-bit palette rows), so a 13,370 x 13,370 image costs a
few kilobytes of memory and well under a second.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png(path: Path, width: int, height: int) -> Path:
    """A genuine, all-black 1-bit palette PNG of ``width`` x ``height``."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte "none", then packed pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)  # 1 bit, palette
    path.write_bytes(
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", b"\x00\x00\x00")
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )
    return path
