"""A simulated visitor's phone speaking the wallet API: enrol, then fetch day credentials.

The same requests the browser wallet (``wallet/``) sends, made with ``protocol.issuance``
over plain HTTP, so the demo and tests can bring visitors in through the real issuer
instead of the simulator's year-long credentials. Each day's wallet key is fresh and
stays here; the server only ever sees public keys, the sealed contact and the number.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys
from protocol.authority_key import parse_public_key
from protocol.contact import Contact, new_notify_secret, seal_contact
from protocol.issuance import BatchAnswer, parse_enrol_answer, sign_batch, sign_enrol

from .visitors import Wallet

TIMEOUT_S = 10.0


class WalletApiError(Exception):
    """The issuer refused a request, or could not be reached."""


@dataclass(frozen=True)
class EnrolledPhone:
    """What a phone keeps after enrolling and fetching its first batch."""

    enrolment: bytes
    enrolment_key: Ed25519PrivateKey
    days: tuple[Wallet, ...]
    revoke_tokens: tuple[bytes, ...]


def _post(base_url: str, path: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        base_url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/cbor"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise WalletApiError(f"{path}: HTTP {exc.code}: {detail}") from exc
    except OSError as exc:
        raise WalletApiError(f"{path}: {exc}") from exc


def wallet_info(base_url: str) -> dict[str, object]:
    """``GET /v1/wallet/info``: the HA key, time zone and code timing."""
    try:
        with urllib.request.urlopen(base_url + "/v1/wallet/info", timeout=TIMEOUT_S) as answer:
            return dict(json.loads(answer.read()))
    except (OSError, ValueError) as exc:
        raise WalletApiError(f"/v1/wallet/info: {exc}") from exc


def enrol_phone(base_url: str, phone: str, *, language: str = "ko") -> EnrolledPhone:
    """Enrol with ``phone`` (E.164) and fetch the week's day credentials."""
    info = wallet_info(base_url)
    authority = parse_public_key(str(info["authority_key"]))
    days = int(str(info["days_ahead"]))
    contact = Contact(phone=phone, language=language, notify_secret=new_notify_secret())
    enrolment_key = keys.generate()
    body = sign_enrol(
        enrolment_key,
        phone=phone,
        contact_blob=seal_contact(authority, contact),
        ts=int(time.time()),
    )
    enrolment = parse_enrol_answer(_post(base_url, "/v1/wallet/enrol", body))
    wallet_keys = [keys.generate() for _ in range(days)]
    body = sign_batch(
        enrolment_key,
        enrolment=enrolment,
        wallet_keys=[keys.public_bytes(k) for k in wallet_keys],
        ts=int(time.time()),
    )
    batch = BatchAnswer.from_bytes(_post(base_url, "/v1/wallet/batch", body))
    wallets = tuple(Wallet(k, c) for k, c in zip(wallet_keys, batch.credentials, strict=True))
    return EnrolledPhone(enrolment, enrolment_key, wallets, batch.revoke)
