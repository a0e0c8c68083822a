"""Operator blueprint: enrol and retire kiosks, with bearer operator tokens.

``GET /v1/operator/site`` checks a token and tells provisioning what a kiosk must trust
(issuer and ledger public keys) and where the broker is, before any device is touched.
``GET /v1/operator/kiosks`` is the registry with venues and last states; its
``?device_key=`` finds a device's entries (what provisioning asks before enrolling).
``POST /v1/operator/kiosks`` registers a device key and answers with the kiosk id, the
kiosk's own MQTT credentials (from the broker accounts extension; none without one) and
the same trust. ``POST /v1/operator/kiosks/<id>/retire`` refuses the kiosk's key from
then on and removes its broker account at once.

Re-keying a device is enrol-new-then-retire-old: the retired id keeps its old key in
the registry, so check-ins it signed stay verifiable in the ledger.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify

from protocol import keys
from protocol.enrolment import EnrolAnswer, SiteAnswer
from protocol.errors import MalformedError
from protocol.ids import VENUE_ID_PATTERN, check_kiosk_id

from .. import operators
from ..broker_accounts import BrokerAccountError, BrokerAccounts, NoBrokerAccounts
from ..db import KioskEntry
from ..kiosk_trust import KioskTrust
from ..region_homes import RegionHome, home_of, record_home
from ..registry import RegistryError, enrol_kiosk, retire_kiosk
from . import params
from .bodies import json_object
from .errors import ApiError, bad_request, bearer_token
from .registry_view import matching_kiosks, operator_entry

log = logging.getLogger("aggregator.api")
operator_api = Blueprint("operator", __name__, url_prefix="/v1/operator")
_VENUE = re.compile(VENUE_ID_PATTERN)


def require_operator(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse with 401 unless ``Authorization: Bearer <operator token>`` is valid."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = bearer_token("operator token")
        try:
            g.operator = operators.authenticate(token)
        except operators.TokenError as exc:
            raise ApiError(401, "bad_token", "the operator token is not valid") from exc
        return view(*args, **kwargs)

    return wrapper


def broker_accounts() -> BrokerAccounts:
    """The app's broker accounts, or none (kiosks log in as the broker allows)."""
    return current_app.extensions.get("safecode.broker_accounts", NoBrokerAccounts())


def kiosk_trust() -> KioskTrust:
    """The keys and broker address enrolment hands out; 503 when this process lacks them."""
    trust = current_app.config.get("KIOSK_TRUST")
    if not isinstance(trust, KioskTrust):
        raise ApiError(
            503,
            "enrolment_unavailable",
            "this aggregator process cannot read the issuer and ledger public keys (the .pub "
            "files beside the keys): enrol through one that can (see its log)",
        )
    return trust


@operator_api.get("/site")
@require_operator
def site() -> Response:
    """Who the token belongs to, what kiosks must trust, and the broker they use."""
    return jsonify(SiteAnswer(g.operator.name, kiosk_trust()).to_dict())


@operator_api.get("/kiosks")
@require_operator
def registry() -> Response:
    """The registry with venues and last states; ``?device_key=did:key:...`` filters."""
    params.only_params("device_key")
    return jsonify(kiosks=[operator_entry(k) for k in matching_kiosks()])


def derived_kiosk_id(device_key: bytes) -> str:
    """A kiosk id made from its device key, so enrolling the same key twice gives the same id."""
    return "k-" + hashlib.sha256(device_key).hexdigest()[:12]


def _regions() -> dict[str, RegionHome]:
    regions = current_app.config.get("REGIONS")
    return regions if isinstance(regions, dict) else {}


def _home_accounts(region: str | None) -> BrokerAccounts:
    """The accounts of the broker a kiosk is homed on (region None: this aggregator's)."""
    if region is None:
        return broker_accounts()
    home = _regions().get(region)
    if home is None:
        raise ApiError(
            502, "broker_error", f"the kiosk is homed on region {region}, which is not configured"
        )
    return home.accounts()


@operator_api.post("/kiosks")
@require_operator
def enrol() -> Response:
    """Enrol a kiosk: ``{"device_key": did:key, "venue_id": ..., "kiosk_id"?: ...,
    "region"?: ...}``; with a region, on that regional broker (aggregator/region_homes.py)."""
    body = json_object({"device_key", "venue_id", "kiosk_id", "region"})
    region = body.get("region")
    if region is not None and (not isinstance(region, str) or region not in _regions()):
        bad_request("unknown_region", "region must name one of the aggregator's [regions]")
    did, venue = body.get("device_key"), body.get("venue_id")
    if not isinstance(venue, str) or not _VENUE.fullmatch(venue):
        bad_request("bad_venue_id", "venue_id is 1-63 lowercase letters, digits or hyphens")
    try:
        device_key = keys.parse_did_key(did)  # type: ignore[arg-type]
        keys.load_public(device_key)
    except MalformedError as exc:
        bad_request("bad_device_key", f"device_key must be an Ed25519 did:key: {exc}")
    kiosk_id = body.get("kiosk_id", derived_kiosk_id(device_key))
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError as exc:
        bad_request("bad_kiosk_id", str(exc))
    trust = kiosk_trust()
    if region is not None:
        home = _regions()[region]
        trust = dataclasses.replace(
            trust, mqtt_host=home.host, mqtt_port=home.port, mqtt_tls=home.tls
        )
    known = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id) is not None
    if known and home_of(kiosk_id) != region:
        raise ApiError(
            409, "conflict", f"kiosk {kiosk_id} is homed on another broker: retire it first"
        )
    try:
        with KioskEntry._meta.database.atomic():  # the kiosk and its home, or neither
            entry = enrol_kiosk(kiosk_id, venue, device_key)
            if region is not None:
                record_home(kiosk_id, region)
    except RegistryError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    try:
        credentials = _home_accounts(region).ensure_kiosk(kiosk_id)
    except BrokerAccountError as exc:
        # The registry entry stays: enrolling the same key again is safe and retries this.
        raise ApiError(502, "broker_error", f"kiosk registered, broker account not: {exc}") from exc
    log.info(
        "operator %s enrolled kiosk %s at %s%s",
        g.operator.name,
        kiosk_id,
        venue,
        f" on region {region}" if region else "",
    )
    answer = EnrolAnswer(
        kiosk_id=entry.kiosk_id,
        venue_id=entry.venue_id,
        device_key=did,
        trust=trust,
        username=credentials.username if credentials else None,
        password=credentials.password if credentials else None,
    )
    response = jsonify(answer.to_dict())
    response.headers["Cache-Control"] = "no-store"  # it holds the kiosk's broker password
    response.status_code = 201
    return response


@operator_api.post("/kiosks/<kiosk_id>/retire")
@require_operator
def retire(kiosk_id: str) -> Response:
    """Retire a kiosk: every later check-in it signs is refused; its broker account goes.

    Retiring twice is harmless, so a retire whose broker step failed can be repeated.
    """
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError as exc:
        bad_request("bad_kiosk_id", str(exc))
    try:
        retire_kiosk(kiosk_id)
    except RegistryError as exc:
        raise ApiError(404, "unknown_kiosk", str(exc)) from exc
    try:
        _home_accounts(home_of(kiosk_id)).remove_kiosk(kiosk_id)
    except BrokerAccountError as exc:
        raise ApiError(
            502, "broker_error", f"kiosk retired, broker account not removed (retry): {exc}"
        ) from exc
    log.info("operator %s retired kiosk %s", g.operator.name, kiosk_id)
    return jsonify(kiosk_id=kiosk_id, retired=True)
