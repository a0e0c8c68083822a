"""benchmarks/wallet.py against the real wallet: a site laid out by provisioning with an
``[issuer]`` table, its issuer app over real HTTP, enrolment through the wallet's form
(:func:`benchmarks.wallet.enrol_with_form`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.web import create_app_from_config
from benchmarks import wallet
from protocol.authority_key import format_public_key
from protocol.presentation import CodeType, Presentation
from simulator.site import init_simulated_site
from tests.unit.ledger_builder import free_port, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser

GZIP_TARGET = 150_000
"""The issue's ceiling for the whole wallet, gzipped."""


@pytest.fixture(scope="module")
def wallet_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = init_simulated_site(
        tmp_path_factory.mktemp("wallet-site") / "site",
        kiosks=1,
        visitors=0,
        mqtt_port=free_port(),
        authority_key=format_public_key(X25519PrivateKey.generate()),
    )
    with serving(create_app_from_config(site.aggregator_config, issuer=True)) as base:
        yield base + wallet.WALLET_PATH


def test_the_wallet_weighs_what_it_loads_and_asks_no_third_party(
    chromium: Browser, wallet_url: str
) -> None:
    weight = wallet.load_weight(chromium, wallet_url, enrol=wallet.enrol_with_form)
    assert wallet_url in weight.urls
    assert {wallet_url + "/app.js", wallet_url + "/sw.js"} <= set(weight.urls)
    assert weight.third_party_requests == 0
    assert 0 < weight.page_bytes_gzip < min(weight.page_bytes, GZIP_TARGET)


def test_the_wallet_shows_its_code_cold_and_offline(chromium: Browser, wallet_url: str) -> None:
    times = wallet.first_code_times(chromium, wallet_url, enrol=wallet.enrol_with_form, repeats=1)
    assert times.cold_ms[0] > 0 and times.offline_ms[0] > 0


def test_the_code_the_kiosk_reads_is_a_check_in_at_its_smallest_version(
    chromium: Browser, wallet_url: str
) -> None:
    code = wallet.read_code(chromium, wallet_url, enrol=wallet.enrol_with_form)
    assert Presentation.from_text(code.text).code_type == CodeType.CHECKIN
    smallest = segno.make_qr(code.text, error=code.ec_level.lower(), boost_error=False)
    assert code.version == smallest.version  # no modules wasted at the level the wallet chose
