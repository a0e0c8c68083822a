"""A whole case, from visitors' phones to the notice on an exposed visitor's wallet.

A site laid out by provisioning runs as ``aggregator run --issuer`` (wallet, case API,
notices, staff pages, ingest and sequencer over a private Mosquitto). Two visitors enrol
in the real wallet page in headless Chromium (the case and one exposed visitor); the
other exposed visitors (``SAFECODE_CASE_CONTACTS``, default 200) enrol through
``simulator.wallet_client``. Everyone checks in at one kiosk: the two browsers' screens
are screenshotted and the others' codes rendered as camera frames, read, verified,
queued and receipted by the real kiosk firmware. Then an official logs in, opens the
case by phone on /staff/cases, decrypts it in the page with the key file, exports the CSV
(formula cells escaped) and publishes the notice; the exposed wallet shows it, the case's
own does not; every audit entry is sealed and ``safecode ledger verify`` passes. The
official's time for the whole case is printed.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page

from aggregator.accounts.users import add_user
from aggregator.audit_log import AuditLogEntry
from aggregator.db import CheckinEntry
from kiosk.config import load_config as load_kiosk_config
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.frames import GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link_paho import MqttLink
from kiosk.outbox import Outbox
from protocol import keys
from provisioning.site import Site
from simulator.broker import LocalBroker
from simulator.render import blank_frame, render_code_frame
from simulator.visitors import Wallet
from simulator.wallet_client import enrol_phone
from tests.browser.helpers import screenshot_png
from tests.day_boundary import clear_of_midnight
from tests.live_case import authority_site, ledger_verify, running_aggregator, site_database
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEOUL = ZoneInfo("Asia/Seoul")
PASSWORD = "correct horse battery"
PASSPHRASE = "the health authority's passphrase"
CASE_PHONE, CASE_E164 = "010-1111-2222", "+821011112222"
NEAR_PHONE = "010-3333-4444"
CONTACTS = int(os.environ.get("SAFECODE_CASE_CONTACTS", "200"))
FRAME = (640, 480)
HOLD, GAP = 2, 1


@dataclass
class Live:
    site: Site
    base: str
    key_file: Path


@pytest.fixture
def live(tmp_path: Path, own_broker: LocalBroker) -> Iterator[Live]:
    """The site's aggregator, issuer and tracing in one process, with an official."""
    key_file = tmp_path / "official" / "ha.pem"
    _, site = authority_site(
        tmp_path / "site", key_file, PASSPHRASE, mqtt_port=own_broker.port, visitors=0
    )
    config = site.aggregator_config.read_text()
    # Hundreds of phones enrol from one address in a minute; loopback HTTP for the pages.
    config = config.replace(
        'time_zone = "Asia/Seoul"\n',
        'time_zone = "Asia/Seoul"\nrequests_per_minute = 100000\nenrolments_per_minute = 100000\n',
    )
    site.aggregator_config.write_text(config + "\n[web]\ncookie_secure = false\n")
    with site_database(site):
        add_user("kim", "official", PASSWORD)
    with running_aggregator(site, timeout=60) as base:
        yield Live(site, base, key_file)


def _phone(chromium: Browser, locale: str) -> tuple[BrowserContext, Page]:
    context = chromium.new_context(
        viewport={"width": 412, "height": 915}, locale=locale, service_workers="allow"
    )
    context.set_default_timeout(60_000)
    return context, context.new_page()


def _enrol(page: Page, base: str, phone: str) -> None:
    page.goto(base + "/wallet")
    page.wait_for_selector('body[data-state="enrol"]')
    page.fill("#enrol-phone", phone)
    page.check("#consent")
    page.click("#enrol-submit")
    page.wait_for_selector('body[data-state="code"]')


def _on_camera(png: bytes) -> np.ndarray:
    """A phone screen's QR (a screenshot) held up to the door camera."""
    shot = Image.open(io.BytesIO(png)).convert("L")
    shot.thumbnail((FRAME[0] - 40, FRAME[1] - 40))
    canvas = Image.new("L", FRAME, 200)
    canvas.paste(shot, ((FRAME[0] - shot.width) // 2, (FRAME[1] - shot.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def _door(screens: list[np.ndarray], wallets: list[Wallet]) -> GeneratedFrameSource:
    """Each visitor in turn: HOLD frames of their code, then GAP empty frames."""
    rng = np.random.default_rng(12)
    count = len(screens) + len(wallets)

    def frame(index: int) -> np.ndarray | None:
        visitor, step = divmod(index, HOLD + GAP)
        if visitor >= count:
            return None
        if step >= HOLD:
            return blank_frame(FRAME, rng)
        if visitor < len(screens):
            return screens[visitor]
        code = wallets[visitor - len(screens)].show(time.time()).to_text()
        return render_code_frame(code, size=FRAME, rng=rng)

    return GeneratedFrameSource(frame)


def _check_in_everyone(site: Site, source: GeneratedFrameSource, expected: int) -> Kiosk:
    config = load_kiosk_config(site.kiosk_configs[0])
    events: list[str] = []
    kiosk = Kiosk(
        config,
        device_key=keys.load_private(config.device_key_path),
        source=source.open(),
        decoder=default_decoder(),
        feedback=Feedback(load_pins(), mock_pin_factory()),
        link=MqttLink(config.kiosk_id, config.mqtt),
        outbox=Outbox(config.outbox_path),
        on_event=events.append,
    )
    kiosk.link.start()
    try:
        deadline = time.monotonic() + 60 + expected
        while time.monotonic() < deadline and kiosk.outbox.stats().delivered < expected:
            kiosk.step(frame_timeout=0.05)
    finally:
        kiosk.link.stop()
        kiosk.feedback.close()
        kiosk.outbox.close()
        kiosk.source.close()
    assert kiosk.counters.accepted == expected, events[-20:]
    return kiosk


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, SEOUL).date().isoformat()


def _settled(page: Page, status: str) -> None:
    """Wait until the page's ``status`` line says ok or fail; fail with its text unless ok."""
    page.wait_for_selector(f"{status}[data-state=ok], {status}[data-state=fail]")
    line = page.locator(status)
    assert line.get_attribute("data-state") == "ok", line.text_content()


def _official_case(chromium: Browser, live: Live, tmp_path: Path) -> tuple[str, str, float]:
    """The official's whole case in the page; its id, the CSV text and the seconds taken."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="ko-KR", accept_downloads=True
    )
    context.set_default_timeout(120_000)
    page = context.new_page()
    page.goto(f"{live.base}/staff/login")
    page.fill("#name", "kim")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(f"{live.base}/staff")
    started = time.monotonic()
    page.goto(f"{live.base}/staff/cases")
    page.fill("#reason", "확진 사례 12")
    page.fill("#from", _day(time.time() - 86_400))
    page.fill("#to", _day(time.time()))
    page.fill("#phone", CASE_E164)
    page.click("#open-case")
    page.wait_for_url(f"{live.base}/staff/cases/*")
    page.set_input_files("#key-file", str(live.key_file))
    page.fill("#passphrase", PASSPHRASE)
    page.click("#decrypt")
    _settled(page, "#status")
    with page.expect_download() as download:
        page.click("#export-csv")
    csv_path = tmp_path / "case.csv"
    download.value.save_as(csv_path)
    invalid = page.eval_on_selector_all(
        "#notice-form :invalid", "fields => fields.map((f) => `${f.name}=${f.value}`)"
    )
    assert invalid == [], "the browser would not submit the notice form"
    page.click("#publish-notice")
    _settled(page, "#notice-status")
    took = time.monotonic() - started
    assert page.locator("#exposures-body tr").count() == CONTACTS
    case = page.url.rsplit("/", 1)[1]
    context.close()
    return case, csv_path.read_text(encoding="utf-8"), took


def test_a_whole_case_from_phones_to_notice(chromium: Browser, live: Live, tmp_path: Path) -> None:
    # Enrolment to the last scan takes minutes on a loaded machine: one Seoul day.
    clear_of_midnight(SEOUL, need_s=300)
    case_context, case_page = _phone(chromium, "ko-KR")
    near_context, near_page = _phone(chromium, "en-GB")
    _enrol(case_page, live.base, CASE_PHONE)
    _enrol(near_page, live.base, NEAR_PHONE)
    others = [
        enrol_phone(live.base, f"+82104{i:07d}", language="ko" if i % 2 else "en")
        for i in range(CONTACTS - 1)
    ]
    wallets = [phone.days[0] for phone in others]
    screens = [_on_camera(screenshot_png(p, "#qr")) for p in (case_page, near_page)]
    _check_in_everyone(live.site, _door(screens, wallets), CONTACTS + 1)
    with site_database(live.site):
        assert CheckinEntry.select().count() == CONTACTS + 1

    case, text, took = _official_case(chromium, live, tmp_path)
    print(f"\nofficial's time for the whole case, {CONTACTS} contacts: {took:.1f} s")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == CONTACTS + 1 and rows[0][0] == "venue"
    assert all(r[8].startswith("'+8210") for r in rows[1:])  # phones are not formulas
    assert took < 60

    # The exposed wallet shows the notice on its next start; the case's own does not.
    near_page.reload()
    near_page.wait_for_selector('body[data-notice="shown"]')
    case_page.reload()
    case_page.wait_for_selector('body[data-state="code"]')
    time.sleep(1)
    assert case_page.get_attribute("body", "data-notice") == "none"
    case_context.close()
    near_context.close()

    # Every audit entry of the case is sealed into the ledger, and the ledger verifies.
    with site_database(live.site):

        def sealed() -> bool:
            rows = list(AuditLogEntry.select().where(AuditLogEntry.case_id == bytes.fromhex(case)))
            return len(rows) >= 5 and all(r.leaf_index is not None for r in rows)

        wait_until(sealed, timeout=60, message="the case's audit entries sealed")
        actions = {r.action for r in AuditLogEntry.select()}
    assert {"case-opened", "exposure-list", "contacts-decrypted", "export", "notice"} <= actions
    verified = ledger_verify(live.site, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
