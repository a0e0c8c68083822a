"""QR decoders behind one interface: zxing-cpp, pyzbar (ZBar) and the measured cascades.

All decoders take a grayscale image (2-D ``uint8`` numpy array) and return the texts of
the QR codes they read, as :class:`Decoded` values; an image with no readable code gives
``[]``. Malformed input (not an array, wrong dtype or shape, empty) raises ``ValueError``.
Decoders only read QR codes (Model 2, plus Model 1 / Micro QR / rMQR with zxing-cpp 3):
other symbologies in view are ignored.

The default (:func:`default_decoder`) is the gated door cascade, :class:`GatedCascade`:

1. zxing-cpp (LocalAverage, ``try_invert=False``) on every frame; a read ends there;
2. the probable-code gate (:func:`kiosk.decode_stages.probable_code`: a compact patch of
   fine high-contrast texture on a 4x subsampled frame, about a third of a zxing-cpp pass);
   no probable code and nothing located by step 1: ``[]`` (most frames at a door);
3. the stages in turn: zxing-cpp on the inverted frame (dark-mode codes), zxing-cpp on
   the gate's crop sharpened (unsharp mask) and enlarged 3x (codes at 1.5-2.5 pixels per
   module, blurred: most of the gain), zxing-cpp GlobalHistogram, then ZBar on a code
   only that pass located (the previous cascade's fallback, below).

Chosen on the door frame set (benchmarks/door_frames.py: real CHECKIN presentations on
a phone at level L version 9 and CARD presentations on paper at level M, 10-40 cm, tilt
to 40 degrees, motion and focus blur, glare, moiré, dark mode, low light, JPEG, 640x480;
150 visits of 30 frames and 300 empty frames each timed 5 times, seed 17), one run of
``safecode bench decoders --set door --json --visits 150 --empty 300 --levels L``
on the 2-core x86 shared with other jobs (load 11.1 before, 6.1 after), zxing-cpp 3.1.1:

===========================  ==========  ==========  ============  =============
decoder                      per frame   per visit   code ms med.  empty ms med.
===========================  ==========  ==========  ============  =============
zxing-cpp alone (defaults)   22.8 %      37.3 %      2.18          1.13
**cascade** (the default)    37.8 %      54.7 %      9.90          1.62
===========================  ==========  ==========  ============  =============

+15.0 points per frame; cost 1.43x zxing-cpp's median on empty frames (1.43x the mean;
1.19x in an earlier run with the gate's ``fill`` at 0.35; the ratio moves with the
machine's load), 4.5x on code frames (a missed code frame runs every stage); no misread
in 4,500 code and 1,500 empty decodes. Paired: 675 frames only the cascade read, none
only zxing-cpp. Nobody reads 30-40 cm (1.1-1.5 pixels per module at level L version 9);
low light reads 9 %. Per error-correction level, on the same phone scenes, each at its
smallest version (the earlier run, ``--levels L,M,Q,H``): L (v9) 36.8 % per frame with
the cascade, M (v10) 34.3 %, Q (v13) 20.6 %, H (v15) 14.1 % (zxing-cpp alone: 22.1,
19.4, 9.8, 5.5 %): L, the wallet's, reads best. ``safecode bench qr-levels --levels L``
now reads 42.1 % (30.4 % with the previous cascade).

Stages measured and dropped or kept (``--candidates``, 24 visits and 90 empty frames,
seed 23, gate ``fill`` 0.35, per frame: zxing-cpp 24.2 %, cascade 33.5 %): without the
sharpened enlarged crop 26.1 % (the stage that matters); enlarged 2x instead of 3x 32.8
%; enlarged without the unsharp mask 30.7 %; no gate 27.8 % (the gate is also what
locates the code to enlarge) at about 4x the empty-frame cost; without the inverted pass
33.5 % and without GlobalHistogram and ZBar 33.3 % (both kept: cheap behind the gate,
and they keep the image-set figures below); a median filter, a Gaussian blur against
moiré, CLAHE and a half-size frame, each added at the end, read 1 more frame in 720
(dropped). The previous cascade (:func:`previous_default`) reads 26.1 %.

On the image set below the gated cascade reads the same 169 of 179 as the previous
default (one run, ``--repeats 1``, load 10: 1.40x zxing-cpp's mean cost per image, 0.56x
on its empty frames).

The previous default, chosen on the image set: ``safecode bench decoders``
(benchmarks/decoders.py) decodes the 179 labelled images of
shared/data/qr/zxing-blackbox and 10 empty 640x480 frames with every candidate, each
image 5 times in one loop (cost = per-image median, then the mean over images). One run
on a 2-core x86 shared with other jobs (load 6.22), zxing-cpp 3.1.1, pyzbar 0.1.9 (ZBar
0.23); absolute times vary with load, ratios less:

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
**previous cascade** (below)              169 (94.4%)  0.68     9.2
========================================  ===========  =======  ==============

In that run the previous cascade cost 1.019x zxing-cpp's mean on the image set and
1.149x on empty frames.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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


def _distinct(found: Iterable[Decoded]) -> list[Decoded]:
    """``found`` without a repeated text, the first of each kept, in order."""
    seen: dict[str, Decoded] = {}
    for item in found:
        seen.setdefault(item.text, item)
    return list(seen.values())


def _first_found(decoders: Iterable[Decoder], image: np.ndarray) -> list[Decoded]:
    for decoder in decoders:
        found = decoder.decode(image)
        if found:
            return _distinct(found)
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


@dataclass
class Hints:
    """What the door cascade's earlier steps learnt about a frame, for the later stages."""

    gate_box: Box | None = None
    """Where :func:`kiosk.decode_stages.probable_code` put the probable code."""
    located: list[Box] = field(default_factory=list)
    """Codes zxing-cpp passes located but could not decode."""
    local_located: bool = False
    """Whether a LocalAverage pass (the first, or the inverted) located a code it could
    not decode: then the symbol is damaged or warped, not badly binarised."""
    global_located: list[Box] = field(default_factory=list)
    """Codes only the GlobalHistogram pass located."""

    def boxes(self) -> list[Box]:
        """Every box known: the gate's and the located codes'."""
        return ([self.gate_box] if self.gate_box else []) + self.located


class Stage(abc.ABC):
    """One extra attempt of the door cascade, run only on frames the first pass missed."""

    name: str = "stage"

    @abc.abstractmethod
    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        """Codes read (``[]`` if none); may add what it located to ``hints``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class InvertedPass(Stage):
    """zxing-cpp on the inverted frame: light-on-dark (dark-mode) codes."""

    name = "inverted"

    def __init__(self) -> None:
        self.zxing = ZxingDecoder(try_invert=False)

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        found, boxes = self.zxing.read(255 - image)
        hints.located.extend(boxes)
        hints.local_located = hints.local_located or bool(boxes)
        return found


class EnlargedCrop(Stage):
    """zxing-cpp (both polarities) on the probable code's crop, sharpened and enlarged
    (:func:`kiosk.decode_stages.sharpen_and_enlarge`) by ``factor``, less where the crop
    would grow past ``max_enlarged`` pixels a side. Skipped when the region is wider or
    taller than ``max_side`` pixels (at the door, a cloth or a texture: a code that big
    is read by the first pass); with ``max_side`` ``None`` and nothing known of where
    the code is, the whole frame is enlarged."""

    name = "enlarged"

    def __init__(
        self,
        *,
        factor: float = 3.0,
        radius: float = 1.0,
        percent: int = 100,
        max_side: int | None = 400,
        max_enlarged: int = 720,
    ) -> None:
        self.zxing = ZxingDecoder(try_invert=True, name="zxing-enlarged")
        self.factor, self.radius, self.percent = factor, radius, percent
        self.max_side = max_side
        self.max_enlarged = max_enlarged

    def __repr__(self) -> str:
        return f"EnlargedCrop(factor={self.factor}, radius={self.radius}, percent={self.percent})"

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        from . import decode_stages

        boxes = hints.boxes()
        region = image
        if boxes:
            union = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            side = max(union[2] - union[0], union[3] - union[1])
            if self.max_side is not None and side > self.max_side:
                return []  # modules big enough for the passes on the frame itself
            region = decode_stages.crop(image, union)
        elif self.max_side is not None:
            return []
        factor = max(1.0, min(self.factor, self.max_enlarged / max(region.shape)))
        bigger = decode_stages.sharpen_and_enlarge(
            region, factor=factor, radius=self.radius, percent=self.percent
        )
        return self.zxing.read(bigger)[0]


class GlobalPass(Stage):
    """zxing-cpp with the GlobalHistogram binariser (reads some codes LocalAverage misses)."""

    name = "global"

    def __init__(self) -> None:
        self.zxing = ZxingDecoder(binarizer="global")

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        found, boxes = self.zxing.read(image)
        hints.located.extend(boxes)
        hints.global_located.extend(boxes)
        return found


class PyzbarOnCrop(Stage):
    """ZBar on the crop of codes located by a later zxing-cpp pass but not by the first (a
    binarisation miss: see the module docs), inverted first when the code looks inverted."""

    name = "pyzbar"

    def __init__(self, margin: float = 0.25) -> None:
        self.pyzbar = PyzbarDecoder()
        self.margin = margin

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        if hints.local_located or not hints.global_located:
            return []
        region, inverted = crop_around(image, hints.global_located, self.margin)
        return self.pyzbar.decode(255 - region if inverted else region)


class FilteredPass(Stage):
    """zxing-cpp on the whole frame after ``transform`` (candidate stages of the bench)."""

    def __init__(self, name: str, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        self.name = name
        self.transform = transform
        self.zxing = ZxingDecoder(try_invert=True, name=f"zxing-{name}")

    def __repr__(self) -> str:
        return f"FilteredPass({self.name!r})"

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        return self.zxing.read(np.ascontiguousarray(self.transform(image)))[0]


class GatedCascade(Decoder):
    """The door cascade: one cheap zxing-cpp pass on every frame; the other stages only
    where a code is probably present.

    1. zxing-cpp, LocalAverage binariser, dark-on-light only (``try_invert=False``: the
       inverted pass is a stage, so an empty frame does not pay for it).
    2. If that read nothing: the gate (``gate``, default
       :func:`kiosk.decode_stages.probable_code`). With no probable code and nothing
       located by the first pass, the answer is ``[]``: most frames stop here.
    3. Otherwise each of ``stages`` in turn until one reads.

    ``gate=None`` runs the stages on every missed frame (for measuring the gate itself).
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        gate: Callable[[np.ndarray], Box | None] | None | str = "default",
        name: str = "cascade",
    ) -> None:
        from . import decode_stages

        self.first = ZxingDecoder(try_invert=False)
        self.stages = tuple(stages)
        self.gate = decode_stages.probable_code if gate == "default" else gate
        self.name = name

    @property
    def decoders(self) -> tuple[Decoder, ...]:
        """The first pass (the stages are not decoders on their own)."""
        return (self.first,)

    def __repr__(self) -> str:
        gate = getattr(self.gate, "__name__", None)
        return f"GatedCascade({list(self.stages)!r}, gate={gate})"

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        found, located = self.first.read(image)
        if found:
            return found
        hints = Hints(located=list(located), local_located=bool(located))
        if self.gate is not None:
            hints.gate_box = self.gate(image)
            if hints.gate_box is None and not located:
                return []
        for stage in self.stages:
            found = stage.run(image, hints)
            if found:
                return _distinct(found)
        return []


def default_decoder() -> Decoder:
    """The measured default (see the module docs and benchmarks/door_reads.py): the gated
    door cascade with the inverted pass, the sharpened enlarged crop, the GlobalHistogram
    pass and ZBar on a code only that pass located."""
    return GatedCascade([InvertedPass(), EnlargedCrop(), GlobalPass(), PyzbarOnCrop()])


def previous_default() -> Decoder:
    """The default before the door set (``zxing+zxing-global+pyzbar-if-seen`` without
    the first pass locating): kept for comparison in the benchmarks."""
    return SeenFallbackCascade(
        [ZxingDecoder(), ZxingDecoder(binarizer="global")],
        PyzbarDecoder(),
        only_if_first_missed=True,
        name="previous-cascade",
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
