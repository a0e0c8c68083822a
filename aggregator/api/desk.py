"""Desk blueprint: desk staff issue printed cards and revoke lost ones.

Every request carries ``Authorization: Bearer <desk token>`` (``safecode aggregator
desk token create``); an operator token is refused as ``wrong_role`` (403), and so is
a desk token on the operator API (it is not an operator token at all).

``POST /v1/desk/cards`` ``{"phone", "lang": "ko"|"en", "name"?, "print_name"?}``
issues a card (aggregator/desk/cards.py) and answers 201 with the printable A6 page
(HTML; the card id also in ``X-Card-Id``). ``POST /v1/desk/cards/lookup``
``{"phone"}`` lists a number's active cards (to revoke a lost one).
``POST /v1/desk/cards/<id>/revoke`` revokes one: its credential goes on the
revocation list the kiosks get. Refusals are JSON and counted like every API refusal;
issued and revoked cards are counted as ``desk_cards{issued|revoked}``. The phone
number is never logged or echoed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Blueprint, Response, current_app, g, jsonify

from protocol.errors import MalformedError

from .. import counters, operators
from ..desk import tokens
from ..desk.cards import CardError, cards_for_phone, issue_card, parse_card_id, revoke_card
from ..desk.printable import render_card
from ..desk.settings import DeskSettings
from ..issuer.settings import IssuerSettings
from ..phone_numbers import PhoneNumberError
from .bodies import json_object
from .errors import ApiError, bad_request, bearer_token

log = logging.getLogger("aggregator.api")
desk_api = Blueprint("desk", __name__, url_prefix="/v1/desk")
COUNTER = "desk_cards"
#: The printed page loads nothing: inline style and inline SVG only.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def require_desk(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse unless ``Authorization: Bearer <desk token>`` is a valid desk token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = bearer_token("desk token")
        if not tokens.looks_like_desk_token(token):
            try:
                operators.authenticate(token)
            except operators.TokenError as exc:
                raise ApiError(401, "bad_token", "the desk token is not valid") from exc
            raise ApiError(403, "wrong_role", "an operator token cannot issue cards")
        try:
            g.desk_staff = tokens.authenticate(token)
        except tokens.TokenError as exc:
            raise ApiError(401, "bad_token", "the desk token is not valid") from exc
        return view(*args, **kwargs)

    return wrapper


def desk_settings() -> DeskSettings:
    """The issuer key and settings; 503 when this process has none.

    ``DESK`` (DeskSettings) if set, else the wallet issuer's ``ISSUER``
    (IssuerSettings) and ``ISSUER_KEY`` (Ed25519 private key) when the app has them.
    """
    settings = current_app.config.get("DESK")
    issuer, key = current_app.config.get("ISSUER"), current_app.config.get("ISSUER_KEY")
    wallet_issuer = isinstance(issuer, IssuerSettings) and isinstance(key, Ed25519PrivateKey)
    if settings is None and wallet_issuer:
        settings = DeskSettings(issuer_key=key, issuer=issuer)
    if not isinstance(settings, DeskSettings):
        raise ApiError(
            503,
            "desk_unavailable",
            "this aggregator process has no [issuer] settings or cannot read the issuer key",
        )
    return settings


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        bad_request(f"bad_{name}", f"{name} must be text")
    return value


@desk_api.post("/cards")
@require_desk
def issue() -> Response:
    """Issue a card and answer with its printable page."""
    settings = desk_settings()
    body = json_object({"phone", "lang", "name", "print_name"})
    phone = _text(body, "phone")
    lang = _text(body, "lang")
    name = (_text(body, "name", required=False) or "").strip() or None  # "Kim " is Kim
    print_name = body.get("print_name", False)
    if type(print_name) is not bool:
        bad_request("bad_print_name", "print_name must be true or false")
    if print_name and name is None:
        bad_request("bad_print_name", "print_name needs a name")
    try:
        card = issue_card(settings, phone=phone, language=lang, name=name, print_name=print_name)
    except PhoneNumberError as exc:
        bad_request(exc.reason, str(exc))
    except CardError as exc:
        raise ApiError(
            409 if exc.reason == "too_many_cards" else 400, exc.reason, str(exc)
        ) from exc
    except MalformedError as exc:
        bad_request("bad_name", str(exc))
    counters.add({(COUNTER, "issued"): 1})
    log.info("desk %s issued card %s", g.desk_staff.name, card.card_id.hex())
    response = Response(render_card(card), status=201, mimetype="text/html")
    response.headers["X-Card-Id"] = card.card_id.hex()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@desk_api.post("/cards/lookup")
@require_desk
def lookup() -> Response:
    """The active cards of a phone number: ids and dates, never codes."""
    settings = desk_settings()
    body = json_object({"phone"})
    try:
        found = cards_for_phone(settings, _text(body, "phone"))
    except PhoneNumberError as exc:
        bad_request(exc.reason, str(exc))
    response = jsonify(cards=found)
    response.headers["Cache-Control"] = "no-store"
    return response


@desk_api.post("/cards/<card_id>/revoke")
@require_desk
def revoke(card_id: str) -> Response:
    """Revoke a lost card: its credential goes on the kiosks' revocation list."""
    try:
        raw = parse_card_id(card_id)
    except MalformedError as exc:
        bad_request("bad_card_id", str(exc))
    try:
        newly = revoke_card(raw)
    except CardError as exc:
        raise ApiError(404, exc.reason, str(exc)) from exc
    if newly:
        counters.add({(COUNTER, "revoked"): 1})
        log.info("desk %s revoked card %s", g.desk_staff.name, card_id)
    return jsonify(card_id=card_id, revoked=True, already=not newly)
