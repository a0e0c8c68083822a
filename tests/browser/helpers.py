"""Helpers for the browser tests: pages holding a QR code, screenshots, a kiosk's reading.

``screenshot_png`` and ``decode_png`` are :mod:`benchmarks.browser`'s (the wallet
figures use the same ones); this module adds what only tests need.
"""

from __future__ import annotations

import base64
import html
import io
import time
from typing import TYPE_CHECKING

import segno

from benchmarks.browser import decode_png, screenshot_png
from protocol import keys
from protocol.credential import issue_credential
from protocol.presentation import Presentation, present

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from playwright.sync_api import Page

__all__ = [
    "code_page_html",
    "decode_png",
    "fresh_presentation",
    "qr_data_url",
    "read_element",
    "screenshot_png",
]


def qr_data_url(text: str, *, error: str = "m", scale: int = 5) -> str:
    """A ``data:image/png`` URL of the QR code of ``text`` (4-module quiet zone), via segno."""
    out = io.BytesIO()
    qr = segno.make_qr(text, error=error, boost_error=False)
    qr.save(out, kind="png", scale=scale, border=4)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def code_page_html(text: str, *, error: str = "m", caption: str = "") -> str:
    """A phone page the way the wallet will look once a code shows: ``body[data-state=code]``
    holding the code as ``#qr`` (dark on white, quiet zone included)."""
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{margin:0;background:#fff;font-family:sans-serif;text-align:center}"
        "#qr{width:92vw;image-rendering:pixelated;margin-top:12vh}</style></head>"
        '<body data-state="code">'
        f'<img id="qr" alt="" src="{qr_data_url(text, error=error)}">'
        f"<p>{html.escape(caption)}</p></body></html>"
    )


def fresh_presentation(
    issuer: Ed25519PrivateKey, *, now: float | None = None
) -> tuple[Presentation, Ed25519PrivateKey]:
    """A presentation of a new day-long credential made now, and the wallet key that signed it."""
    now = time.time() if now is None else now
    wallet_key = keys.generate()
    credential = issue_credential(
        issuer,
        keys.public_bytes(wallet_key),
        not_before=int(now) - 3600,
        not_after=int(now) + 20 * 3600,
    )
    return present(wallet_key, credential, now=now), wallet_key


def read_element(page: Page, selector: str = "#qr") -> list[str]:
    """Screenshot ``selector`` and return the texts a kiosk reads from it."""
    return decode_png(screenshot_png(page, selector))
