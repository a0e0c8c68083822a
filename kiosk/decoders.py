"""QR decoders behind one interface: zxing-cpp, pyzbar (ZBar) and a cascade of both.

All decoders take a grayscale image (2-D ``uint8`` numpy array) and return the texts of
the QR codes they read, as :class:`Decoded` values; an image with no readable code gives
``[]``. Malformed input (not an array, wrong dtype or shape, empty) raises ``ValueError``.
Decoders only read QR codes (Model 2, plus Model 1 / Micro QR / rMQR with zxing-cpp 3):
other symbologies in view are ignored.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


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


class ZxingDecoder(Decoder):
    """zxing-cpp (``import zxingcpp``), restricted to QR codes.

    Uses ``zxingcpp.read_barcodes(image, formats=BarcodeFormat.QRCode, try_rotate=...,
    try_downscale=..., try_invert=..., text_mode=TextMode.Plain)``. ``TextMode.Plain``
    returns the decoded text as is; the library default ``TextMode.HRI`` rewrites control
    characters as ``<SOH>``-style names. Only results with ``valid`` set are kept
    (``return_errors`` stays False, so checksum failures are not returned anyway).
    ``try_invert`` also reads light-on-dark codes (phones in dark mode) at about twice the
    cost on frames without a code.
    """

    name = "zxing"

    def __init__(
        self,
        *,
        try_invert: bool = True,
        try_rotate: bool = True,
        try_downscale: bool = True,
    ) -> None:
        import zxingcpp

        self._zxing = zxingcpp
        self._options: dict[str, Any] = {
            "formats": zxingcpp.BarcodeFormat.QRCode,
            "try_rotate": try_rotate,
            "try_downscale": try_downscale,
            "try_invert": try_invert,
            "text_mode": zxingcpp.TextMode.Plain,
        }

    def __repr__(self) -> str:
        flags = ", ".join(
            f"{k}={self._options[k]}" for k in ("try_invert", "try_rotate", "try_downscale")
        )
        return f"ZxingDecoder({flags})"

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        results = self._zxing.read_barcodes(image, **self._options)
        return _unique((r.text for r in results if r.valid), self.name)


class PyzbarDecoder(Decoder):
    """ZBar through pyzbar, restricted to QR codes (``symbols=[ZBarSymbol.QRCODE]``).

    The pixels go to ``pyzbar.pyzbar.decode`` as a ``(bytes, width, height)`` tuple, which
    pyzbar hands to ZBar as 8-bit grayscale ("Y800") with no Pillow conversion. ZBar
    returns bytes (normally UTF-8, having converted the symbol's text itself); they are
    decoded as UTF-8, falling back to ISO-8859-1. ZBar does not read inverted codes.
    """

    name = "pyzbar"

    def __init__(self) -> None:
        from pyzbar import pyzbar

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def _decode(self, image: np.ndarray) -> list[Decoded]:
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


class CascadeDecoder(Decoder):
    """Tries decoders in turn; returns the first non-empty result (texts de-duplicated)."""

    name = "cascade"

    def __init__(self, decoders: Sequence[Decoder]) -> None:
        self.decoders = tuple(decoders)
        if not self.decoders:
            raise ValueError("CascadeDecoder needs at least one decoder")

    def __repr__(self) -> str:
        return f"CascadeDecoder({list(self.decoders)!r})"

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        for decoder in self.decoders:
            found = decoder.decode(image)
            if found:
                seen: dict[str, Decoded] = {}
                for item in found:
                    seen.setdefault(item.text, item)
                return list(seen.values())
        return []


def default_decoder() -> Decoder:
    """zxing-cpp first (fast, reads more), then pyzbar for what zxing-cpp missed."""
    return CascadeDecoder([ZxingDecoder(), PyzbarDecoder()])
