"""Helpers shared by signed-note keys (protocol.note) and witness keys (protocol.cosignature).

Both write keys as ``<name>+<key id hex>+<base64(algorithm || key)>`` (with a
``PRIVATE+KEY+`` prefix for the secret half), with the key ID
SHA-256(name || 0x0A || algorithm || public key)[:4], and both accept only canonical
standard base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from .errors import NoteError

KEY_ID_PATTERN = re.compile(r"[0-9a-f]{8}")
"""A key ID as written in a key string: 8 lowercase hex digits."""


def b64decode(text: str, what: str) -> bytes:
    """Decode canonical standard base64 (with padding) or raise NoteError naming ``what``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def b64encode(raw: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, algorithm: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || algorithm || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def key_string(name: str, ident: int, algorithm: int, key: bytes) -> str:
    """``<name>+<key id hex>+<base64(algorithm || key)>``."""
    return f"{name}+{ident:08x}+{b64encode(bytes([algorithm]) + key)}"
