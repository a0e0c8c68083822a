"""Exposure notices in a real browser: a matching wallet shows its notice, another does not.

A site laid out as provisioning does (with an ``[issuer]`` table); its issuer app over
real HTTP serves the wallet, ``/v1/wallet`` and ``GET /v1/notices``. Two headless
Chromium profiles enrol. Python opens the first wallet's sealed contact with the health
authority's key, computes its tag from the contact's notify secret
(``protocol.notice.notice_tag``) and publishes a notice through
``aggregator.notices.publish`` (audit entry first, tags padded with random ones). On its
next start the first wallet shows the notice (Korean, then English), with guidance that
holds markup shown as plain text; the second wallet fetches the same list and shows
nothing; neither sends anything but the GET. Screenshots (412x915 in Korean and
English, 1280x900 in English) go to ``tmp_path``
(and to ``SAFECODE_SCREENSHOTS=DIR`` when set, to look at).
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from playwright.sync_api import Browser, BrowserContext, Page, Request

from aggregator.audit_log import AuditLogEntry
from aggregator.db import open_database
from aggregator.issuer.tables import EnrolmentEntry
from aggregator.notices import publish
from aggregator.web import create_app_from_config
from protocol.authority_key import format_public_key
from protocol.contact import Contact, open_contact
from protocol.notice import new_notice_id, notice_tag
from provisioning.site import Site
from simulator.site import init_simulated_site
from tests.browser.conftest import PHONE_VIEWPORT, phone_context
from tests.unit.ledger_builder import free_port, serving

pytestmark = pytest.mark.integration

AUTHORITY = X25519PrivateKey.generate()
EXPOSED, OTHER = "010-2345-6789", "010-9876-5432"
GUIDANCE = {
    "ko": "14일 동안 발열, 기침 같은 증상을 살펴 주시고, 증상이 있으면 가까운 보건소에서"
    " 검사를 받아 주세요. <img src=x onerror='window.__xss=1'>",
    "en": "Please watch for fever or a cough for 14 days and, if you notice any, get tested"
    " at your nearest public health centre. <img src=x onerror='window.__xss=1'>",
}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return init_simulated_site(
        tmp_path / "site",
        kiosks=1,
        visitors=0,
        mqtt_port=free_port(),
        authority_key=format_public_key(AUTHORITY),
    )


@pytest.fixture
def issuer_url(site: Site) -> Iterator[str]:
    with serving(create_app_from_config(site.aggregator_config, issuer=True)) as url:
        yield url


@pytest.fixture
def other_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A second phone: its own profile, storage and service worker."""
    with phone_context(chromium) as context:
        yield context


def _enrol(page: Page, url: str, phone: str) -> None:
    page.goto(url + "/wallet")
    page.wait_for_selector('body[data-state="enrol"]')
    page.fill("#enrol-phone", phone)
    page.check("#consent")
    page.click("#enrol-submit")
    page.wait_for_selector('body[data-state="code"]')


def _contacts(database_url: str) -> dict[str, Contact]:
    """Every stored contact, opened with the health authority's key, by phone number."""
    db = open_database(database_url)
    try:
        return {
            c.phone: c
            for c in (open_contact(AUTHORITY, bytes(e.contact)) for e in EnrolmentEntry.select())
        }
    finally:
        db.close()


def _publish(database_url: str, tags: list[bytes], notice_id: bytes) -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    db = open_database(database_url)
    try:
        publish(
            case=bytes(range(16)),
            actor="kim.official",
            role="official",
            reason="confirmed case 7, browser test",
            notice_id=notice_id,
            tags=tags,
            from_day=(today - datetime.timedelta(days=4)).isoformat(),
            to_day=(today - datetime.timedelta(days=2)).isoformat(),
            guidance=GUIDANCE,
        )
        assert AuditLogEntry.select().where(AuditLogEntry.action == "notice").count() == 1
    finally:
        db.close()


def _reload_and_fetch_notices(page: Page) -> list[Request]:
    """Reload the wallet; return the requests it made to /v1/ once it has read the list."""
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if "/v1/" in r.url else None)
    with page.expect_response(lambda r: r.url.endswith("/v1/notices")) as answer:
        page.reload()
    assert answer.value.status in (200, 304)
    page.wait_for_selector('body[data-state="code"]')
    return sent


def _shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("SAFECODE_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["SAFECODE_SCREENSHOTS"]) / path.name)
    return path


def test_a_wallet_shows_the_notice_carrying_its_tag_and_another_does_not(
    site: Site, issuer_url: str, page: Page, other_context: BrowserContext, tmp_path: Path
) -> None:
    other = other_context.new_page()
    _enrol(page, issuer_url, EXPOSED)
    _enrol(other, issuer_url, OTHER)
    assert page.get_attribute("body", "data-notice") == "none"

    contacts = _contacts(site.database_url)
    exposed = contacts["+821023456789"]
    assert "+821098765432" in contacts
    notice_id = new_notice_id()
    _publish(site.database_url, [notice_tag(exposed.notify_secret, notice_id)], notice_id)

    sent = _reload_and_fetch_notices(page)
    page.wait_for_selector('body[data-notice="shown"]')
    banner = page.locator("#notice")
    assert banner.get_attribute("data-notice") == notice_id.hex()
    text = banner.inner_text()
    assert GUIDANCE["ko"] in text and "노출 가능성 안내" in text
    assert page.locator("#notice img").count() == 0  # the markup stayed text
    assert page.evaluate("window.__xss === undefined")
    assert [(r.method, r.url.split("/v1/")[1]) for r in sent if r.method != "GET"] == []
    assert page.is_visible("#qr")  # the code is still there, below the notice
    shots = [_shot(page, tmp_path, "notice-ko")]
    page.click("#lang")
    page.wait_for_selector('html[lang="en"]')
    assert GUIDANCE["en"] in page.locator("#notice").inner_text()
    shots.append(_shot(page, tmp_path, "notice-en"))
    page.set_viewport_size({"width": 1280, "height": 900})
    shots.append(_shot(page, tmp_path, "notice-en-desktop"))
    page.set_viewport_size(PHONE_VIEWPORT)

    # Dismissed: off the main screen, still in the list of notices, also after a reload.
    page.click("#notice-dismiss")
    page.wait_for_selector('body[data-notice="dismissed"]')
    assert page.locator("#notice").count() == 0
    page.reload()
    page.wait_for_selector('body[data-state="code"]')
    page.wait_for_selector('body[data-notice="dismissed"]')
    page.click("#notices")
    page.wait_for_selector('body[data-state="notices"]')
    assert GUIDANCE["en"] in page.locator(".exposure").inner_text()
    shots.append(_shot(page, tmp_path, "notices-en"))
    page.click("#lang")
    page.wait_for_selector('html[lang="ko"]')
    assert page.get_attribute("body", "data-state") == "notices"
    assert GUIDANCE["ko"] in page.locator(".exposure").inner_text()
    shots.append(_shot(page, tmp_path, "notices-ko"))

    # The other phone reads the same list and finds nothing for itself.
    other_sent = _reload_and_fetch_notices(other)
    time.sleep(0.5)  # the match runs after the answer: give it time to (not) show
    assert other.get_attribute("body", "data-notice") == "none"
    assert other.locator("#notice, #notices").count() == 0
    assert [r for r in other_sent if r.method != "GET"] == []
    for shot in shots:
        assert shot.stat().st_size > 10_000
