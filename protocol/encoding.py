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
    """Encode ``value`` as deterministic CBOR.

    A map whose keys already stand in canonical order, holding only plain values (see
    :func:`_plain_in_order`), is encoded by cbor2's plain encoder, which writes the same
    bytes as its canonical one without sorting the keys again; anything else goes
    through the canonical encoder.
    """
    if type(value) is dict and _plain_in_order(value):
        return cbor2.dumps(value)
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
    ordered = _refuse_foreign_types(value, what, depth=0)
    # Canonical means: the canonical encoding of what was decoded is ``data`` itself
    # (which also refuses trailing bytes). When every map's keys came in canonical
    # order, that encoding is the plain one (no sorting), which costs a third as much.
    again = cbor2.dumps(value) if ordered else cbor2.dumps(value, canonical=True)
    if again != data:
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
#: Exact types that hold nothing to look into (cbor2 returns exact builtins).
_LEAVES = frozenset({bytes, str, bool, type(None)})


def _refuse_foreign_types(value: Any, what: str, depth: int) -> bool:
    """Only ints, bytes, text, arrays, maps, booleans and null appear in our formats.

    Walks the decoded value with an explicit stack of its arrays and maps (no call
    per item): it runs on every message a kiosk or the aggregator parses. Returns
    whether every map's keys are ASCII text in canonical order (:func:`_keys_in_order`),
    so that cbor2's plain encoding of the value is its canonical one.
    """
    if not isinstance(value, list | dict):
        _refuse_foreign_leaf(value, depth, what)
        return True
    ordered = True
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise MalformedError(f"{what}: nested deeper than {MAX_DEPTH}")
        if isinstance(item, list):
            items = item
        else:
            ordered = ordered and _keys_in_order(item)
            items = [*item, *item.values()]
        if items and level + 1 > MAX_DEPTH:
            raise MalformedError(f"{what}: nested deeper than {MAX_DEPTH}")
        for element in items:
            kind = type(element)
            if kind in _LEAVES or (kind is int and -(2**64) <= element <= 2**64 - 1):
                continue
            if isinstance(element, list | dict):
                stack.append((element, level + 1))
            else:
                _refuse_foreign_leaf(element, level + 1, what)
    return ordered


def _keys_in_order(item: dict[Any, Any]) -> bool:
    """Whether a map's keys are ASCII text strictly in canonical order.

    Canonical order (cbor2's, RFC 8949 section 4.2's for text keys) compares the
    encoded keys: shorter first, then byte by byte. For ASCII text the encoded length
    grows with the length and the bytes are the characters, so that is (length, text).
    Any other key answers False: the caller then sorts with cbor2's canonical encoder.
    """
    last_length, last = -1, ""
    for key in item:
        if type(key) is not str or not key.isascii():
            return False
        length = len(key)
        if length < last_length or (length == last_length and key <= last):
            return False
        last_length, last = length, key
    return True


def _plain_in_order(value: Any) -> bool:
    """Whether cbor2's plain encoding of ``value`` is its canonical one.

    True when ``value`` holds only ints in CBOR's 64-bit range, bytes, text, booleans,
    null, arrays and maps whose keys are in order (:func:`_keys_in_order`), at most
    :data:`MAX_DEPTH` deep: for these the two encoders differ only in how they order
    map keys. Anything else (floats, bignums, other types, deeper nesting) answers False.
    """
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            return False
        if type(item) is list:
            items = item
        elif type(item) is dict and _keys_in_order(item):
            items = item.values()
        else:
            return False
        for element in items:
            kind = type(element)
            if kind in _LEAVES or (kind is int and -(2**64) <= element <= 2**64 - 1):
                continue
            if kind is list or kind is dict:
                stack.append((element, level + 1))
            else:
                return False
    return True


def _refuse_foreign_leaf(item: Any, depth: int, what: str) -> None:
    """Refuse one value that is neither an array nor a map unless our formats allow it."""
    if depth > MAX_DEPTH:
        raise MalformedError(f"{what}: nested deeper than {MAX_DEPTH}")
    if not isinstance(item, _PLAIN):
        raise MalformedError(f"{what}: CBOR value of type {type(item).__name__} is not allowed")
    if type(item) is int and not -(2**64) <= item <= 2**64 - 1:
        raise MalformedError(f"{what}: integer outside the CBOR 64-bit range (bignum tag)")
