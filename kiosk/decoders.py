"""QR decoders behind one interface: zxing-cpp, pyzbar (ZBar) and the measured cascade.

All decoders take a grayscale image (2-D ``uint8`` numpy array) and return the texts of
the QR codes they read, as :class:`Decoded` values; an image with no readable code gives
``[]``. Malformed input (not an array, wrong dtype or shape, empty) raises ``ValueError``.
Decoders only read QR codes (Model 2, plus Model 1 / Micro QR / rMQR with zxing-cpp 3):
other symbologies in view are ignored.

How the default was chosen: ``safecode bench decoders`` (benchmarks/decoders.py) decodes
the 179 labelled images of shared/data/qr/zxing-blackbox and 10 empty 640x480 frames
with every candidate, each image 5 times in one loop (cost = per-image median, then the
mean over images). One run on a 2-core x86 shared with other jobs (load 6.22), zxing-cpp
3.1.1, pyzbar 0.1.9 (ZBar 0.23); absolute times vary with load, ratios less:

========================================  ===========  =======  ==============
decoder                                   read         mean ms  empty frame ms
========================================  ===========  =======  ==============
zxing-cpp alone (library defaults)        166 (92.7%)  0.67     8.0
zxing-cpp without try_invert              166 (92.7%)  0.54     2.4
zxing-cpp GlobalHistogram binarizer       155 (86.6%)  0.59     0.7
pyzbar alone                              147 (82.1%)  11.32    51.3
zxing, then pyzbar on every miss          168 (93.9%)  1.37     58.2
zxing, then zxing GlobalHistogram         168 (93.9%)  0.74     9.1
zxing, then pyzbar if zxing saw a code    166 (92.7%)  0.93     9.0
both zxing, then pyzbar if either saw     169 (94.4%)  1.09     9.8
**cascade** (the default, below)          169 (94.4%)  0.68     9.2
========================================  ===========  =======  ==============

In that run the cascade cost 1.019x zxing-cpp's mean on the image set and 1.149x on
empty frames.

* zxing-cpp's options: ``try_invert`` reads nothing more on this set but is what reads
  light-on-dark codes (dark-mode phones); it doubles the cost of an empty frame.
  ``try_rotate`` and ``try_downscale`` are kept (no reads lost, little cost).
  ``GlobalHistogram`` alone reads less, but reads 2 images LocalAverage misses and is
  cheap on an empty frame (FixedThreshold, tried by hand once: 74.9 %, nothing new).
* pyzbar reads 2 images zxing-cpp misses, but costs about 6x zxing-cpp on an empty frame:
  a plain zxing-then-pyzbar cascade spends that on every frame without a code, which is
  most kiosk frames. zxing-cpp (with ``return_errors``) reports codes it located but could
  not decode. Run pyzbar on every such code and it runs on 9 images of the set, reading 1
  (qrcode-2/28.png) at about 1.2-1.6x zxing-cpp's mean cost; the other 8 were located by
  the LocalAverage pass itself and failed error correction (warped or damaged symbols),
  which ZBar does not read either. So the cascade runs pyzbar only on a code that the
  LocalAverage pass did not locate but the GlobalHistogram pass did (a binarisation miss),
  on a crop around it, inverted first when its surround is darker than the code (ZBar reads
  dark-on-light only). Empty frames never reach pyzbar. The 10 images nobody reads: 2 with
  no code zxing-cpp can locate, 8 warped or damaged.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
"""An axis-aligned region (x0, y0, x1, y1), x1 and y1 exclusive."""


@dataclass(frozen=True)
class Decoded:
    """One code read from a frame: its text and the name of the decoder that read it."""

    text: str
    decoder: str


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` if it is a non-empty 2-D uint8 array, else raise ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"decoder input must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"decoder input must be uint8 grayscale, got dtype {image.dtype}")
    if image.ndim != 2:
        raise ValueError(
            f"decoder input must be 2-D grayscale (height, width), got shape {image.shape}"
        )
    if image.size == 0:
        raise ValueError(f"decoder input is empty (shape {image.shape})")
    return image


def _unique(texts: Iterable[str], decoder: str) -> list[Decoded]:
    """Decoded values for ``texts`` in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for text in texts:
        seen.setdefault(text, None)
    return [Decoded(text, decoder) for text in seen]


class Decoder(abc.ABC):
    """Reads QR codes from grayscale frames."""

    name: str = "decoder"

    def decode(self, image: np.ndarray) -> list[Decoded]:
        """The distinct texts of the QR codes read from ``image`` (``[]`` if none)."""
        return self._decode(check_image(image))

    @abc.abstractmethod
    def _decode(self, image: np.ndarray) -> list[Decoded]:
        """Decode a checked image."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


BINARIZERS = ("local", "global")


class ZxingDecoder(Decoder):
    """zxing-cpp (``import zxingcpp``), restricted to QR codes.

    Uses ``zxingcpp.read_barcodes(image, formats=BarcodeFormat.QRCode, try_rotate=...,
    try_downscale=..., try_invert=..., binarizer=..., text_mode=TextMode.Plain,
    return_errors=True)``. ``TextMode.Plain`` returns the decoded text as is; the library
    default ``TextMode.HRI`` rewrites control characters as ``<SOH>``-style names.
    Only results with ``valid`` set are returned as texts; with ``return_errors`` (the
    default) invalid ones (a code located but failing its checksum) are reported by
    :meth:`read` as boxes, for the cascade; without it the call is the library's own.
    ``binarizer`` is ``"local"`` (LocalAverage, the library default) or ``"global"``
    (GlobalHistogram). ``try_invert`` reads light-on-dark codes (dark-mode phones).
    """

    def __init__(
        self,
        *,
        try_invert: bool = True,
        try_rotate: bool = True,
        try_downscale: bool = True,
        binarizer: str = "local",
        return_errors: bool = True,
        name: str | None = None,
    ) -> None:
        import zxingcpp

        if binarizer not in BINARIZERS:
            raise ValueError(f"binarizer must be one of {BINARIZERS}, not {binarizer!r}")
        self._zxing = zxingcpp
        self.binarizer = binarizer
        self.name = name or ("zxing" if binarizer == "local" else f"zxing-{binarizer}")
        self._options: dict[str, Any] = {
            "formats": zxingcpp.BarcodeFormat.QRCode,
            "try_rotate": try_rotate,
            "try_downscale": try_downscale,
            "try_invert": try_invert,
            "binarizer": (
                zxingcpp.Binarizer.LocalAverage
                if binarizer == "local"
                else zxingcpp.Binarizer.GlobalHistogram
            ),
            "text_mode": zxingcpp.TextMode.Plain,
            "return_errors": return_errors,
        }

    def __repr__(self) -> str:
        flags = ", ".join(
            f"{k}={self._options[k]}" for k in ("try_invert", "try_rotate", "try_downscale")
        )
        return f"ZxingDecoder({flags}, binarizer={self.binarizer!r})"

    def read(self, image: np.ndarray) -> tuple[list[Decoded], list[Box]]:
        """The codes read, and the boxes of codes located but not decoded."""
        results = self._zxing.read_barcodes(check_image(image), **self._options)
        texts = _unique((r.text for r in results if r.valid), self.name)
        seen = [] if texts else [_box(r.position) for r in results if not r.valid]
        return texts, seen

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        return self.read(image)[0]


def _box(position: Any) -> Box:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    xs = [int(p.x) for p in corners]
    ys = [int(p.y) for p in corners]
    return min(xs), min(ys), max(xs) + 1, max(ys) + 1


class PyzbarDecoder(Decoder):
    """ZBar through pyzbar, restricted to QR codes (``symbols=[ZBarSymbol.QRCODE]``).

    The pixels go to ``pyzbar.pyzbar.decode`` as a ``(bytes, width, height)`` tuple, which
    pyzbar hands to ZBar as 8-bit grayscale ("Y800") with no Pillow conversion. ZBar
    returns bytes (normally UTF-8, having converted the symbol's text itself); they are
    decoded as UTF-8, falling back to ISO-8859-1. ZBar does not read inverted codes: with
    ``try_invert`` the inverse image is scanned too when the image itself gave nothing.
    """

    def __init__(self, *, try_invert: bool = False) -> None:
        from pyzbar import pyzbar

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]
        self.try_invert = try_invert
        self.name = "pyzbar"

    def __repr__(self) -> str:
        return f"PyzbarDecoder(try_invert={self.try_invert})"

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        found = self._scan(image)
        if not found and self.try_invert:
            found = self._scan(255 - image)
        return found

    def _scan(self, image: np.ndarray) -> list[Decoded]:
        height, width = image.shape
        pixels = np.ascontiguousarray(image).tobytes()
        try:
            results = self._pyzbar.decode((pixels, width, height), symbols=self._symbols)
        except self._pyzbar.PyZbarError as exc:
            log.warning("pyzbar could not scan a %dx%d frame: %s", width, height, exc)
            return []
        return _unique(
            (_text(r.data) for r in results if r.type == "QRCODE"),
            self.name,
        )


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def _first_found(decoders: Iterable[Decoder], image: np.ndarray) -> list[Decoded]:
    for decoder in decoders:
        found = decoder.decode(image)
        if found:
            seen: dict[str, Decoded] = {}
            for item in found:
                seen.setdefault(item.text, item)
            return list(seen.values())
    return []


class CascadeDecoder(Decoder):
    """Tries decoders in turn; returns the first non-empty result (texts de-duplicated)."""

    name = "cascade"

    def __init__(self, decoders: Sequence[Decoder], *, name: str = "cascade") -> None:
        self.decoders = tuple(decoders)
        self.name = name
        if not self.decoders:
            raise ValueError("CascadeDecoder needs at least one decoder")

    def __repr__(self) -> str:
        return f"CascadeDecoder({list(self.decoders)!r})"

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        return _first_found(self.decoders, image)


class SeenFallbackCascade(Decoder):
    """zxing-cpp passes in turn; a fallback only where zxing-cpp located a code it failed.

    Each zxing pass returns what it read, or the boxes of codes it located but could not
    decode. When no pass read anything but some pass located a code, ``fallback`` decodes
    the region around the located codes: their bounding box grown by ``margin`` of its
    size on each side (the quiet zone), inverted first when that quiet zone is darker than
    the code (a light-on-dark code, which ZBar cannot read as it is). With nothing located
    the answer is ``[]`` without running the fallback: frames with no code cost only the
    zxing passes.

    With ``only_if_first_missed`` the fallback runs only when the first pass located
    nothing (later passes did): a binarisation miss, where another binariser may help,
    rather than a symbol the first pass found and could not correct (damaged or warped).
    """

    def __init__(
        self,
        passes: Sequence[ZxingDecoder],
        fallback: Decoder | None,
        *,
        margin: float = 0.25,
        only_if_first_missed: bool = False,
        name: str = "cascade",
    ) -> None:
        if not passes:
            raise ValueError("SeenFallbackCascade needs at least one zxing pass")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin!r}")
        self.passes = tuple(passes)
        self.fallback = fallback
        self.margin = margin
        self.only_if_first_missed = only_if_first_missed
        self.name = name

    @property
    def decoders(self) -> tuple[Decoder, ...]:
        """The passes, then the fallback."""
        return self.passes + ((self.fallback,) if self.fallback is not None else ())

    def __repr__(self) -> str:
        return (
            f"SeenFallbackCascade({list(self.passes)!r}, fallback={self.fallback!r}, "
            f"only_if_first_missed={self.only_if_first_missed})"
        )

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        located: list[Box] = []
        first_located = False
        for index, zxing in enumerate(self.passes):
            found, boxes = zxing.read(image)
            if found:
                return found
            located.extend(boxes)
            first_located = first_located or (index == 0 and bool(boxes))
        if not located or self.fallback is None:
            return []
        if self.only_if_first_missed and first_located:
            return []
        region, inverted = crop_around(image, located, self.margin)
        if inverted:
            region = 255 - region
        return _first_found([self.fallback], region)


def crop_around(image: np.ndarray, boxes: Sequence[Box], margin: float) -> tuple[np.ndarray, bool]:
    """The part of ``image`` covering all ``boxes`` grown by ``margin`` (clipped), and
    whether the code there looks inverted (its surround darker than the code itself)."""
    height, width = image.shape
    bx0 = max(0, min(b[0] for b in boxes))
    by0 = max(0, min(b[1] for b in boxes))
    bx1 = min(width, max(b[2] for b in boxes))
    by1 = min(height, max(b[3] for b in boxes))
    if bx1 <= bx0 or by1 <= by0:  # boxes wholly outside the frame: use the whole frame
        return image, False
    grow_x = int((bx1 - bx0) * margin) + 4
    grow_y = int((by1 - by0) * margin) + 4
    x0, x1 = max(0, bx0 - grow_x), min(width, bx1 + grow_x)
    y0, y1 = max(0, by0 - grow_y), min(height, by1 + grow_y)
    region = np.ascontiguousarray(image[y0:y1, x0:x1])
    inside = image[by0:by1, bx0:bx1]
    ring_pixels = region.size - inside.size
    inverted = False
    if ring_pixels > 0:
        ring_mean = (float(region.sum(dtype=np.int64)) - float(inside.sum(dtype=np.int64))) / (
            ring_pixels
        )
        inverted = ring_mean < float(inside.mean())
    return region, inverted


def default_decoder() -> Decoder:
    """The measured default (see the module docs): zxing-cpp with its LocalAverage
    binariser, then with GlobalHistogram, then pyzbar on the crop of a code only the
    GlobalHistogram pass located."""
    return SeenFallbackCascade(
        [ZxingDecoder(), ZxingDecoder(binarizer="global")],
        PyzbarDecoder(),
        only_if_first_missed=True,
    )


DECODER_NAMES = ("zxing", "pyzbar", "cascade")


def decoder_named(name: str) -> Decoder:
    """``zxing`` (zxing-cpp alone), ``pyzbar`` (ZBar alone) or ``cascade`` (the default)."""
    if name == "zxing":
        return ZxingDecoder()
    if name == "pyzbar":
        return PyzbarDecoder()
    if name == "cascade":
        return default_decoder()
    raise ValueError(f"unknown decoder {name!r}: choose one of {', '.join(DECODER_NAMES)}")
