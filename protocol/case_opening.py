"""A case's kept opening: what opening a case handed out, sealed once more to the HA.

``POST /v1/cases`` answers sealed batch lists, sealed owners and card credential ids.
The aggregator keeps them so the official can take the case up again, but not as they
are: the very same blob bytes sit in the issuer's tables beside enrolment ids, and card
ids beside phone tags, so a copy beside the case would let anyone who reads the
database join the case to its person. The copy is therefore sealed as one blob to the
health authority (``protocol.authority_seal``, purpose ``case-opening``), padded to one
fixed size so its length says nothing either::

    plain = canonical CBOR {"batches": [blob], "owners": [blob], "credentials": [8 bytes]}

Only the official's side, holding the HA private key, opens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .authority_seal import open_from_authority, seal_to_authority
from .credential import CREDENTIAL_ID_SIZE
from .encoding import decode, encode
from .errors import MalformedError

PURPOSE = "case-opening"
#: Room for about 150 sealed batch lists and owners: a phone's five enrolments over the
#: longest period need a few dozen. A bigger opening is not kept (OversizeError).
PADDED_SIZE = 16384
_BLOB_MAX = 512


@dataclass(frozen=True)
class CaseOpening:
    """Sealed batch lists and owners (blobs the HA opens), and card credential ids."""

    batches: list[bytes]
    owners: list[bytes]
    credentials: list[bytes]


def seal_case_opening(
    authority_key: X25519PublicKey,
    batches: Sequence[bytes],
    owners: Sequence[bytes],
    credentials: Sequence[bytes],
) -> bytes:
    """The opening sealed to the HA key (OversizeError if it does not fit)."""
    data = encode(
        {"batches": list(batches), "owners": list(owners), "credentials": list(credentials)}
    )
    return seal_to_authority(authority_key, PURPOSE, data, padded_size=PADDED_SIZE)


def _blobs(value: object, name: str, size: int | None = None) -> list[bytes]:
    if type(value) is not list:
        raise MalformedError(f"case opening: {name} must be a list")
    for item in value:
        if type(item) is not bytes or not 0 < len(item) <= _BLOB_MAX:
            raise MalformedError(f"case opening: {name} holds a bad item")
        if size is not None and len(item) != size:
            raise MalformedError(f"case opening: {name} must be {size} bytes each")
    return list(value)


def open_case_opening(authority_key: X25519PrivateKey, blob: bytes) -> CaseOpening:
    """The opening in a sealed blob (health authority only), or a ProtocolError."""
    data = open_from_authority(authority_key, PURPOSE, blob, padded_size=PADDED_SIZE)
    value = decode(data, max_size=PADDED_SIZE, what="case opening")
    if type(value) is not dict or set(value) != {"batches", "owners", "credentials"}:
        raise MalformedError("case opening: expected batches, owners and credentials")
    return CaseOpening(
        batches=_blobs(value["batches"], "batches"),
        owners=_blobs(value["owners"], "owners"),
        credentials=_blobs(value["credentials"], "credentials", CREDENTIAL_ID_SIZE),
    )
