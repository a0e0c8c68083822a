"""The wallet's issuance requests and the issuer's answers, and the site's calendar days.

Four request kinds, each a signed map (``protocol.signed``) of at most
``MAX_REQUEST_SIZE`` bytes, ``{"v": 1, "type": KIND, "ts", "nonce", ...fields, "sig"}``,
signed under the label KIND:

======================  =================================================  ================
KIND                    fields besides v, type, ts, nonce, sig             signed by
======================  =================================================  ================
``wallet-enrol``        ``key`` (32), ``phone`` (text), ``contact`` (433)  the key in ``key``
``wallet-batch``        ``enrolment`` (16), ``keys`` (1..7 distinct, 32)   the enrolment key
``wallet-contact``      ``enrolment``, ``phone``, ``contact``              the enrolment key
``wallet-delete``       ``enrolment``, ``revoke`` (0..64 [id(8), tok(16)]) the enrolment key
======================  =================================================  ================

``ts`` is Unix seconds and must lie within ``FRESHNESS_S`` of the receiver's clock
(``StaleError``); ``nonce`` is 16 random bytes the receiver refuses to see twice
within that window. The phone number is only checked to be short text here: the
issuer normalises it (E.164) and refuses junk itself.

Answers are canonical CBOR maps: enrol ``{"enrolment"}``, batch ``{"credentials",
"revoke", "days", "tz"}`` (credential arrays, 16-byte revoke tokens and ``YYYY-MM-DD``
days, all in day order), contact ``{"ok": true}``, delete ``{"revoked": n}``.

Day credentials follow the site's calendar: the one for day D is valid from the local
midnight starting D to the next local midnight (``day_bounds``), in an IANA zone.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import contact, keys, signed
from .authority_seal import open_from_authority, seal_to_authority
from .credential import CREDENTIAL_ID_SIZE, Credential
from .encoding import decode, encode
from .errors import MalformedError, ProtocolError, UnsupportedVersionError
from .schema import Check, array, boolean, raw, record, text, tuple_of, uint

ENROL = "wallet-enrol"
BATCH = "wallet-batch"
CONTACT = "wallet-contact"
DELETE = "wallet-delete"
KINDS = (ENROL, BATCH, CONTACT, DELETE)

MAX_REQUEST_SIZE = 2048
MAX_ANSWER_SIZE = 4096
FRESHNESS_S = 120
NONCE_SIZE = 16
ENROLMENT_ID_SIZE = 16
REVOKE_TOKEN_SIZE = 16
MAX_KEYS = 7
MAX_REVOKE = 64
PHONE_MAX_CHARS = 32
TS_MAX = 2**32 - 1
TZ_MAX_CHARS = 64
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class StaleError(ProtocolError):
    """A request dated more than FRESHNESS_S away from the receiver's clock."""

    reason = "stale"


class BlobSizeError(MalformedError):
    """A contact blob of the wrong size."""

    reason = "wrong_blob_size"


# --- field checks ---------------------------------------------------------------------


def _public_key(value: Any, name: str) -> bytes:
    """A 32-byte Ed25519 public key that is canonical and not of small order."""
    raw(keys.PUBLIC_KEY_SIZE)(value, name)
    try:
        keys.load_public(value)
    except (MalformedError, ValueError) as exc:
        raise MalformedError(f"{name}: {exc}") from exc
    return value


def _contact_blob(value: Any, name: str) -> bytes:
    """A sealed contact blob of exactly ``contact.BLOB_SIZE`` bytes (not opened here)."""
    if type(value) is not bytes:
        raise MalformedError(f"{name} must be a byte string")
    if len(value) != contact.BLOB_SIZE:
        raise BlobSizeError(f"{name} must be {contact.BLOB_SIZE} bytes, not {len(value)}")
    if value[0] != contact.VERSION:
        raise UnsupportedVersionError(f"{name}: blob version {value[0]} is not supported")
    return value


def _distinct_keys(value: Any, name: str) -> list[bytes]:
    items = array(_public_key, MAX_KEYS, min_items=1)(value, name)
    if len(set(items)) != len(items):
        raise MalformedError(f"{name}: the keys must be distinct")
    return items


def _revoke_pairs(value: Any, name: str) -> list[tuple[bytes, bytes]]:
    pair = tuple_of(raw(CREDENTIAL_ID_SIZE), raw(REVOKE_TOKEN_SIZE))
    items = array(pair, MAX_REVOKE)(value, name)
    return [(cid, token) for cid, token in items]


_PHONE = text(r"[^\x00-\x1f\x7f]+", PHONE_MAX_CHARS)
_COMMON: dict[str, Check] = {"ts": uint(TS_MAX), "nonce": raw(NONCE_SIZE)}
_ENROLMENT = raw(ENROLMENT_ID_SIZE)
SCHEMAS: dict[str, dict[str, Check]] = {
    ENROL: {**_COMMON, "key": _public_key, "phone": _PHONE, "contact": _contact_blob},
    BATCH: {**_COMMON, "enrolment": _ENROLMENT, "keys": _distinct_keys},
    CONTACT: {**_COMMON, "enrolment": _ENROLMENT, "phone": _PHONE, "contact": _contact_blob},
    DELETE: {**_COMMON, "enrolment": _ENROLMENT, "revoke": _revoke_pairs},
}


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletRequest:
    """A parsed wallet request whose signature is not yet checked (``verify``)."""

    kind: str
    ts: int
    nonce: bytes
    fields: dict[str, Any]
    _unsealed: signed.Unsealed

    @property
    def enrolment(self) -> bytes:
        """The enrolment id (every kind but enrol)."""
        return self.fields["enrolment"]

    def check_fresh(self, now: float, window_s: int = FRESHNESS_S) -> None:
        """StaleError unless ``ts`` is within ``window_s`` seconds of ``now``."""
        if abs(self.ts - now) > window_s:
            raise StaleError(
                f"{self.kind}: ts is {int(self.ts - now):+d} s from the server clock "
                f"(at most {window_s} s either way)"
            )

    def verify(self, public_key: bytes) -> None:
        """SignatureError unless the private half of ``public_key`` signed this request."""
        self._unsealed.verify(keys.load_public(public_key))

    def verify_self_signed(self) -> None:
        """For an enrolment: SignatureError unless the key it carries signed it."""
        self.verify(self.fields["key"])


def parse_request(data: bytes, kind: str) -> WalletRequest:
    """Parse a wallet request of ``kind`` strictly (signature left to ``verify``)."""
    if kind not in SCHEMAS:
        raise ValueError(f"not a wallet request kind: {kind!r}")
    unsealed = signed.unseal(data, kind, SCHEMAS[kind], max_size=MAX_REQUEST_SIZE)
    fields = dict(unsealed.fields)
    ts = fields.pop("ts")
    nonce = fields.pop("nonce")
    return WalletRequest(kind, ts, nonce, fields, unsealed)


def new_nonce() -> bytes:
    """16 fresh random bytes."""
    return os.urandom(NONCE_SIZE)


def sign_request(
    key: Ed25519PrivateKey,
    kind: str,
    fields: dict[str, Any],
    *,
    ts: int,
    nonce: bytes | None = None,
) -> bytes:
    """A signed wallet request of ``kind`` (what the wallet sends; tests, benchmarks)."""
    if kind not in SCHEMAS:
        raise ValueError(f"not a wallet request kind: {kind!r}")
    body = {"ts": ts, "nonce": new_nonce() if nonce is None else nonce, **fields}
    record(SCHEMAS[kind])(body, kind)
    return signed.seal(kind, body, key)


def sign_enrol(
    key: Ed25519PrivateKey, *, phone: str, contact_blob: bytes, ts: int, nonce: bytes | None = None
) -> bytes:
    """An enrol request signed by the enrolment key it carries."""
    fields = {"key": keys.public_bytes(key), "phone": phone, "contact": contact_blob}
    return sign_request(key, ENROL, fields, ts=ts, nonce=nonce)


def sign_batch(
    key: Ed25519PrivateKey,
    *,
    enrolment: bytes,
    wallet_keys: Sequence[bytes],
    ts: int,
    nonce: bytes | None = None,
) -> bytes:
    """A batch request: one wallet public key per day, today first."""
    fields = {"enrolment": enrolment, "keys": list(wallet_keys)}
    return sign_request(key, BATCH, fields, ts=ts, nonce=nonce)


def sign_contact(
    key: Ed25519PrivateKey,
    *,
    enrolment: bytes,
    phone: str,
    contact_blob: bytes,
    ts: int,
    nonce: bytes | None = None,
) -> bytes:
    """A request to replace the enrolment's contact (a new phone number)."""
    fields = {"enrolment": enrolment, "phone": phone, "contact": contact_blob}
    return sign_request(key, CONTACT, fields, ts=ts, nonce=nonce)


def sign_delete(
    key: Ed25519PrivateKey,
    *,
    enrolment: bytes,
    revoke: Sequence[tuple[bytes, bytes]],
    ts: int,
    nonce: bytes | None = None,
) -> bytes:
    """A request to delete the enrolment and revoke the credentials whose tokens it sends."""
    fields = {"enrolment": enrolment, "revoke": [[cid, token] for cid, token in revoke]}
    return sign_request(key, DELETE, fields, ts=ts, nonce=nonce)


# --- answers --------------------------------------------------------------------------


def enrol_answer(enrolment: bytes) -> bytes:
    """``{"enrolment": id}``."""
    return encode({"enrolment": _ENROLMENT(enrolment, "enrolment")})


def parse_enrol_answer(data: bytes) -> bytes:
    """The enrolment id in an enrol answer."""
    value = decode(data, max_size=MAX_ANSWER_SIZE, what="enrol answer")
    return record({"enrolment": _ENROLMENT})(value, "enrol answer")["enrolment"]


def contact_answer() -> bytes:
    """``{"ok": true}``."""
    return encode({"ok": True})


def parse_contact_answer(data: bytes) -> bool:
    """True for a contact answer."""
    value = decode(data, max_size=MAX_ANSWER_SIZE, what="contact answer")
    return record({"ok": boolean()})(value, "contact answer")["ok"]


def delete_answer(revoked: int) -> bytes:
    """``{"revoked": n}``."""
    return encode({"revoked": uint(MAX_REVOKE)(revoked, "revoked")})


def parse_delete_answer(data: bytes) -> int:
    """How many credentials a delete answer says were revoked."""
    value = decode(data, max_size=MAX_ANSWER_SIZE, what="delete answer")
    return record({"revoked": uint(MAX_REVOKE)})(value, "delete answer")["revoked"]


def _day_text(value: Any, name: str) -> str:
    text(_DAY.pattern, 10)(value, name)
    try:
        datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError(f"{name}: not a calendar day") from exc
    return value


def _tz_text(value: Any, name: str) -> str:
    return text(r"[A-Za-z0-9_+\-/]+", TZ_MAX_CHARS)(value, name)


def _credential(value: Any, name: str) -> Credential:
    return Credential.from_array(value)


_BATCH_ANSWER = record(
    {
        "credentials": array(_credential, MAX_KEYS, min_items=1),
        "revoke": array(raw(REVOKE_TOKEN_SIZE), MAX_KEYS, min_items=1),
        "days": array(_day_text, MAX_KEYS, min_items=1),
        "tz": _tz_text,
    }
)


@dataclass(frozen=True)
class BatchAnswer:
    """A batch of day credentials, their revoke tokens and days, in day order."""

    credentials: tuple[Credential, ...]
    revoke: tuple[bytes, ...]
    days: tuple[str, ...]
    tz: str

    def __post_init__(self) -> None:
        if not len(self.credentials) == len(self.revoke) == len(self.days):
            raise MalformedError("batch answer: credentials, revoke and days differ in length")

    def to_bytes(self) -> bytes:
        """Canonical CBOR of the answer map."""
        return encode(
            {
                "credentials": [c.to_array() for c in self.credentials],
                "revoke": list(self.revoke),
                "days": list(self.days),
                "tz": self.tz,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BatchAnswer:
        """Parse a batch answer strictly (credential signatures are not checked here)."""
        value = decode(data, max_size=MAX_ANSWER_SIZE, what="batch answer")
        fields = _BATCH_ANSWER(value, "batch answer")
        return cls(
            tuple(fields["credentials"]),
            tuple(fields["revoke"]),
            tuple(fields["days"]),
            fields["tz"],
        )


# --- what the issuer seals to the health authority -----------------------------------

#: Per credential: the enrolment it was issued to.
OWNER_PURPOSE = "credential-owner"
OWNER_PADDED_SIZE = 32
#: Per batch: its credential ids, concatenated in day order.
BATCH_PURPOSE = "batch-credentials"
BATCH_PADDED_SIZE = 2 + MAX_KEYS * CREDENTIAL_ID_SIZE


def seal_owner(authority_key: X25519PublicKey, enrolment: bytes) -> bytes:
    """The enrolment id sealed to the health authority, for one credential's row."""
    _ENROLMENT(enrolment, "enrolment")
    return seal_to_authority(authority_key, OWNER_PURPOSE, enrolment, padded_size=OWNER_PADDED_SIZE)


def open_owner(authority_key: X25519PrivateKey, blob: bytes) -> bytes:
    """The enrolment id in a sealed owner (health authority only)."""
    data = open_from_authority(authority_key, OWNER_PURPOSE, blob, padded_size=OWNER_PADDED_SIZE)
    return _ENROLMENT(data, "sealed owner")


def seal_batch_list(authority_key: X25519PublicKey, credential_ids: Sequence[bytes]) -> bytes:
    """A batch's credential ids (1 to MAX_KEYS, day order) sealed to the health authority."""
    if not 1 <= len(credential_ids) <= MAX_KEYS:
        raise ValueError(f"a batch holds 1 to {MAX_KEYS} credentials")
    for cid in credential_ids:
        raw(CREDENTIAL_ID_SIZE)(cid, "credential id")
    data = b"".join(credential_ids)
    return seal_to_authority(authority_key, BATCH_PURPOSE, data, padded_size=BATCH_PADDED_SIZE)


def open_batch_list(authority_key: X25519PrivateKey, blob: bytes) -> list[bytes]:
    """The credential ids in a sealed batch list (health authority only)."""
    data = open_from_authority(authority_key, BATCH_PURPOSE, blob, padded_size=BATCH_PADDED_SIZE)
    if not data or len(data) % CREDENTIAL_ID_SIZE:
        raise MalformedError("sealed batch list: not a whole number of credential ids")
    size = CREDENTIAL_ID_SIZE
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- the site's calendar days ---------------------------------------------------------


def local_day(now: float, zone: ZoneInfo) -> datetime.date:
    """The calendar day in ``zone`` at Unix time ``now``."""
    return datetime.datetime.fromtimestamp(now, tz=zone).date()


def day_start(day: datetime.date, zone: ZoneInfo) -> int:
    """Unix seconds of the first instant of ``day`` in ``zone`` (its local midnight).

    Where a zone skips midnight (a daylight-saving jump at 00:00), the day starts at the
    jump; where midnight happens twice, at the first one.
    """
    midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=zone)
    return int(midnight.timestamp())


def day_bounds(day: datetime.date, zone: ZoneInfo) -> tuple[int, int]:
    """``(not_before, not_after)`` of ``day`` in ``zone``: its local midnight and the next."""
    return day_start(day, zone), day_start(day + datetime.timedelta(days=1), zone)


def seconds_to_next_day(now: float, zone: ZoneInfo) -> int:
    """Whole seconds (at least 1) from ``now`` to the next local midnight in ``zone``."""
    _, end = day_bounds(local_day(now, zone), zone)
    return max(1, int(end - now + 0.999))
