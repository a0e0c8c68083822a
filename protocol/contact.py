"""Contact details sealed to the health authority: the plaintext and its HPKE blob.

Plaintext: the canonical CBOR map ``{"phone", "lang", "notify"[, "name"]}``: the phone
number in E.164 (``+`` and 7 to 15 digits), a short language tag (``ko``, ``en``,
``zh-Hant``), a random 32-byte notification secret, and an optional name (1 to 64
characters in NFC, no control, line-separator or bidirectional-override characters,
no surrounding spaces). A name is data: it is never rendered here.

Sealed form: HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-128-GCM, ``info`` = ``safecode/v1/contact``. The sealed plaintext is padded to
one size, so the blob's length says nothing about the name::

    blob  = version (0x01) || enc (32) || ciphertext (PADDED_SIZE + 16)
    plain = len(cbor) as uint16 big-endian || cbor || zero bytes up to PADDED_SIZE

Every blob is exactly ``BLOB_SIZE`` bytes. Opening refuses another size, another
version, a ciphertext that does not open, and padding or CBOR that is not exact, each
with its own ``protocol.errors`` exception.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import authority_seal
from .authority_seal import check_sealed, open_from_authority, seal_to_authority
from .encoding import decode, encode
from .errors import (
    MalformedError,
)
from .schema import Check, raw, record, text

VERSION = authority_seal.VERSION
PURPOSE = "contact"
INFO = authority_seal.info(PURPOSE)
PADDED_SIZE = 384
BLOB_SIZE = authority_seal.blob_size(PADDED_SIZE)
NOTIFY_SECRET_SIZE = 32
NAME_MAX_CHARS = 64
LANG_MAX_CHARS = 24
SUITE = authority_seal.SUITE

E164_PATTERN = r"\+[1-9][0-9]{6,14}"
LANG_PATTERN = r"[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}"
# Unicode categories a name never holds: controls, surrogates, private use, unassigned,
# line and paragraph separators. Format characters are refused too, except the joiners
# that emoji and some scripts need (bidirectional overrides are format characters).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})


@dataclass(frozen=True)
class Contact:
    """How the health authority reaches a visitor after an exposure."""

    phone: str
    language: str
    notify_secret: bytes
    name: str | None = None

    def __post_init__(self) -> None:
        _shape(self.name is not None)(self._to_map(), "contact")

    def _to_map(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "phone": self.phone,
            "lang": self.language,
            "notify": self.notify_secret,
        }
        if self.name is not None:
            fields["name"] = self.name
        return fields

    def to_bytes(self) -> bytes:
        """The canonical CBOR plaintext."""
        return encode(self._to_map())


def new_notify_secret() -> bytes:
    """A fresh random notification secret."""
    return os.urandom(NOTIFY_SECRET_SIZE)


def _name(value: Any, name: str) -> str:
    if type(value) is not str:
        raise MalformedError(f"{name} must be a text string")
    if not 1 <= len(value) <= NAME_MAX_CHARS:
        raise MalformedError(f"{name} must be 1 to {NAME_MAX_CHARS} characters")
    if value != value.strip() or unicodedata.normalize("NFC", value) != value:
        raise MalformedError(f"{name} must be in NFC with no surrounding spaces")
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Cf" and char not in _ALLOWED_FORMAT):
            raise MalformedError(f"{name} holds a control character (U+{ord(char):04X})")
    return value


def _shape(with_name: bool) -> Check:
    fields: dict[str, Check] = {
        "phone": text(E164_PATTERN, 16),
        "lang": text(LANG_PATTERN, LANG_MAX_CHARS),
        "notify": raw(NOTIFY_SECRET_SIZE),
    }
    if with_name:
        fields["name"] = _name
    return record(fields)


def parse_contact(data: bytes) -> Contact:
    """Parse the CBOR plaintext strictly, or raise a ProtocolError."""
    value = decode(data, max_size=PADDED_SIZE - authority_seal.LENGTH_SIZE, what="contact")
    with_name = type(value) is dict and "name" in value
    fields = _shape(with_name)(value, "contact")
    return Contact(fields["phone"], fields["lang"], fields["notify"], fields.get("name"))


def seal_contact(public_key: X25519PublicKey, contact: Contact) -> bytes:
    """Encrypt ``contact`` to the health authority's key: a BLOB_SIZE-byte blob."""
    return seal_to_authority(public_key, PURPOSE, contact.to_bytes(), padded_size=PADDED_SIZE)


def check_blob(blob: bytes) -> None:
    """Check a sealed blob's framing (type, size, version) without opening it."""
    check_sealed(blob, PURPOSE, padded_size=PADDED_SIZE)


def open_contact(private_key: X25519PrivateKey, blob: bytes) -> Contact:
    """Decrypt and parse a sealed contact, or raise a ProtocolError."""
    return parse_contact(open_from_authority(private_key, PURPOSE, blob, padded_size=PADDED_SIZE))
