"""Browser fixtures: headless Chromium, a fresh page, and a live aggregator to point it at.

* ``chromium`` (module): Debian's headless Chromium driven by Playwright
  (:mod:`benchmarks.browser`). It is in ``tests.markers.SPAWNING_FIXTURES``, so every
  test using it (or ``page``) is marked ``spawns`` and left out of ``./dev test --fast``.
* ``browser_context`` / ``page``: a fresh profile (its own storage, cache and service
  workers) sized like a phone, closed after the test.
* ``aggregator_settings`` / ``live_aggregator``: the real web app (``create_app``) on a
  free loopback port, served by werkzeug from a thread over a fresh SQLite ledger. A
  test module that needs more of the app (the wallet's issuer settings) overrides
  ``aggregator_settings``.

Helpers to screenshot an element and to read it as a kiosk does are in
``tests/browser/helpers.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aggregator.db import database_proxy, open_database
from aggregator.web import create_app
from benchmarks.browser import BrowserError, launch_chromium
from tests.unit.ledger_builder import serving

if TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import Browser, BrowserContext, Page

PHONE_VIEWPORT = {"width": 412, "height": 915}
"""CSS pixels of a common Android phone screen in portrait."""
TIMEOUT_MS = 20_000
"""Longest wait for one browser step: two cores shared with other jobs can be slow."""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium for one test module.

    Not for the whole session: while Playwright's sync API is started, the thread counts
    as running an asyncio loop, and any later test calling ``asyncio.run`` (asyncssh in
    the provisioning tests) would fail. Stopping it after each module frees the thread.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = launch_chromium(playwright)
        except BrowserError as exc:
            pytest.fail(str(exc))
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def phone_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile with a phone-sized screen, Korean first in its languages."""
    context = chromium.new_context(
        viewport=PHONE_VIEWPORT, device_scale_factor=1, locale="ko-KR", service_workers="allow"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh phone's browser profile (:func:`phone_context`)."""
    with phone_context(chromium) as context:
        yield context


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    """A new tab in :func:`browser_context`."""
    return browser_context.new_page()


@dataclass(frozen=True)
class LiveAggregator:
    """The aggregator web app served over real HTTP."""

    url: str
    """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
    app: Flask
    database_url: str


@pytest.fixture
def aggregator_settings(tmp_path: Path) -> dict[str, Any]:
    """``create_app`` settings for :func:`live_aggregator`: a fresh SQLite ledger."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite"}


@pytest.fixture
def live_aggregator(aggregator_settings: dict[str, Any]) -> Iterator[LiveAggregator]:
    """The real aggregator app on a free loopback port, from a werkzeug server thread."""
    database_url = aggregator_settings["DATABASE_URL"]
    open_database(database_url)  # the tables, as the aggregator's own start-up makes them
    database_proxy.close()
    app = create_app(aggregator_settings)
    with serving(app) as url:
        yield LiveAggregator(url, app, database_url)
    if not database_proxy.is_closed():
        database_proxy.close()
