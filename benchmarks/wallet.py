"""The visitor wallet's figures, measured in headless Chromium against a running aggregator.

``safecode bench wallet --json`` lays out a throw-away issuing site, serves its issuer app
on a free loopback port, and measures its wallet (``--config`` an existing aggregator
config instead, or ``--url`` a running wallet); it adds the issuance figures of
``benchmarks/issuance.py`` to the browser figures below.

The wallet's side of the contract with this harness: ``#qr`` is the code element
(canvas, img or svg) and ``body[data-state="code"]`` is set once a code is drawn. A
wallet that needs a person to enrol is brought to its code by an ``enrol`` hook
(``Callable[[Page], None]``, given the page on its first-use screen; for the real wallet
:func:`enrol_with_form`, ``--enrol benchmarks.wallet:enrol_with_form``); without one the
page must reach its code by itself.

Figures (Chromium's version and the machine are reported with them):

* ``page_bytes``: the bodies of every GET response a first visit loads, from a fresh
  profile until a code shows (enrolment included) and the service worker is ready: the
  page, scripts, styles, fonts, images, the service worker and whatever it fetches to
  cache; each distinct URL once; from the browser's network events (page and worker).
  POST answers (the issuer API) are data, not the wallet, and are not counted.
  ``page_bytes_gzip``: the same bodies, each gzip-compressed at level 9 (their cost from a
  server that compresses); ``content_encodings``: how the server actually sent them.
  ``third_party_requests``: requests to any other origin (the wallet must make none).
* ``first_qr_ms_cold``: navigation start (``performance.timeOrigin``) to the frame after
  ``body[data-state="code"]`` with ``#qr`` appears (two animation frames: painted), for an
  enrolled wallet (its IndexedDB kept) whose HTTP cache, Cache Storage and service worker
  were cleared first (``Storage.clearDataForOrigin``, ``Network.clearBrowserCache``);
  median of ``repeats``. Checked: no response of that load came from a service worker.
* ``first_qr_ms_offline``: the same, right after, with the browser offline
  (``context.set_offline``), served by the service worker the cold load installed;
  median of ``repeats``. Checked: every response of that load came from the worker.
* ``qr_version``: the screenshot of ``#qr`` read by the kiosk's decode path
  (:func:`benchmarks.browser.decode_png`), its version from zxing-cpp.
"""

from __future__ import annotations

import gzip
import importlib
import json
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from .browser import BrowserError, decode_png, headless_chromium, qr_symbols, screenshot_png
from .util import machine_info

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response

Enrol = Callable[["Page"], None]
"""Brings a wallet page on its first-use screen to a code (fills the form, consents...)."""

WALLET_PATH = "/wallet"
"""Where the aggregator serves the wallet page (aggregator/wallet_app)."""
CODE_SELECTOR = 'body[data-state="code"] #qr'
QR_SELECTOR = "#qr"
PHONE_VIEWPORT = {"width": 412, "height": 915}
STEP_TIMEOUT_MS = 30_000

FIRST_CODE_SCRIPT = """(() => {
  if (window.top !== window) return;
  const shown = () => document.body && document.body.dataset.state === 'code'
    && document.querySelector('#qr');
  let armed = false;
  const check = () => {
    if (armed || !shown()) return false;
    armed = true;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.__safecodeFirstCode = performance.now();
    }));
    return true;
  };
  const watch = new MutationObserver(() => { if (check()) watch.disconnect(); });
  watch.observe(document, {subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-state', 'id']});
  check();
})();"""
"""Stamps ``window.__safecodeFirstCode`` (ms since navigation start) once the code is painted."""

SERVICE_WORKER_READY = """async (ms) => {
  if (!('serviceWorker' in navigator)) return false;
  const late = new Promise((resolve) => setTimeout(() => resolve(false), ms));
  return Promise.race([navigator.serviceWorker.ready.then(() => true), late]);
}"""
"""True once the page's service worker is active, false if none is within the given ms."""
WORKER_WAIT_MS = 15_000


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def _context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport=PHONE_VIEWPORT, device_scale_factor=1, locale="ko-KR", service_workers="allow"
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.add_init_script(FIRST_CODE_SCRIPT)
    try:
        yield context
    finally:
        context.close()


def _show_code(page: Page, url: str, enrol: Enrol | None, *, wait_worker: bool = True) -> None:
    """Open the wallet and bring it to a code (enrolling with ``enrol`` if given); then
    give its service worker (if any) up to ``WORKER_WAIT_MS`` to be ready."""
    page.goto(url)
    if enrol is not None:
        enrol(page)
    page.wait_for_selector(CODE_SELECTOR, state="visible")
    if wait_worker:
        page.evaluate(SERVICE_WORKER_READY, WORKER_WAIT_MS)


def enrol_with_form(page: Page) -> None:
    """The enrol hook for the real wallet (selectors from wallet/README.md): a fresh random
    Korean mobile number, consent, submit; then wait for the code."""
    page.wait_for_selector('body[data-state="enrol"]')
    number = secrets.randbelow(10**8)
    page.fill("#enrol-phone", f"010-{number // 10**4:04d}-{number % 10**4:04d}")
    page.check("#consent")
    page.click("#enrol-submit")
    page.wait_for_selector(CODE_SELECTOR, state="visible")


# -- weight ---------------------------------------------------------------------------


@dataclass
class PageWeight:
    """What a first visit loads (see the module docs)."""

    page_bytes: int = 0
    page_bytes_gzip: int = 0
    third_party_requests: int = 0
    urls: list[str] = field(default_factory=list)
    content_encodings: set[str] = field(default_factory=set)
    """How the server sent them (``identity``: not compressed)."""


def _body(context: BrowserContext, responses: list[Response]) -> bytes:
    """The body of one URL's responses: the first non-empty one the browser kept, else
    fetched again (Chromium keeps no body for a service worker's ``cache.addAll``)."""
    from playwright.sync_api import Error as PlaywrightError

    for response in responses:
        try:
            body = response.body()
        except PlaywrightError:
            continue
        if body:
            return body
    again = context.request.get(responses[0].url)
    try:
        return again.body()
    finally:
        again.dispose()


def load_weight(browser: Browser, url: str, *, enrol: Enrol | None = None) -> PageWeight:
    """Bytes of every GET response a first visit to ``url`` loads, until a code shows."""
    origin = origin_of(url)
    responses: list[Response] = []
    other_origins: list[str] = []
    with _context(browser) as context:

        def seen(response: Response) -> None:
            if response.url.startswith(("data:", "blob:")):
                return
            if origin_of(response.url) != origin:
                other_origins.append(response.url)
            elif response.request.method == "GET":
                responses.append(response)

        context.on("response", seen)
        page = context.new_page()
        _show_code(page, url, enrol)
        page.wait_for_load_state("networkidle")
        weight = PageWeight(third_party_requests=len(other_origins))
        by_url: dict[str, list[Response]] = {}
        for response in responses:
            if not response.from_service_worker:  # those are copies of another response
                by_url.setdefault(response.url, []).append(response)
        for address, loaded in by_url.items():
            body = _body(context, loaded)
            weight.urls.append(address)
            weight.page_bytes += len(body)
            weight.page_bytes_gzip += len(gzip.compress(body, compresslevel=9, mtime=0))
            weight.content_encodings.update(
                r.headers.get("content-encoding", "identity") for r in loaded
            )
    return weight


# -- first code -----------------------------------------------------------------------


@dataclass
class FirstCodeTimes:
    """Milliseconds from navigation start to the painted code, one per repeat."""

    cold_ms: list[float] = field(default_factory=list)
    offline_ms: list[float] = field(default_factory=list)

    @property
    def cold_median(self) -> float:
        return round(statistics.median(self.cold_ms), 1)

    @property
    def offline_median(self) -> float:
        return round(statistics.median(self.offline_ms), 1)


def _wait_first_code(page: Page) -> float:
    """The page's stamp of its first painted code, polled (``wait_for_function`` would
    need ``eval``, which the wallet's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        stamp = page.evaluate("() => window.__safecodeFirstCode")
        if stamp is not None:
            return float(stamp)
        time.sleep(0.02)
    raise BrowserError(f"no code painted within {STEP_TIMEOUT_MS} ms of navigation")


def _timed_visit(
    context: BrowserContext, url: str, *, need_worker: bool
) -> tuple[float, list[Response]]:
    """Open ``url`` in a new tab; the ms to the painted code and the responses it loaded.

    With ``need_worker``, wait for the service worker this load installs (for the offline
    visit next); a wallet without one raises :class:`BrowserError`.
    """
    responses: list[Response] = []
    page = context.new_page()
    page.on("response", lambda response: responses.append(response))
    try:
        page.goto(url, wait_until="commit")
        ms = _wait_first_code(page)
        if need_worker and not page.evaluate(SERVICE_WORKER_READY, WORKER_WAIT_MS):
            raise BrowserError(f"no service worker was ready in {WORKER_WAIT_MS} ms: no offline")
    finally:
        page.close()
    return ms, [r for r in responses if not r.url.startswith(("data:", "blob:"))]


def _forget_caches(context: BrowserContext, url: str) -> None:
    """Clear the HTTP cache, Cache Storage and service workers; keep IndexedDB."""
    page = context.new_page()
    try:
        cdp = context.new_cdp_session(page)
        cdp.send(
            "Storage.clearDataForOrigin",
            {"origin": origin_of(url), "storageTypes": "service_workers,cache_storage"},
        )
        cdp.send("Network.clearBrowserCache")
        cdp.detach()
    finally:
        page.close()


def first_code_times(
    browser: Browser, url: str, *, enrol: Enrol | None = None, repeats: int = 5
) -> FirstCodeTimes:
    """Cold, then offline, first-code times of an enrolled wallet, ``repeats`` of each."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    times = FirstCodeTimes()
    with _context(browser) as context:
        page = context.new_page()
        _show_code(page, url, enrol, wait_worker=False)
        page.close()
        for _ in range(repeats):
            _forget_caches(context, url)
            ms, responses = _timed_visit(context, url, need_worker=True)
            if any(r.from_service_worker for r in responses):
                raise BrowserError("a cold load was served by a service worker left behind")
            times.cold_ms.append(ms)
            context.set_offline(True)
            try:
                ms, responses = _timed_visit(context, url, need_worker=False)
            finally:
                context.set_offline(False)
            from_network = [r.url for r in responses if not r.from_service_worker]
            if from_network:
                raise BrowserError(f"offline, these came from the network: {from_network}")
            times.offline_ms.append(ms)
    return times


# -- the code itself ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeReading:
    """The wallet's code as a kiosk reads it from a screenshot."""

    text: str
    version: int
    ec_level: str
    png: bytes


def read_code(browser: Browser, url: str, *, enrol: Enrol | None = None) -> CodeReading:
    """Screenshot ``#qr`` of an enrolled wallet and read it through the kiosk's decode path."""
    with _context(browser) as context:
        page = context.new_page()
        _show_code(page, url, enrol)
        png = screenshot_png(page, QR_SELECTOR)
    texts = decode_png(png)
    if len(texts) != 1:
        raise BrowserError(f"the kiosk read {len(texts)} codes from the wallet's #qr, not 1")
    symbols = [s for s in qr_symbols(png) if s.text == texts[0]]
    if not symbols:
        raise BrowserError("zxing-cpp could not tell the version of the code the kiosk read")
    return CodeReading(texts[0], symbols[0].version, symbols[0].ec_level, png)


# -- all of them ----------------------------------------------------------------------


def wallet_figures(url: str, *, enrol: Enrol | None = None, repeats: int = 5) -> dict[str, Any]:
    """Every figure above, in one headless Chromium."""
    with headless_chromium() as browser:
        weight = load_weight(browser, url, enrol=enrol)
        times = first_code_times(browser, url, enrol=enrol, repeats=repeats)
        code = read_code(browser, url, enrol=enrol)
        version = browser.version
    return {
        "page_bytes": weight.page_bytes,
        "page_bytes_gzip": weight.page_bytes_gzip,
        "requests": len(weight.urls),
        "content_encodings": sorted(weight.content_encodings),
        "third_party_requests": weight.third_party_requests,
        "first_qr_ms_cold": times.cold_median,
        "first_qr_ms_offline": times.offline_median,
        "first_qr_ms_cold_all": [round(ms, 1) for ms in times.cold_ms],
        "first_qr_ms_offline_all": [round(ms, 1) for ms in times.offline_ms],
        "qr_version": code.version,
        "qr_ec_level": code.ec_level,
        "qr_chars": len(code.text),
        "chromium": version,
        "machine": machine_info(),
    }


def _load_enrol(spec: str) -> Enrol | None:
    """``module:function`` (the enrol hook) imported, or None for ``none``."""
    if spec.lower() == "none":
        return None
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise click.BadParameter("MODULE:FUNCTION", param_hint="--enrol")
    try:
        hook = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot import {spec}: {exc}", param_hint="--enrol") from exc
    if not callable(hook):
        raise click.BadParameter(f"{spec} is not callable", param_hint="--enrol")
    return hook


@contextmanager
def _wallet_url(url: str | None, config: Path | None) -> Iterator[str]:
    """``url`` as given, or the wallet of the aggregator ``config`` served on loopback."""
    if url:
        yield url
        return
    import tempfile
    import threading

    from werkzeug.serving import make_server

    from aggregator.web import create_app_from_config

    with tempfile.TemporaryDirectory(prefix="safecode-bench-wallet-") as folder:
        app = create_app_from_config(config or _issuing_site(Path(folder)), issuer=True)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}{WALLET_PATH}"
        finally:
            server.shutdown()
            thread.join(timeout=10)


def _issuing_site(folder: Path) -> Path:
    """A throw-away site laid out as provisioning does, issuing to a fresh HA key; its
    aggregator config."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from protocol.authority_key import format_public_key
    from simulator.site import init_simulated_site

    site = init_simulated_site(
        folder / "site",
        kiosks=1,
        visitors=0,
        authority_key=format_public_key(X25519PrivateKey.generate()),
    )
    return site.aggregator_config


def _issuance_figures(batches: int) -> dict[str, Any]:
    """``benchmarks/issuance.py``'s figures (signed batch requests against SQLite)."""
    try:
        from .issuance import bench_issuance
    except ImportError as exc:
        return {"issuance_error": f"benchmarks/issuance.py not available: {exc}"}
    return bench_issuance(batches)


@click.command("wallet")
@click.option("--url", help="A running wallet page, e.g. http://127.0.0.1:8000/wallet")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Or an aggregator config whose issuer app is served on a free loopback port "
    "(default: a throw-away site laid out here).",
)
@click.option(
    "--enrol",
    "enrol_spec",
    metavar="MODULE:FUNCTION",
    default="benchmarks.wallet:enrol_with_form",
    show_default=True,
    help="Called with the page on the wallet's first-use screen to bring it to a code "
    "(none: the page gets there by itself).",
)
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--issuance-batches",
    default=200,
    show_default=True,
    type=click.IntRange(min=0),
    help="Batch requests per issuance run (0: skip the issuance figures).",
)
@click.option("--json", "as_json", is_flag=True, help="One line of JSON instead of indented.")
def wallet_command(
    url: str | None,
    config: Path | None,
    enrol_spec: str,
    repeats: int,
    issuance_batches: int,
    as_json: bool,
) -> None:
    """The wallet in headless Chromium (weight, first code cold and offline, QR version),
    and the issuer's batch rate against the Ed25519 signing ceiling."""
    from playwright.sync_api import Error as PlaywrightError

    enrol = _load_enrol(enrol_spec)
    start = time.monotonic()
    with _wallet_url(url, config) as address:
        try:
            figures = wallet_figures(address, enrol=enrol, repeats=repeats)
        except BrowserError as exc:
            raise click.ClickException(str(exc)) from exc
        except PlaywrightError as exc:
            raise click.ClickException(f"the browser gave up: {exc.message}") from exc
    if issuance_batches:
        figures.update(_issuance_figures(issuance_batches))
    figures["seconds"] = round(time.monotonic() - start, 1)
    click.echo(json.dumps(figures) if as_json else json.dumps(figures, indent=2))


if __name__ == "__main__":
    wallet_command()
