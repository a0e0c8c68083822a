"""Presentation: the rotating text inside a visitor's QR code.

``SC1:`` followed by Base45 (RFC 9285) of the canonical CBOR array
``[v, code_type, credential, timestamp, visitor_signature]``. The visitor's
wallet key signs ``[v, code_type, credential, timestamp]`` under the domain
label ``presentation``, so the code type is bound into the signature. A code
is good for ``window`` seconds after its timestamp (30 by default), with a
clock-skew allowance both ways. Holds no long-lived secret.
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
LABEL = "presentation"
"""The domain label the visitor's wallet key signs a presentation under."""
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


@dataclass(frozen=True)
class Presentation:
    """A credential shown at one moment, signed by the visitor's wallet key."""

    code_type: int
    credential: Credential
    timestamp: int
    signature: bytes

    def signed_part(self) -> bytes:
        """The bytes the wallet key signed."""
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
        return cls(code_type, Credential.from_array(credential), timestamp, signature)

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
