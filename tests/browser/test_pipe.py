"""The browser pipe before the wallet lands: a page in headless Chromium holding a real
presentation's QR code, screenshotted, read through the kiosk's replay frame source and
decoder cascade, and verified by protocol/; the live aggregator answering the browser;
Korean text drawn with a real CJK font."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from protocol import keys
from protocol.errors import ProtocolError
from protocol.presentation import Presentation
from tests.browser.helpers import (
    code_page_html,
    decode_png,
    fresh_presentation,
    read_element,
    screenshot_png,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveAggregator

ISSUER = keys.generate()


@pytest.mark.parametrize("error", ["l", "m"])
def test_a_presentation_on_a_page_is_read_by_the_kiosk_path_and_verifies(
    page: Page, error: str
) -> None:
    presentation, _ = fresh_presentation(ISSUER)
    text = presentation.to_text()
    page.set_content(code_page_html(text, error=error, caption="입장 코드"))
    page.wait_for_selector('body[data-state="code"] #qr')

    texts = read_element(page, "#qr")

    assert texts == [text]
    read = Presentation.from_text(texts[0])
    read.verify([ISSUER.public_key()], now=time.time())
    with pytest.raises(ProtocolError):  # the check can fail: another issuer's key
        read.verify([keys.generate().public_key()], now=time.time())


def test_a_page_without_a_code_reads_as_nothing(page: Page) -> None:
    page.set_content('<body data-state="code"><div id="qr" style="width:300px;height:300px">')
    assert read_element(page, "#qr") == []


def test_a_spoiled_code_is_not_read(page: Page) -> None:
    """A code with a bar drawn across its middle third: the decode path must not guess."""
    presentation, _ = fresh_presentation(ISSUER)
    page.set_content(code_page_html(presentation.to_text(), error="l"))
    page.evaluate(
        """() => {
        const box = document.getElementById('qr').getBoundingClientRect();
        const bar = document.createElement('div');
        Object.assign(bar.style, {position: 'absolute', background: '#000',
          left: box.left + 'px', width: box.width + 'px',
          top: (box.top + box.height / 3) + 'px', height: (box.height / 3) + 'px'});
        document.body.appendChild(bar); }"""
    )
    assert decode_png(page.screenshot(type="png")) == []


def test_the_live_aggregator_answers_the_browser(
    page: Page, live_aggregator: LiveAggregator
) -> None:
    response = page.goto(live_aggregator.url + "/healthz")
    assert response is not None and response.status == 200
    health = json.loads(page.locator("body").inner_text())
    assert health["ok"] is True
    assert health["tree_size"] == 0
    missing = page.goto(live_aggregator.url + "/no-such-page")
    assert missing is not None and missing.status == 404


KOREAN = "오늘의 입장 코드를 보여 주세요"


def test_korean_renders_with_a_cjk_font(page: Page, tmp_path: Path) -> None:
    """Chromium draws every Hangul syllable with a real font (no missing-glyph boxes)."""
    page.set_content(
        f'<html lang="ko"><body style="font-size:32px"><p id="ko">{KOREAN}</p></body></html>'
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#ko"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    glyphs = sum(font["glyphCount"] for font in fonts)
    assert glyphs == len(KOREAN), fonts  # every character, spaces included, had a glyph
    hangul_fonts = [f["familyName"] for f in fonts if f["glyphCount"] > KOREAN.count(" ")]
    assert hangul_fonts, fonts
    shot = screenshot_png(page, "#ko")
    (tmp_path / "korean.png").write_bytes(shot)
    assert len(shot) > 1000  # drawn, not blank
