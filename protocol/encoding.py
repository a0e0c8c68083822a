"""Deterministic CBOR (RFC 8949 section 4.2; cbor2's canonical mode) and strict decoding.

Every signed message is encoded deterministically, so that the bytes that were
signed can be rebuilt from the parsed value. Decoding refuses anything that
would not re-encode to the very same bytes: indefinite lengths, duplicate keys,
non-shortest integers, unsorted maps, trailing bytes, tags and floats.
"""

from __future__ import annotations

from typing import Any

import cbor2

from .errors import MalformedError, OversizeError, TruncatedError

MAX_DEPTH = 8


def encode(value: Any) -> bytes:
    """Encode ``value`` as deterministic CBOR."""
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes, *, max_size: int, what: str) -> Any:
    """Decode canonical CBOR of at most ``max_size`` bytes, or raise a ProtocolError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise OversizeError(f"{what}: {len(data)} bytes is over the {max_size}-byte limit")
    if not data:
        raise TruncatedError(f"{what}: empty input")
    try:
        value = cbor2.loads(
            data,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=MAX_DEPTH,
            semantic_decoders=_REFUSE_TAGS,
            tag_hook=_refuse_tag,
        )
    except cbor2.CBORDecodeEOF as exc:
        raise TruncatedError(f"{what}: input ends early ({exc})") from exc
    except (cbor2.CBORDecodeError, RecursionError) as exc:
        raise MalformedError(f"{what}: not valid CBOR ({exc})") from exc
    _refuse_foreign_types(value, what, depth=0)
    if encode(value) != data:
        raise MalformedError(f"{what}: not in canonical CBOR form (or trailing bytes)")
    return value


def _refuse_tag(decoder: Any, tag: Any) -> Any:
    raise ValueError(f"CBOR tag {tag.tag} is not allowed")


def _refuse_semantic_tag(decoder: Any) -> Any:
    raise ValueError("CBOR tags are not allowed")


# Our formats use no tags. cbor2 decodes some tags itself (dates, bignums, shared
# references that can build self-referencing lists...), so every tag number it might
# know is overridden here; any other tag reaches ``tag_hook``. Either way: refused.
_REFUSE_TAGS = dict.fromkeys(range(65536), _refuse_semantic_tag)


_PLAIN = (int, bytes, str, list, dict, bool, type(None))


def _refuse_foreign_types(value: Any, what: str, depth: int) -> None:
    """Only ints, bytes, text, arrays, maps, booleans and null appear in our formats."""
    if depth > MAX_DEPTH:
        raise MalformedError(f"{what}: nested deeper than {MAX_DEPTH}")
    if not isinstance(value, _PLAIN):
        raise MalformedError(f"{what}: CBOR value of type {type(value).__name__} is not allowed")
    if type(value) is int and not -(2**64) <= value <= 2**64 - 1:
        raise MalformedError(f"{what}: integer outside the CBOR 64-bit range (bignum tag)")
    if isinstance(value, list):
        for item in value:
            _refuse_foreign_types(item, what, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_foreign_types(key, what, depth + 1)
            _refuse_foreign_types(item, what, depth + 1)
