"""Wallet blueprint: the issuer's HTTP API under ``/v1/wallet``.

``POST /v1/wallet/enrol``, ``/batch``, ``/contact`` and ``/delete`` each take one signed
CBOR request (``Content-Type: application/cbor``, at most 2048 bytes;
``protocol.issuance``) and answer CBOR (``aggregator.issuer.service``). Each client
address may send ``requests_per_minute`` of them (a token bucket per process; behind
``proxy_hops`` reverse proxies, the address they forward).
``GET /v1/wallet/info`` is the JSON a wallet needs before enrolling: the health
authority's key, the site's time zone, how many days a batch covers, and the kiosks'
clock skew and code window.

Every refusal is JSON ``{error, message}``, counted as ``api_refused{reason}`` (with
``Retry-After`` where asking later helps); successes are counted as ``wallet_*``.
Without an ``[issuer]`` table the routes answer 503 ``issuer_unavailable``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from protocol import issuance

from ..issuer.limits import AddressBuckets
from ..issuer.refusals import IssuanceRefused
from ..issuer.service import WalletIssuer
from ..issuer.settings import IssuerSettings
from . import params
from .errors import ApiError, refusals

wallet_api = Blueprint("wallet", __name__, url_prefix="/v1/wallet")

CBOR = "application/cbor"
ISSUER_EXTENSION = "safecode.issuer"
WALLET_EXTENSION = "safecode.wallet"
BUCKETS_EXTENSION = "safecode.wallet_buckets"
_PATHS = {
    "enrol": issuance.ENROL,
    "batch": issuance.BATCH,
    "contact": issuance.CONTACT,
    "delete": issuance.DELETE,
}


def _unavailable() -> ApiError:
    return ApiError(503, "issuer_unavailable", "this aggregator does not issue wallet credentials")


def wallet_issuer() -> WalletIssuer:
    """The app's issuer, or 503 when it has none."""
    issuer = current_app.extensions.get(WALLET_EXTENSION)
    if not isinstance(issuer, WalletIssuer):
        raise _unavailable()
    return issuer


@wallet_api.errorhandler(IssuanceRefused)
def _refused(exc: IssuanceRefused) -> Response:
    refusals().count(exc.reason, exc.message)
    response = jsonify(error=exc.reason, message=exc.message)
    response.status_code = exc.status
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@wallet_api.get("/info")
def info() -> Response:
    """What a wallet needs to seal its contact and show codes."""
    params.only_params()
    settings = current_app.extensions.get(ISSUER_EXTENSION)
    if not isinstance(settings, IssuerSettings):
        raise _unavailable()
    response = jsonify(
        authority_key=settings.authority_key_text,
        tz=settings.time_zone.key,
        days_ahead=settings.days_ahead,
        skew_s=current_app.config["SKEW_S"],
        window_s=current_app.config["WINDOW_S"],
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@wallet_api.post("/<any(enrol, batch, contact, delete):action>")
def wallet_request(action: str) -> Response:
    """One signed wallet request."""
    params.only_params()
    issuer = wallet_issuer()
    address = client_address(issuer.settings.proxy_hops)
    wait = current_app.extensions[BUCKETS_EXTENSION].take(address)
    if wait:
        raise IssuanceRefused(
            429, "rate_limited", "too many requests from this address", retry_after=wait
        )
    if request.mimetype != CBOR:
        raise IssuanceRefused(415, "wrong_content_type", f"send {CBOR}")
    size = request.content_length
    if size is not None and size > issuance.MAX_REQUEST_SIZE:
        raise IssuanceRefused(
            413, "oversized", f"a wallet request is at most {issuance.MAX_REQUEST_SIZE} bytes"
        )
    body = request.get_data(cache=False)
    if len(body) > issuance.MAX_REQUEST_SIZE:
        raise IssuanceRefused(
            413, "oversized", f"a wallet request is at most {issuance.MAX_REQUEST_SIZE} bytes"
        )
    status, answer = issuer.handle(_PATHS[action], body)
    response = Response(answer, status=status, mimetype=CBOR)
    response.headers["Cache-Control"] = "no-store"
    return response


def client_address(proxy_hops: int) -> str:
    """The client's address: the peer's, or with ``proxy_hops`` trusted proxies in front,
    the one the outermost of them saw (``X-Forwarded-For``, counted from the right)."""
    if proxy_hops:
        forwarded = [a.strip() for a in request.headers.getlist("X-Forwarded-For")]
        hops = [a for line in forwarded for a in line.split(",")]
        hops = [a.strip() for a in hops if a.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops][:64]
    return request.remote_addr or ""


def install(app_extensions: dict[str, object], issuer: WalletIssuer) -> None:
    """Give an app its issuer and per-address buckets (``create_app`` calls this)."""
    app_extensions[ISSUER_EXTENSION] = issuer.settings
    app_extensions[WALLET_EXTENSION] = issuer
    app_extensions[BUCKETS_EXTENSION] = AddressBuckets(issuer.settings.requests_per_minute)


def flush_wallet_counts(app: Flask | None = None, *, force: bool = False) -> None:
    """Store the issuer's pending ``wallet_*`` counts (at most every few seconds unless
    ``force``); nothing without an issuer."""
    issuer = (app or current_app).extensions.get(WALLET_EXTENSION)
    if isinstance(issuer, WalletIssuer):
        issuer.counts.flush(force)
