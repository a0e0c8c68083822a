"""The venue owner's and the operator's pages in headless Chromium, retiring a kiosk for real.

Check-ins go through real ingest into the live aggregator's ledger; the broker is a real
Mosquitto with the dynamic-security plugin, and the kiosk being retired is connected to
it with its own account. A venue owner logs in, opens its venue (no identity on the
page, another venue refused); an operator logs in, opens the fleet, retires the kiosk
through the confirmation form (a wrong id first), and the broker drops the kiosk and
refuses it from then on.

Both pages are screenshotted at 412x915 and 1280x900, in Korean and English, into the
test's tmp_path (and, with ``SAFECODE_SCREENSHOTS=DIR``, copied there to look at).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aggregator import vault
from aggregator.accounts import users
from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER
from aggregator.db import database_proxy, open_database
from aggregator.dynsec import DynsecAccounts
from aggregator.fleet_history import SLOT_MS, FleetSampleEntry, slot_of
from aggregator.tables import CheckinEntry, KioskEntry
from protocol.status import encode_status
from simulator.broker import LocalBroker
from simulator.visitors import enrol_visitor
from tests.integration.test_broker_security import (
    ADMIN_PASSWORD,
    _device,
    _settings,
    _write_dynsec,
)
from tests.unit.conftest import TEST_MASTER_KEY
from tests.unit.trace_town import ISSUER, Town

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveAggregator

PASSWORD = "correct horse battery"
SIZES = ((412, 915), (1280, 900))


@pytest.fixture
def aggregator_settings(tmp_path: Path) -> dict[str, Any]:
    """The app on loopback: cookies without Secure (plain HTTP)."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite",
        "COOKIE_SECURE": False,
        "SECRET_KEY_FILE": tmp_path / "web-secret.key",
    }


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    workdir = tmp_path / "broker"
    workdir.mkdir()
    with LocalBroker(workdir=workdir, dynsec_file=_write_dynsec(workdir)) as running:
        yield running


@pytest.fixture
def site(live_aggregator: LiveAggregator, broker: LocalBroker) -> Iterator[dict[str, Any]]:
    """Accounts, kiosks with real check-ins and heartbeats, samples, broker accounts."""
    vault.install(vault.Vault(TEST_MASTER_KEY))
    database = open_database(live_aggregator.database_url)
    try:
        users.add_user("park", "venue", PASSWORD, ["cafe-1"])
        users.add_user("lee", "operator", PASSWORD)
        town = Town()
        now = time.time()
        credentials = []
        for kiosk, hours in (("cafe-in", (0.2, 1.5, 1.6, 5.0, 26.0, 74.0)), ("gym-in", (1.0,))):
            for ago in sorted(hours, reverse=True):
                wallet = enrol_visitor(ISSUER, now - 20 * 86_400)
                credentials.append(wallet.credential.credential_id)
                town.visit(wallet, kiosk, now - ago * 3600)
        now_ms = int(now * 1000)
        beats = {
            "cafe-in": ("online", {"firmware": "1.4.2", "queue": 1, "clock_synced": True}),
            "cafe-out": ("online", {"firmware": "1.4.2", "queue": 0, "clock_synced": False}),
            "gym-in": ("online", {"firmware": "1.3.0", "queue": 180, "disk_low": True}),
            "bar-in": ("offline", {}),
        }
        for kiosk_id, (state, figures) in beats.items():
            KioskEntry.update(
                last_status=encode_status(state, clock_wall_ms=now_ms, **figures).decode(),
                last_status_ms=now_ms - 4000,
            ).where(KioskEntry.kiosk_id == kiosk_id).execute()
        for i in range(1, 24 * 12):
            slot = slot_of(now_ms) - i * SLOT_MS
            online = 4 if 9 * 12 <= i < 20 * 12 else 3  # one kiosk off overnight
            FleetSampleEntry.create(slot_ms=slot, online=online, kiosks=4, sampled_ms=slot)
        secrets = [c.hex() for c in credentials]
        for row in CheckinEntry.select():
            secrets += [bytes(row.checkin_id).hex(), bytes(row.visit_tag).hex()]
        secrets += [bytes(k.device_key).hex() for k in KioskEntry.select()]
    finally:
        database.close()
        if not database_proxy.is_closed():
            database_proxy.close()
        vault.install(None)
    accounts = DynsecAccounts(
        _settings(broker, ADMIN_USER, ADMIN_PASSWORD), timeout_s=3, reserved={AGGREGATOR_USER}
    )
    live_aggregator.app.extensions["safecode.broker_accounts"] = accounts
    yield {
        "url": live_aggregator.url,
        "database_url": live_aggregator.database_url,
        "accounts": accounts,
        "secrets": secrets,
    }


def log_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/staff/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login")


def switch_language(page: Page, lang: str) -> None:
    if page.get_attribute("html", "lang") != lang:
        with page.expect_navigation():
            page.click(f"button[value={lang}]")
    assert page.get_attribute("html", "lang") == lang


def screenshots(page: Page, name: str, tmp_path: Path) -> list[Path]:
    """The page at each size in Korean and English."""
    shots = []
    for lang in ("ko", "en"):
        switch_language(page, lang)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            shot = tmp_path / f"{name}-{lang}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (name, lang, width, overflow)  # nothing wider than the screen
    if os.environ.get("SAFECODE_SCREENSHOTS"):
        for shot in shots:
            shutil.copy(shot, Path(os.environ["SAFECODE_SCREENSHOTS"]) / shot.name)
    return shots


def test_venue_owner_and_operator_pages_and_retiring_a_kiosk(
    site: dict[str, Any], broker: LocalBroker, page: Page, tmp_path: Path
) -> None:
    url = site["url"]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    # -- the venue owner -----------------------------------------------------------------
    log_in(page, url, "park")
    with page.expect_navigation():
        page.click("#role-links a[href='/staff/venues']")
    assert page.url == f"{url}/staff/venues"
    with page.expect_navigation():
        page.click("#venue-list a")
    assert page.url == f"{url}/staff/venues/cafe-1"
    assert page.inner_text("h1") == "시설 cafe-1"
    assert page.inner_text("#checkins-today").strip().isdigit()
    assert "오프라인" not in page.inner_text("#alarms")  # cafe-out is online, its clock is not
    assert "시계가 동기화되지 않음" in page.inner_text("#alarms")
    assert page.locator("svg.chart[role=img]").count() == 2
    page.click("#hours-heading ~ details summary")  # the chart's table, by keyboard-able click
    assert page.locator("#hours-heading ~ details table tbody tr").count() == 24
    visible = page.inner_text("body") + page.content()
    assert not [s for s in site["secrets"] if s in visible]
    assert "gym-1" not in visible and "gym-in" not in visible
    shots = screenshots(page, "venue", tmp_path)
    page.emulate_media(media="print")  # readable on paper: black and grey, no switches
    shots.append(tmp_path / "venue-print.png")
    page.screenshot(path=str(shots[-1]), full_page=True)
    assert not page.is_visible("form.language") and page.is_visible("svg.chart")
    page.emulate_media(media="screen")
    refused = page.goto(f"{url}/staff/venues/gym-1")
    assert refused is not None and refused.status == 403
    assert page.goto(f"{url}/staff/fleet").status == 403  # type: ignore[union-attr]
    with page.expect_navigation():
        page.click("#logout")

    # -- the operator: the fleet, then retiring cafe-out ---------------------------------
    kiosk = _device(broker, site["accounts"].ensure_kiosk("cafe-out"))
    try:
        assert kiosk.connected.wait(5)
        log_in(page, url, "lee")
        with page.expect_navigation():
            page.click("#role-links a[href='/staff/fleet']")
        assert page.url == f"{url}/staff/fleet"
        assert page.inner_text("#kiosks-enrolled") == "4"
        assert page.locator("svg.chart polyline.line-value").count() >= 1
        shots += screenshots(page, "fleet", tmp_path)
        page.set_viewport_size({"width": 412, "height": 915})
        with page.expect_navigation():
            page.click("a[href='/staff/fleet/cafe-out/retire']")
        page.fill("#confirm", "cafe-in")  # the wrong kiosk: nothing happens
        with page.expect_navigation():
            page.click("#retire")
        assert page.is_visible("#retire-error")
        shots.append(tmp_path / "retire-refused.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
        assert kiosk.connected.is_set() and not kiosk.dropped.is_set()
        page.focus("#confirm")
        page.keyboard.type("cafe-out")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.is_visible("#retired")
        shots.append(tmp_path / "retired.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
        assert kiosk.dropped.wait(5)  # the broker dropped it at once
        assert kiosk.refused.wait(10)  # and refuses it when it comes back
    finally:
        kiosk.stop()
    database = open_database(site["database_url"])
    try:
        assert KioskEntry.get_by_id("cafe-out").retired
    finally:
        database.close()
    page.goto(f"{url}/staff/fleet")
    assert "cafe-out" not in page.inner_text("main")
    if os.environ.get("SAFECODE_SCREENSHOTS"):
        for shot in (shots[len(SIZES) * 2], *shots[-2:]):
            shutil.copy(shot, Path(os.environ["SAFECODE_SCREENSHOTS"]) / shot.name)
    assert requests and all(r.startswith(url + "/") for r in requests)  # nothing third-party
