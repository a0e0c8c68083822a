"""benchmarks/wallet.py against the stand-in wallet (tests/browser/standin.py): the
figures the harness reports are the ones it claims to measure, and it refuses to report
what it could not observe."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks import wallet
from benchmarks.browser import BrowserError
from benchmarks.qr_levels import presentation_text
from protocol.presentation import Presentation
from tests.browser import standin
from tests.unit.ledger_builder import serving

if TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import Browser


@pytest.fixture
def standin_app() -> Flask:
    return standin.create_standin(presentation_text(), error="l")


@pytest.fixture
def standin_url(standin_app: Flask) -> Iterator[str]:
    with serving(standin_app) as base:
        yield base + "/wallet/"


def test_weight_is_every_get_body_of_a_first_visit_once(
    chromium: Browser, standin_url: str
) -> None:
    weight = wallet.load_weight(chromium, standin_url)
    assert sorted(weight.urls) == sorted(standin_url + name for name in standin.SHELL)
    assert weight.page_bytes == standin.shell_bytes()
    expected_gzip = sum(
        len(gzip.compress(standin.ASSETS[name][0].encode(), compresslevel=9, mtime=0))
        for name in standin.SHELL
    )
    assert weight.page_bytes_gzip == expected_gzip < weight.page_bytes
    assert weight.content_encodings == {"identity"}  # werkzeug does not compress
    assert weight.third_party_requests == 0


def test_first_code_cold_and_offline_keep_the_enrolment(
    chromium: Browser, standin_app: Flask, standin_url: str
) -> None:
    start = time.monotonic()
    times = wallet.first_code_times(chromium, standin_url, repeats=2)
    elapsed_ms = (time.monotonic() - start) * 1000
    assert len(times.cold_ms) == len(times.offline_ms) == 2
    for ms in times.cold_ms + times.offline_ms:
        assert 0 < ms < elapsed_ms
    # IndexedDB survived the cache clearing: one enrolment, not one per cold load.
    assert standin_app.config["ENROLMENTS"] == 1


def test_a_wallet_without_a_service_worker_has_no_offline_figure(
    chromium: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wallet, "WORKER_WAIT_MS", 2000)
    app = standin.create_standin("SC1:NO-WORKER", service_worker=False)
    with serving(app) as base, pytest.raises(BrowserError, match="no service worker"):
        wallet.first_code_times(chromium, base + "/wallet/", repeats=1)


@pytest.mark.parametrize(("error", "version"), [("l", 9), ("m", 10)])
def test_qr_version_of_the_code_the_kiosk_reads(
    chromium: Browser, error: str, version: int
) -> None:
    text = presentation_text()
    with serving(standin.create_standin(text, error=error)) as base:
        code = wallet.read_code(chromium, base + "/wallet/")
    assert code.text == text
    assert Presentation.from_text(code.text).to_text() == text
    assert (code.version, code.ec_level) == (version, error.upper())
