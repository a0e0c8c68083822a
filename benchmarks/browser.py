"""Headless Chromium for the browser tests and the wallet figures, and a kiosk's eye on it.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, the ``chromium`` package
``./dev test`` installs) through ``executable_path``: nothing is downloaded at set-up
(no ``playwright install``), and the browser is the one a Debian user gets. Playwright
rather than Selenium + chromedriver because it gives, without version-matched CDP
bindings, what the wallet figures need: every response the page and its service worker
load (``context.on("response")``), the browser's offline emulation
(``context.set_offline``), whether a response came from the service worker, and a CDP
session for what it does not wrap (clearing caches, the fonts a node is drawn with).

``SAFECODE_CHROMIUM`` names another Chromium binary.

:func:`decode_png` reads a screenshot the way a kiosk reads its camera: the PNG goes
through the replay frame source (``kiosk.frames.ReplayFrameSource``) and the kiosk's
default decoder cascade (``kiosk.decoders.default_decoder``). :func:`qr_symbols` reads
the same image with zxing-cpp alone for what the kiosk does not need (the QR version and
error-correction level).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiosk.decoders import Decoder, default_decoder
from kiosk.frames import ReplayFrameSource

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "SAFECODE_CHROMIUM"
CHROMIUM_ARGS = (
    # As root (CI, containers) Chromium refuses to start without this: its setuid/namespace
    # sandbox is not available to root. The pages it loads are our own, over loopback.
    "--no-sandbox",
    # Containers often give /dev/shm 64 MB; Chromium then crashes on large pages.
    "--disable-dev-shm-usage",
)


class BrowserError(Exception):
    """Headless Chromium cannot be started or did not behave as a measurement needs."""


def chromium_path() -> Path:
    """The Chromium binary: ``$SAFECODE_CHROMIUM`` or Debian's ``/usr/bin/chromium``."""
    return Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from :func:`chromium_path` with :data:`CHROMIUM_ARGS`."""
    from playwright.sync_api import Error as PlaywrightError

    path = chromium_path()
    if not os.access(path, os.X_OK):
        raise BrowserError(
            f"no Chromium at {path}: ./dev test installs Debian's chromium package "
            f"(or set {CHROMIUM_ENV})"
        )
    try:
        return playwright.chromium.launch(
            executable_path=str(path), headless=True, args=list(CHROMIUM_ARGS)
        )
    except PlaywrightError as exc:
        raise BrowserError(f"cannot start Chromium at {path}: {exc.message}") from exc


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """A running headless Chromium (and its Playwright driver), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_png(page: Page, selector: str) -> bytes:
    """PNG bytes of the element ``selector`` matches (exactly one), as the screen shows it."""
    return page.locator(selector).screenshot(type="png", animations="disabled", caret="hide")


def decode_png(png: bytes, decoder: Decoder | None = None) -> list[str]:
    """The texts a kiosk reads from ``png``: replay frame source, then its decoder cascade.

    The image is written to a private temporary folder and replayed as one frame, so it
    passes the same checks (formats, pixel budget, grayscale conversion) as a frame from
    ``[camera] kind = "replay"``.
    """
    decoder = decoder or default_decoder()
    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="safecode-shot-") as folder:
        path = Path(folder) / "frame.png"
        path.write_bytes(png)
        with ReplayFrameSource(path) as source:
            for frame in source:
                texts.extend(found.text for found in decoder.decode(frame.image))
    return texts


@dataclass(frozen=True)
class QrSymbol:
    """One QR code zxing-cpp read: its text, version (1-40) and error-correction level."""

    text: str
    version: int
    ec_level: str


def gray_from_png(png: bytes) -> np.ndarray:
    """A PNG as a 2-D uint8 grayscale array (Pillow's ITU-R 601 luma, as the kiosk uses)."""
    from PIL import Image

    with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
        return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))


def qr_symbols(image: bytes | np.ndarray) -> list[QrSymbol]:
    """The QR codes zxing-cpp reads in a PNG (or grayscale array), with version and level."""
    import zxingcpp

    gray = gray_from_png(image) if isinstance(image, bytes) else image
    results = zxingcpp.read_barcodes(
        gray, formats=zxingcpp.BarcodeFormat.QRCode, text_mode=zxingcpp.TextMode.Plain
    )
    symbols = []
    for result in results:
        if not result.valid:
            continue
        extra = result.extra if isinstance(result.extra, dict) else {}
        version = int(extra.get("Version", 0) or 0)
        symbols.append(QrSymbol(result.text, version, str(result.ec_level)))
    return symbols
