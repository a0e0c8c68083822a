"""Signed maps: the envelope shared by check-in records, receipts and block headers.

A signed map is a canonical CBOR map holding ``v`` (format version), ``type``
(the message type, also the signature's domain label), the message's own
fields and ``sig``, an Ed25519 signature over the canonical encoding of the
map without ``sig``, prefixed with the domain label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .encoding import decode, encode
from .errors import MalformedError, UnsupportedVersionError, WrongTypeError
from .schema import Check, raw, record

VERSION = 1


def seal(kind: str, fields: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Encode ``fields`` as a signed map of type ``kind``."""
    body = {"v": VERSION, "type": kind, **fields}
    signature = keys.sign(key, kind, encode(body))
    return encode({**body, "sig": signature})


class Unsealed:
    """A parsed signed map whose signature is not yet checked."""

    __slots__ = ("kind", "fields", "signed_bytes", "signature")

    def __init__(self, kind: str, fields: dict[str, Any], signed_bytes: bytes, sig: bytes):
        self.kind = kind
        self.fields = fields
        self.signed_bytes = signed_bytes
        self.signature = sig

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless ``public_key`` signed this map."""
        keys.verify(public_key, self.kind, self.signed_bytes, self.signature)


def unseal(data: bytes, kind: str, schema: Mapping[str, Check], *, max_size: int) -> Unsealed:
    """Parse a signed map of type ``kind`` strictly, leaving the signature to check."""
    value = decode(data, max_size=max_size, what=kind)
    if type(value) is not dict:
        raise MalformedError(f"{kind}: expected a map")
    version = value.get("v")
    if version != VERSION or type(version) is not int:
        raise UnsupportedVersionError(f"{kind}: unsupported version {version!r}")
    if value.get("type") != kind:
        raise WrongTypeError(f"expected a {kind}, got {str(value.get('type'))[:40]!r}")
    fields = _envelope_check(kind, schema)(value, kind)
    sig = fields.pop("sig")
    signed_bytes = _without_sig(bytes(data), len(value), sig)
    if signed_bytes is None:
        signed_bytes = encode({k: v for k, v in value.items() if k != "sig"})
    del fields["v"], fields["type"]
    return Unsealed(kind, fields, signed_bytes, sig)


def _any(value: Any, name: str) -> Any:
    return value


#: kind -> (the schema given, the check of the whole signed map built from it).
_ENVELOPES: dict[str, tuple[Mapping[str, Check], Check]] = {}


def _envelope_check(kind: str, schema: Mapping[str, Check]) -> Check:
    """The check of a whole signed map of ``kind``: ``v``, ``type``, ``schema``, ``sig``.

    Built once per kind and schema (parsers pass the same schema object each time).
    """
    known = _ENVELOPES.get(kind)
    if known is not None and known[0] is schema:
        return known[1]
    check = record({"v": _any, "type": _any, **schema, "sig": raw(keys.SIGNATURE_SIZE)})
    _ENVELOPES[kind] = (schema, check)
    return check


#: The ``sig`` key followed by the header of a 64-byte byte string, in canonical CBOR.
_SIG_PAIR_HEAD = encode("sig") + bytes([0x58, keys.SIGNATURE_SIZE])


def _without_sig(data: bytes, pairs: int, sig: bytes) -> bytes | None:
    """The canonical encoding of the map in ``data`` without its ``sig`` pair, or None.

    ``data`` has passed :func:`decode`, so it is the canonical encoding of a map: a
    header, then each key and value encoded in turn. Cutting the one run of bytes
    that encodes the ``sig`` pair and lowering the header's count by one gives what
    encoding the map without ``sig`` gives, without encoding it again. That holds
    only if those bytes occur once (a field could hold the same bytes) and the
    header is one byte (fewer than 24 pairs); otherwise None: the caller encodes.
    """
    if not 1 <= pairs < 24 or data[0] != 0xA0 + pairs:
        return None
    pair = _SIG_PAIR_HEAD + sig
    at = data.find(pair)
    if at < 1 or data.find(pair, at + 1) != -1:
        return None
    return bytes([0xA0 + pairs - 1]) + data[1:at] + data[at + len(pair) :]
