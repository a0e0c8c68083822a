"""The health authority's public key as text: ``safecode-ha-x25519:<base64url>``.

The health authority (HA) holds an X25519 key for HPKE (RFC 9180); contact details
are sealed to its public key (``protocol.contact``). The public half travels as one
line of text: the prefix, then the 32 raw key bytes in unpadded base64url (43
characters). Parsing is strict: the exact prefix, canonical base64url, 32 bytes, and
no key whose Diffie-Hellman output is all zeros (a small-order point).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .errors import MalformedError

PREFIX = "safecode-ha-x25519:"
PUBLIC_KEY_SIZE = 32
KEY_ID_SIZE = 8
_TEXT = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_-]{43}")
_KEY_ID_DOMAIN = b"safecode/v1/ha-key-id\n"
# A fixed scalar to test a public key with: small-order points give an all-zero secret.
_PROBE = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"safecode/v1/ha-probe").digest())


def raw_public(key: X25519PublicKey | X25519PrivateKey) -> bytes:
    """The 32 raw bytes of an HA public key (or of a private key's public half)."""
    if isinstance(key, X25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def format_public_key(key: X25519PublicKey | X25519PrivateKey) -> str:
    """``safecode-ha-x25519:`` and the key in unpadded base64url."""
    encoded = base64.urlsafe_b64encode(raw_public(key)).rstrip(b"=").decode("ascii")
    return PREFIX + encoded


def parse_public_key(text: str) -> X25519PublicKey:
    """Parse the text form strictly (surrounding whitespace refused), or raise MalformedError."""
    if type(text) is not str:
        raise MalformedError("health authority key: expected text")
    if not _TEXT.fullmatch(text):
        raise MalformedError(f"health authority key: expected {PREFIX} and 43 base64url characters")
    encoded = text[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=")
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("health authority key: not valid base64url") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != encoded:
        raise MalformedError("health authority key: not canonical base64url")
    return load_raw_public(raw)


def load_raw_public(raw: bytes) -> X25519PublicKey:
    """32 raw bytes as an X25519 public key; small-order points refused."""
    if type(raw) is not bytes or len(raw) != PUBLIC_KEY_SIZE:
        raise MalformedError(f"health authority key: must be {PUBLIC_KEY_SIZE} bytes")
    key = X25519PublicKey.from_public_bytes(raw)
    try:
        _PROBE.exchange(key)
    except ValueError as exc:  # cryptography refuses an all-zero shared secret
        raise MalformedError("health authority key: a small-order point, not a usable key") from exc
    return key


def key_id(key: X25519PublicKey | X25519PrivateKey) -> str:
    """A short name for the key: 16 hex digits of a domain-separated SHA-256."""
    digest = hashlib.sha256(_KEY_ID_DOMAIN + raw_public(key)).digest()
    return digest[:KEY_ID_SIZE].hex()
