"""Presentation: the rotating text inside a visitor's QR code.

``SC1:`` followed by Base45 (RFC 9285) of the canonical CBOR array
``[v, code_type, credential, timestamp, visitor_signature]``. The visitor's
wallet key signs ``[v, code_type, credential, timestamp]`` under the domain
label ``presentation``, so the code type is bound into the signature. A code
is good for ``window`` seconds after its timestamp (30 by default), with a
clock-skew allowance both ways. Holds no long-lived secret.

Code types (:class:`CodeType`), bound into the visitor's signature, so a code made
for one job is refused at another:

- ``CHECKIN`` (1): the wallet's rotating door code, re-signed every few seconds;
  good for ``window`` seconds.
- ``DIAGNOSTIC`` (2): the wallet's "show to a health official" code. Same bytes and
  same 30-s freshness as a check-in code, signed with today's wallet key; the
  official's page (the tracing issue) verifies it and reads its credential id, which
  the health authority's key maps to the case's enrolment (the issuer keeps that link
  sealed to the HA key), so the official finds the case without typing a phone
  number. It says nothing to a venue: a check-in kiosk refuses it with
  :class:`HealthOfficialCodeError` (reason ``diagnostic_code``), a message meant for
  the visitor.
- ``CARD`` (3): the printed card for a visitor without a smartphone. Signed once, at
  the desk, by a one-off wallet key that is then discarded, so it is static: the
  same text for the card's whole life (its credential, at most :data:`CARD_MAX_DAYS`
  days). Freshness does not apply to it (:meth:`Presentation.verify_card`); the
  credential's validity does. Nothing in the byte format changed for it (the code
  type was always a uint in the signed array), so :data:`VERSION` stays 1; a kiosk
  that knows only ``CHECKIN`` refuses a card as ``wrong_type`` ("code type 3 where 1
  was expected"). The limits against copying a static code live with the verifiers
  (kiosk: once per few minutes; aggregator: travel time between venues); see
  docs/CARDS.md.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import base45
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .credential import Credential
from .encoding import decode, encode
from .errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    OversizeError,
    UnsupportedVersionError,
    WrongTypeError,
)
from .schema import raw, tuple_of, uint

VERSION = 1
PREFIX = "SC1:"
MAX_BYTES = 256
MAX_TEXT = len(PREFIX) + (MAX_BYTES // 2) * 3
DEFAULT_WINDOW = 30
DEFAULT_SKEW = 5
#: A card's credential lasts at most this many days (issued at the desk for 28).
CARD_MAX_DAYS = 28
#: Slack on that bound for a credential ending at a local midnight (one DST hour).
CARD_SLACK_S = 3600
LABEL = "presentation"
"""The domain label the visitor's wallet key signs a presentation under."""
#: Where a parsed presentation keeps its signed part, cut from the bytes it came from.
_SIGNED_CUT = "_signed_cut"
_BASE45_TEXT = re.compile(r"[0-9A-Z $%*+\-./:]*")
_SHAPE = tuple_of(uint(255), uint(255), lambda v, n: v, uint(2**32 - 1), raw(keys.SIGNATURE_SIZE))


IssuerCheck = Callable[[Credential, Sequence[Ed25519PublicKey]], object]
"""Raises unless one of the keys signed the credential; may remember credentials it passed.

The hook :meth:`Presentation.verify` takes for the issuer signature (the costlier of
its two checks), so a verifier that sees the same credential often can cache it.
"""


def check_issuer(credential: Credential, issuer_keys: Sequence[Ed25519PublicKey]) -> None:
    """The uncached issuer check: raise unless a trusted issuer signed ``credential``."""
    credential.issuer_index(issuer_keys)


class CodeType(IntEnum):
    """What a code is for; bound into the visitor's signature."""

    CHECKIN = 1
    DIAGNOSTIC = 2
    CARD = 3


class HealthOfficialCodeError(WrongTypeError):
    """A wallet's "show to a health official" code shown at a check-in kiosk."""

    reason = "diagnostic_code"


class CardLifetimeError(MalformedError):
    """A card whose credential lasts longer than any card the desk issues."""

    reason = "card_lifetime"


@dataclass(frozen=True)
class Presentation:
    """A credential shown at one moment, signed by the visitor's wallet key."""

    code_type: int
    credential: Credential
    timestamp: int
    signature: bytes

    def signed_part(self) -> bytes:
        """The bytes the wallet key signed."""
        cut = self.__dict__.get(_SIGNED_CUT)
        if cut is not None:
            return cut
        return encode([VERSION, self.code_type, self.credential.to_array(), self.timestamp])

    def to_bytes(self) -> bytes:
        """Canonical CBOR encoding, as carried inside check-in records."""
        return encode(
            [VERSION, self.code_type, self.credential.to_array(), self.timestamp, self.signature]
        )

    def to_text(self) -> str:
        """The QR code text: prefix plus Base45."""
        return PREFIX + base45.b45encode(self.to_bytes()).decode("ascii")

    def fingerprint(self) -> str:
        """A short hash safe to log in place of the whole code."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:12]

    @classmethod
    def from_bytes(cls, data: bytes) -> Presentation:
        """Parse the CBOR form strictly (no signature checked)."""
        value = decode(data, max_size=MAX_BYTES, what="presentation")
        if type(value) is list and value and type(value[0]) is int and value[0] != VERSION:
            raise UnsupportedVersionError(f"presentation version {value[0]} is not supported")
        _, code_type, credential, timestamp, signature = _SHAPE(value, "presentation")
        parsed = cls(code_type, Credential.from_array(credential), timestamp, signature)
        # ``data`` is the canonical array [v, type, credential, timestamp, signature]: the
        # signed part is the same bytes under a 4-item header, without the signature's
        # 66 bytes at the end. Kept beside the fields (not one of them), so a copy made
        # with dataclasses.replace encodes its own.
        tail = bytes([0x58, keys.SIGNATURE_SIZE]) + signature
        data = bytes(data)
        if data[0] == 0x85 and data.endswith(tail):
            object.__setattr__(parsed, _SIGNED_CUT, b"\x84" + data[1 : -len(tail)])
        return parsed

    @classmethod
    def from_text(cls, text: str) -> Presentation:
        """Parse QR code text strictly (no signature checked)."""
        if not isinstance(text, str):
            raise MalformedError("a presentation is text")
        if len(text) > MAX_TEXT:
            raise OversizeError(f"presentation text is over {MAX_TEXT} characters")
        if not text.startswith(PREFIX):
            raise WrongTypeError("not a safecode presentation (wrong prefix)")
        body = text[len(PREFIX) :]
        if not _BASE45_TEXT.fullmatch(body):
            raise MalformedError("presentation holds characters outside the Base45 alphabet")
        try:
            data = base45.b45decode(body)
        except (ValueError, binascii.Error) as exc:
            raise MalformedError(f"presentation is not valid Base45: {exc}") from exc
        return cls.from_bytes(data)

    def verify(
        self,
        issuer_keys: Sequence[Ed25519PublicKey],
        *,
        now: float,
        expected_type: CodeType = CodeType.CHECKIN,
        window: int = DEFAULT_WINDOW,
        skew: int = DEFAULT_SKEW,
        issuer_check: IssuerCheck = check_issuer,
        credential_at: float | None = None,
    ) -> None:
        """Check code type, freshness, credential validity and both signatures.

        Cheap checks run first; the two signature checks run last. ``issuer_check``
        judges the issuer signature (pass a caching one to skip repeats);
        ``credential_at`` is when the credential must be valid (default ``now``).
        """
        if self.code_type != expected_type:
            if self.code_type == CodeType.DIAGNOSTIC:
                raise HealthOfficialCodeError(
                    "this code is for a health official, not for checking in: "
                    "show the check-in code"
                )
            raise WrongTypeError(
                f"code type {self.code_type} where {int(expected_type)} was expected"
            )
        self.check_freshness(now, window=window, skew=skew)
        self.credential.check_validity(int(now if credential_at is None else credential_at), skew)
        issuer_check(self.credential, issuer_keys)
        keys.verify(
            keys.load_public(self.credential.visitor_key),
            LABEL,
            self.signed_part(),
            self.signature,
        )

    def verify_card(
        self,
        issuer_keys: Sequence[Ed25519PublicKey],
        *,
        now: float,
        skew: int = DEFAULT_SKEW,
        issuer_check: IssuerCheck = check_issuer,
    ) -> None:
        """Check a printed card: code type, lifetime, credential validity, both signatures.

        No freshness window: the card was signed once. Its credential must be valid at
        ``now`` (widened by ``skew``) and last at most :data:`CARD_MAX_DAYS` days, and
        the card must be dated inside its credential's validity.
        """
        if self.code_type != CodeType.CARD:
            raise WrongTypeError(f"code type {self.code_type} where a card was expected")
        credential = self.credential
        if credential.not_after - credential.not_before > CARD_MAX_DAYS * 86_400 + CARD_SLACK_S:
            raise CardLifetimeError(f"a card lasts at most {CARD_MAX_DAYS} days")
        if not credential.not_before - skew <= self.timestamp <= credential.not_after:
            raise MalformedError("the card is dated outside its credential's validity")
        credential.check_validity(int(now), skew)
        issuer_check(credential, issuer_keys)
        keys.verify(
            keys.load_public(credential.visitor_key), LABEL, self.signed_part(), self.signature
        )

    def check_freshness(self, now: float, *, window: int, skew: int) -> None:
        """Raise unless the timestamp lies in [now - window - skew, now + skew]."""
        if self.timestamp > now + skew:
            raise NotYetValidError(f"code is dated {self.timestamp - now:.0f} s in the future")
        if self.timestamp < now - window - skew:
            raise ExpiredError(f"code expired {now - self.timestamp - window:.0f} s ago")


def present(
    wallet_key: Ed25519PrivateKey,
    credential: Credential,
    *,
    now: float,
    code_type: CodeType = CodeType.CHECKIN,
) -> Presentation:
    """Make a fresh presentation of ``credential`` at time ``now``."""
    unsigned = Presentation(int(code_type), credential, int(now), b"")
    signature = keys.sign(wallet_key, LABEL, unsigned.signed_part())
    return Presentation(int(code_type), credential, int(now), signature)


def make_card(
    credential: Credential, card_key: Ed25519PrivateKey, *, timestamp: int
) -> Presentation:
    """Sign ``credential`` once as a card with its one-off key; the caller drops the key.

    ``timestamp`` is the card's date (the desk uses the start of the issuing day, so
    the card does not tell the minute it was made).
    """
    return present(card_key, credential, now=timestamp, code_type=CodeType.CARD)
