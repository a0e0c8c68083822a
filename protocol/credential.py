"""Visitor credential: the issuer's signature over a visitor's wallet key.

Compact on purpose, because it travels inside every QR code. Encoded as the
canonical CBOR array ``[v, credential_id, visitor_key, not_before, not_after,
issuer_signature]``; the issuer signs the array without its last item under
the domain label ``credential``. Times are Unix seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .encoding import encode
from .errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    SignatureError,
    UnknownKeyError,
    UnsupportedVersionError,
)
from .schema import raw, tuple_of, uint

VERSION = 1
CREDENTIAL_ID_SIZE = 8
_LABEL = "credential"
_UINT32 = 2**32 - 1
_SHAPE = tuple_of(
    uint(255),
    raw(CREDENTIAL_ID_SIZE),
    raw(keys.PUBLIC_KEY_SIZE),
    uint(_UINT32),
    uint(_UINT32),
    raw(keys.SIGNATURE_SIZE),
)


@dataclass(frozen=True)
class Credential:
    """An issuer-signed statement: this wallet key belongs to a registered visitor."""

    credential_id: bytes
    visitor_key: bytes
    not_before: int
    not_after: int
    issuer_signature: bytes

    def signed_part(self) -> bytes:
        """The bytes the issuer signed."""
        return encode(
            [VERSION, self.credential_id, self.visitor_key, self.not_before, self.not_after]
        )

    def to_array(self) -> list[Any]:
        """The CBOR array form, for nesting inside a presentation."""
        return [
            VERSION,
            self.credential_id,
            self.visitor_key,
            self.not_before,
            self.not_after,
            self.issuer_signature,
        ]

    def to_bytes(self) -> bytes:
        """Canonical CBOR encoding."""
        return encode(self.to_array())

    @classmethod
    def from_array(cls, value: Any) -> Credential:
        """Parse the array form strictly."""
        if type(value) is list and value and type(value[0]) is int and value[0] != VERSION:
            raise UnsupportedVersionError(f"credential version {value[0]} is not supported")
        version, cred_id, visitor_key, not_before, not_after, sig = _SHAPE(value, "credential")
        if not_after <= not_before:
            raise MalformedError("credential validity ends before it starts")
        return cls(cred_id, visitor_key, not_before, not_after, sig)

    def issuer_index(self, issuer_keys: Sequence[Ed25519PublicKey]) -> int:
        """Index of the trusted issuer key that signed this credential."""
        if not issuer_keys:
            raise UnknownKeyError("no trusted issuer keys are configured")
        message = self.signed_part()
        for index, public in enumerate(issuer_keys):
            try:
                keys.verify(public, _LABEL, message, self.issuer_signature)
            except SignatureError:
                continue
            return index
        raise UnknownKeyError("credential is not signed by a trusted issuer")

    def check_validity(self, now: int, skew: int = 0) -> None:
        """Raise unless ``now`` lies in the validity period (widened by ``skew`` seconds)."""
        if now + skew < self.not_before:
            raise NotYetValidError("credential is not valid yet")
        if now - skew > self.not_after:
            raise ExpiredError("credential has expired")

    @property
    def holder(self) -> str:
        """The visitor's wallet key as a did:key identifier (never put this in kiosk logs)."""
        return keys.did_key(self.visitor_key)


def issue_credential(
    issuer_key: Ed25519PrivateKey,
    visitor_key: bytes,
    *,
    not_before: int,
    not_after: int,
    credential_id: bytes | None = None,
) -> Credential:
    """Sign a credential for ``visitor_key`` valid from ``not_before`` to ``not_after``."""
    cred_id = os.urandom(CREDENTIAL_ID_SIZE) if credential_id is None else credential_id
    unsigned = Credential(cred_id, visitor_key, not_before, not_after, b"\0" * 64)
    Credential.from_array(unsigned.to_array())  # same checks as a verifier applies
    signature = keys.sign(issuer_key, _LABEL, unsigned.signed_part())
    return Credential(cred_id, visitor_key, not_before, not_after, signature)
