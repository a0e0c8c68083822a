"""The public ledger explorer at ``/ledger``: server-rendered pages, no login.

- ``/ledger``: the latest checkpoint (origin, tree size, root, the block it seals, its
  signature lines and whose keys they are), the newest witness cosignatures, the
  witnesses this server accepts, and the ledger's verifier key;
- ``/ledger/blocks?top=H``: blocks from height H down (50 a page, newest first);
- ``/ledger/blocks/<h>?start=N``: one block's header and its leaves (256 a page) with each
  leaf's kind (``ledger_view.LEAF_KINDS``: check-in today);
- ``/ledger/audit?start=N``: sealed audit entries (``aggregator/audit_log.py``: action,
  actor, role, time, case, stated reason, counts; what ``GET /v1/audit`` lists) from leaf
  index N, 50 a page, each linked to its block;
- ``/ledger/check?id=``: "check a receipt": ``explorer/`` (built into ``explorer/dist``)
  fetches ``/v1/checkpoint`` and ``/v1/proof/inclusion/<id>`` and verifies the note's
  Ed25519 signature with the ledger key and the RFC 9162 proof against the checkpoint's
  root in the browser. The page fills in the ledger key; the visitor can paste their own.
  With witness keys (filled in from ``WITNESSES``, editable) it also checks the newest
  witnessed checkpoint's cosignatures and its consistency with the one it checked.
- ``/ledger/explorer.js``, ``/ledger/explorer.css`` and ``/ledger/icon.svg``.

Every page takes ``?lang=ko|en`` (else Accept-Language; ``strings.py``). Answers forbid
everything third-party (Content-Security-Policy ``'self'`` only, no inline script or
style), send no referrer, and are not cached by proxies for long (the ledger grows).

Settings: ``LEDGER_VKEY`` (the ledger's verifier key, as ``safecode ledger verify --vkey``
takes it; by default the ledger's did:key from ``KIOSK_TRUST`` named by the checkpoint's
origin), ``EXPLORER_DIST`` (default ``explorer/dist`` in this checkout). Unknown query
parameters are refused (400, JSON, counted like every API refusal); an unknown block is an
HTML 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)

from protocol.errors import NoteError, ProtocolError
from protocol.note import NoteVerifier

from .. import proofs
from ..api import params
from ..api.errors import ApiError, refusals
from ..page_headers import page_headers
from . import ledger_view, strings

explorer_app = Blueprint("explorer_app", __name__, template_folder="templates", static_folder=None)

PREFIX = "/ledger"
DEFAULT_DIST = Path(__file__).resolve().parents[2] / "explorer" / "dist"
STATIC = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = page_headers(
    CONTENT_SECURITY_POLICY, Referrer_Policy="no-referrer", Cache_Control="no-cache"
)


@explorer_app.errorhandler(ledger_view.LedgerDamaged)
def _damaged(exc: ledger_view.LedgerDamaged) -> tuple[Response, int]:
    """A stored block or checkpoint that does not parse: the read API's storage fault."""
    current_app.logger.error("explorer: %s", exc)
    refusals().count("storage_fault", str(exc))
    return jsonify(error="storage_fault", message="the stored ledger is damaged"), 500


@explorer_app.after_request
def _headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def _ledger_key(origin: str) -> NoteVerifier | None:
    """The ledger key the pages state (``LEDGER_VKEY``, else KIOSK_TRUST's ledger did:key)."""
    trust = current_app.config.get("KIOSK_TRUST")
    try:
        return ledger_view.ledger_verifier(
            current_app.config.get("LEDGER_VKEY"),
            getattr(trust, "ledger_key", None),
            origin,
        )
    except (NoteError, ProtocolError) as exc:
        current_app.logger.error("explorer: the configured ledger key is unusable: %s", exc)
        return None


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    language, explicit = strings.choose(request)
    text = strings.table(language)

    def link(endpoint: str, **values: Any) -> str:
        """A URL that keeps the language the visitor chose with the switch."""
        if explicit:
            values.setdefault("lang", language)
        return url_for(endpoint, **values)

    switch_to = "en" if language == "ko" else "ko"
    here = {k: v for k, v in request.args.items() if k != "lang"}
    html = render_template(
        f"explorer/{template}",
        t=text,
        lang=language,
        link=link,
        switch_url=url_for(
            request.endpoint or "explorer_app.checkpoint",
            **(request.view_args or {}),
            **here,
            lang=switch_to,
        ),
        **context,
    )
    return html, status


@explorer_app.get(PREFIX)
def checkpoint() -> tuple[str, int]:
    """The latest checkpoint, its signatures and the newest witness cosignatures."""
    params.only_params("lang")
    witnesses = current_app.extensions["safecode.witnesses"]
    view, key = ledger_view.latest(_ledger_key, witnesses)
    cosigned_size, cosigs = ledger_view.cosignatures()
    return _render(
        "checkpoint.html",
        view=view,
        vkey=key.to_string() if key else None,
        cosigned_size=cosigned_size,
        cosignatures=cosigs,
        witnesses=[w.to_string() for w in witnesses],
    )


@explorer_app.get(f"{PREFIX}/blocks")
def blocks() -> tuple[str, int]:
    """Blocks from ``top`` (default the newest) downwards, newest first."""
    params.only_params("top", "lang")
    newest = ledger_view.latest_height()
    top = params.query_int("top", newest if newest is not None else 0)
    assert top is not None
    rows = ledger_view.blocks_down_from(top) if newest is not None else []
    older = rows[-1].entry.height - 1 if rows and rows[-1].entry.height > 0 else None
    newer = None
    if newest is not None and top < newest:
        newer = min(newest, top + ledger_view.BLOCKS_PER_PAGE)
    return _render("blocks.html", rows=rows, older=older, newer=newer)


@explorer_app.get(f"{PREFIX}/blocks/<height>")
def block(height: str) -> tuple[str, int]:
    """One block's header and a page of its leaves."""
    params.only_params("start", "lang")
    number = params.decimal(height, "height")
    start = params.query_int("start", 0)
    assert start is not None
    row = ledger_view.block(number)
    if row is None:
        refusals().count("unknown_block", f"no block {number}")
        return _render("missing.html", 404)
    cache: proofs.TreeCache = current_app.extensions["safecode.leaves"]
    leaves = ledger_view.leaves(row, start, cache.leaves)
    per_page = ledger_view.LEAVES_PER_PAGE
    more = start + per_page if start + per_page < row.header.leaf_count else None
    back = max(0, start - per_page) if start > 0 else None
    return _render("block.html", row=row, leaves=leaves, more=more, back=back, start=start)


@explorer_app.get(f"{PREFIX}/audit")
def audit() -> tuple[str, int]:
    """Sealed audit entries (who looked, why, how much: never a visitor), in leaf order."""
    params.only_params("start", "lang")
    start = params.query_int("start", 0)
    assert start is not None
    rows, following = ledger_view.audit_entries(start)
    return _render("audit.html", rows=rows, following=following, start=start)


@explorer_app.get(f"{PREFIX}/check")
def check() -> tuple[str, int]:
    """The "check a receipt" form; the script does the checking."""
    params.only_params("id", "lang")
    checkin = request.args.get("id", "")[:64]
    _, key = ledger_view.latest(_ledger_key, [])
    key = key or _ledger_key("")  # before the first block: only a configured LEDGER_VKEY
    language, _ = strings.choose(request)
    return _render(
        "check.html",
        checkin=checkin,
        vkey=key.to_string() if key else "",
        witnesses=[w.to_string() for w in current_app.extensions["safecode.witnesses"]],
        script_strings=strings.script_strings(language),  # |tojson in the template
    )


def _send(path: Path, mimetype: str, what: str) -> Response:
    if not path.is_file():
        raise ApiError(503, "explorer_not_built", f"the {what} is not built: run ./dev setup")
    return send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)


@explorer_app.get(f"{PREFIX}/explorer.js")
def script() -> Response:
    """The check page's script (``explorer/dist/explorer.js``)."""
    params.only_params()
    dist = Path(current_app.config.get("EXPLORER_DIST") or DEFAULT_DIST)
    return _send(dist / "explorer.js", "text/javascript", "explorer script")


@explorer_app.get(f"{PREFIX}/icon.svg")
def icon() -> Response:
    """The pages' icon (so browsers do not ask for /favicon.ico)."""
    params.only_params()
    return _send(STATIC / "icon.svg", "image/svg+xml", "explorer icon")


@explorer_app.get(f"{PREFIX}/explorer.css")
def stylesheet() -> Response:
    """The pages' stylesheet."""
    params.only_params()
    return _send(STATIC / "explorer.css", "text/css", "explorer stylesheet")
