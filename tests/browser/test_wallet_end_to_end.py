"""The wallet in a real browser, through a real kiosk, into the sealed ledger.

A site laid out as provisioning does, with an ``[issuer]`` table; the issuer's web app
over real HTTP; ingest and the sequencer on a private Mosquitto. Headless Chromium
opens ``/wallet``, enrols (its contact sealed with HPKE in the page, its requests signed
with WebCrypto Ed25519), and the QR on its screen is screenshotted, replayed to a kiosk
through the replay frame source, accepted, sealed and receipted. Python then opens the
browser's contact ciphertext with the health authority's key and verifies the browser's
presentation signatures; an offline reload still shows a valid code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from PIL import Image
from playwright.sync_api import BrowserContext, Page

from aggregator.audit import verify_ledger
from aggregator.bus_paho import MqttBus
from aggregator.config import load_config as load_aggregator_config
from aggregator.db import CheckinEntry, open_database
from aggregator.issuer.tables import EnrolmentEntry, IssuedCredentialEntry
from aggregator.service import AggregatorService
from aggregator.web import create_app_from_config
from kiosk.config import CameraSettings
from kiosk.config import load_config as load_kiosk_config
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link_paho import MqttLink
from kiosk.outbox import Outbox
from kiosk.sources import frame_source
from protocol import keys
from protocol.authority_key import format_public_key
from protocol.contact import open_contact
from protocol.issuance import open_owner
from protocol.note import NoteVerifier
from protocol.presentation import CodeType, Presentation
from provisioning.site import Site
from simulator.broker import LocalBroker
from simulator.render import blank_frame
from simulator.site import init_simulated_site
from tests.browser.helpers import decode_png, screenshot_png
from tests.unit.ledger_builder import serving
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

PHONE = "010-2345-6789"
E164 = "+821023456789"
AUTHORITY = X25519PrivateKey.generate()


@pytest.fixture
def site(tmp_path: Path, own_broker: LocalBroker) -> Site:
    return init_simulated_site(
        tmp_path / "site",
        kiosks=1,
        visitors=0,
        mqtt_port=own_broker.port,
        authority_key=format_public_key(AUTHORITY),
    )


@pytest.fixture
def service(site: Site) -> Iterator[AggregatorService]:
    config = load_aggregator_config(site.aggregator_config)
    running = AggregatorService(config, MqttBus(config.mqtt), on_event=lambda line: None)
    running.start()
    assert running.bus.wait_connected(10), "aggregator did not subscribe"
    yield running
    running.stop()


@pytest.fixture
def issuer_url(site: Site, service: AggregatorService) -> Iterator[str]:
    """The issuer process's web app (wallet pages and /v1/wallet) over real HTTP."""
    with serving(create_app_from_config(site.aggregator_config, issuer=True)) as url:
        yield url


def _enrol(page: Page, url: str) -> None:
    page.goto(url + "/wallet")
    page.wait_for_selector('body[data-state="enrol"]')
    page.fill("#enrol-phone", PHONE)
    page.check("#consent")
    page.click("#enrol-submit")
    page.wait_for_selector('body[data-state="code"]')


def _shown_code(page: Page) -> tuple[bytes, Presentation]:
    """The screen's QR as a PNG, and the presentation a kiosk reads from it."""
    png = screenshot_png(page, "#qr")
    texts = decode_png(png)
    assert len(texts) == 1, texts
    return png, Presentation.from_text(texts[0])


def _replay_folder(folder: Path, png: bytes) -> Path:
    """A door camera's recording: the phone's screen for three frames, then nothing."""
    folder.mkdir(parents=True)
    for index in range(3):
        (folder / f"{index}.png").write_bytes(png)
    Image.fromarray(blank_frame((640, 480))).save(folder / "3.png")
    return folder


def _kiosk(config_path: Path, recording: Path, events: list[str]) -> Kiosk:
    config = load_kiosk_config(config_path)
    camera = frame_source(CameraSettings(kind="replay", path=str(recording), fps=30))
    return Kiosk(
        config,
        device_key=keys.load_private(config.device_key_path),
        source=camera.open(),
        decoder=default_decoder(),
        feedback=Feedback(load_pins(), mock_pin_factory()),
        link=MqttLink(config.kiosk_id, config.mqtt),
        outbox=Outbox(config.outbox_path),
        on_event=events.append,
    )


def _scan_until_receipted(kiosk: Kiosk, seconds: float = 30) -> None:
    kiosk.link.start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and kiosk.outbox.stats().delivered < 1:
            kiosk.step(frame_timeout=0.05)
            time.sleep(0.02)
    finally:
        kiosk.link.stop()
        kiosk.feedback.close()
        kiosk.outbox.close()
        kiosk.source.close()


def test_a_wallet_code_on_screen_is_checked_in_sealed_and_receipted(
    site: Site,
    service: AggregatorService,
    issuer_url: str,
    page: Page,
    browser_context: BrowserContext,
    tmp_path: Path,
) -> None:
    _enrol(page, issuer_url)
    assert page.evaluate("document.documentElement.lang") == "ko"  # chosen from the browser
    png, presentation = _shown_code(page)
    issuer_key = keys.load_private(service.config.issuer_key_path)
    # The browser's WebCrypto Ed25519 signature and the issuer's, checked in Python.
    presentation.verify([issuer_key.public_key()], now=time.time())
    assert presentation.code_type == CodeType.CHECKIN

    events: list[str] = []
    kiosk = _kiosk(site.kiosk_configs[0], _replay_folder(tmp_path / "camera", png), events)
    _scan_until_receipted(kiosk)
    assert kiosk.counters.accepted == 1, events
    assert kiosk.outbox.stats().delivered == 1, events

    service.db.connect(reuse_if_open=True)
    assert CheckinEntry.select().count() == 1
    verifier = NoteVerifier.from_string(site.ledger_vkey)
    assert verify_ledger(verifier.public_key, verifier.name).tree_size == 1

    # What the browser sealed opens only with the health authority's key.
    db = open_database(site.database_url)
    try:
        enrolment = EnrolmentEntry.get()
        contact = open_contact(AUTHORITY, bytes(enrolment.contact))
        credential_id = presentation.credential.credential_id
        issued = IssuedCredentialEntry.get_by_id(credential_id)
        owner = open_owner(AUTHORITY, bytes(issued.sealed_owner))
    finally:
        db.close()
    assert contact.phone == E164 and contact.language == "ko"
    assert owner == bytes(enrolment.enrolment_id)
    assert E164.encode() not in Path(site.database_url.removeprefix("sqlite:///")).read_bytes()

    # Offline: the service worker serves the page, IndexedDB holds the credentials.
    browser_context.set_offline(True)
    try:
        page.reload()
        page.wait_for_selector('body[data-state="code"]')
        _, offline_code = _shown_code(page)
    finally:
        browser_context.set_offline(False)
    offline_code.verify([issuer_key.public_key()], now=time.time())
    assert offline_code.credential == presentation.credential


def test_the_health_official_code_is_refused_at_the_door(
    issuer_url: str, page: Page, service: AggregatorService
) -> None:
    _enrol(page, issuer_url)
    page.click("#health")
    page.wait_for_selector('body[data-state="diagnostic"]')
    wait_until(lambda: len(decode_png(screenshot_png(page, "#qr"))) == 1, timeout=10)
    _, code = _shown_code(page)
    assert code.code_type == CodeType.DIAGNOSTIC
    issuer_key = keys.load_private(service.config.issuer_key_path)
    code.verify([issuer_key.public_key()], now=time.time(), expected_type=CodeType.DIAGNOSTIC)
