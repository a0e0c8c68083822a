"""The visitor's wallet web app at ``/wallet``: its page, assets and service worker.

Serves the files ``wallet/build.mjs`` writes into ``wallet/dist/`` (git-ignored; ``./dev
setup`` runs ``npm ci`` and the build), and only those: the page at ``/wallet`` (no
trailing slash: the app's paths are canonical) and a fixed list of names under
``/wallet/``. The service worker's scope is ``/wallet``, allowed by its
``Service-Worker-Allowed`` header. Every answer forbids third-party anything
(Content-Security-Policy ``'self'`` only), sends no referrer and is revalidated on each
load (ETag), so a new build shows at once and the service worker keeps the shell offline.
The app talks only to the issuer API under ``/v1/wallet/`` on the same origin.

Settings: ``WALLET_DIST`` (a folder; default ``wallet/dist`` in this checkout).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_file

from ..api import params
from ..api.errors import ApiError
from ..page_headers import page_headers

wallet_app = Blueprint("wallet_app", __name__)

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "wallet" / "dist"
PAGE = "index.html"
FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
    "sw.js": "text/javascript",
}
"""The only names served under /wallet/, with their media types."""
SCOPE = "/wallet"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = page_headers(
    CONTENT_SECURITY_POLICY, Referrer_Policy="no-referrer", Cache_Control="no-cache"
)


def dist_dir() -> Path:
    """Where the built wallet is (``WALLET_DIST``, or wallet/dist in this checkout)."""
    return Path(current_app.config.get("WALLET_DIST") or DEFAULT_DIST)


def _send(name: str, mimetype: str) -> Response:
    path = dist_dir() / name
    if not path.is_file():
        raise ApiError(
            503, "wallet_not_built", "the wallet is not built: run ./dev setup (npm ci and build)"
        )
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)
    response.headers.update(HEADERS)
    if name == "sw.js":
        response.headers["Service-Worker-Allowed"] = SCOPE
    return response


@wallet_app.get(SCOPE)
def page() -> Response:
    """The wallet's one page."""
    params.only_params()
    return _send(PAGE, "text/html")


@wallet_app.get(f"{SCOPE}/<name>")
def asset(name: str) -> Response:
    """One of the wallet's files (a fixed list; anything else is 404)."""
    params.only_params()
    mimetype = FILES.get(name)
    if mimetype is None:
        raise ApiError(404, "not_found", "no such wallet file")
    return _send(name, mimetype)
