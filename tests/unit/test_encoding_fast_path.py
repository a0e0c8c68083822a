"""The plain-encoder shortcut of protocol.encoding agrees with cbor2's canonical encoder.

``encode`` and ``decode`` skip cbor2's key sorting when every map's keys already stand
in canonical order. These properties compare them with the reference they replace:
``cbor2.dumps(value, canonical=True)`` for encoding, and for decoding the check of
before the shortcut (refuse foreign types, then compare the canonical re-encoding).
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import encoding
from protocol.encoding import decode, encode
from protocol.errors import ProtocolError

_INT64 = st.integers(min_value=-(2**64), max_value=2**64 - 1)
_LEAF = st.one_of(_INT64, st.binary(max_size=40), st.text(max_size=12), st.booleans(), st.none())
# Short keys, ASCII and not, so that equal lengths and UTF-8 lengths both occur.
_KEY = st.one_of(
    st.text(alphabet="abcz", max_size=3),
    st.text(max_size=3),
    st.integers(min_value=-30, max_value=30),
    st.binary(max_size=2),
)
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_KEY, inner, max_size=6),
        st.dictionaries(st.text(alphabet="abcdz", max_size=3), inner, max_size=6),
    ),
    max_leaves=30,
)
# What a hostile sender might add: floats, bignums, undefined, simple values.
_FOREIGN = st.one_of(
    st.floats(allow_nan=False),
    st.integers(min_value=2**64, max_value=2**70),
    st.just(cbor2.undefined),
    st.sampled_from([cbor2.CBORSimpleValue(n) for n in (0, 16, 255)]),
)
_HOSTILE = st.recursive(
    st.one_of(_LEAF, _FOREIGN),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEY, inner, max_size=4)),
    max_leaves=20,
)


def _reference_decode(data: bytes) -> Any:
    """The strict decode as it was before the shortcut: always the canonical encoder."""
    value = cbor2.loads(
        data,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        max_depth=encoding.MAX_DEPTH,
        semantic_decoders=encoding._REFUSE_TAGS,
        tag_hook=encoding._refuse_tag,
    )
    encoding._refuse_foreign_types(value, "ref", depth=0)
    if cbor2.dumps(value, canonical=True) != data:
        raise ValueError("not canonical")
    return value


def _outcome(call: Any, data: bytes) -> tuple[str, Any]:
    """("ok", value) or ("refused", None): whatever the reason, as long as it refuses."""
    try:
        return "ok", call(data)
    except (ProtocolError, ValueError, cbor2.CBORDecodeError, RecursionError):
        return "refused", None


def _new_decode(data: bytes) -> Any:
    return decode(data, max_size=1 << 16, what="fast")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_TREE)
def test_encode_equals_the_canonical_encoder(value: Any) -> None:
    assert encode(value) == cbor2.dumps(value, canonical=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_HOSTILE)
def test_encode_of_anything_equals_the_canonical_encoder(value: Any) -> None:
    try:
        expected = cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, ValueError, TypeError):
        with pytest.raises((cbor2.CBOREncodeError, ValueError, TypeError)):
            encode(value)
        return
    assert encode(value) == expected


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_TREE)
def test_decode_agrees_with_the_reference_on_plain_and_canonical_forms(value: Any) -> None:
    # The plain form keeps the dictionary's insertion order: canonical or not.
    for data in (cbor2.dumps(value), cbor2.dumps(value, canonical=True)):
        assert _outcome(_new_decode, data) == _outcome(_reference_decode, data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_HOSTILE)
def test_decode_agrees_with_the_reference_on_foreign_values(value: Any) -> None:
    for canonical in (False, True):
        try:
            data = cbor2.dumps(value, canonical=canonical)
        except (cbor2.CBOREncodeError, ValueError, TypeError):
            return
        assert _outcome(_new_decode, data)[0] == _outcome(_reference_decode, data)[0]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_TREE, st.data())
def test_decode_agrees_with_the_reference_on_mutated_bytes(value: Any, data: Any) -> None:
    wire = bytearray(cbor2.dumps(value, canonical=True))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(wire)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and at < len(wire):
            wire[at] = data.draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            wire.insert(at, data.draw(st.integers(min_value=0, max_value=255)))
        elif action == "delete" and at < len(wire):
            del wire[at]
    mutated = bytes(wire)
    if not mutated:
        return
    assert _outcome(_new_decode, mutated) == _outcome(_reference_decode, mutated)


@pytest.mark.parametrize(
    ("keys", "ordered"),
    [
        (["a", "b", "aa"], True),
        (["b", "a"], False),
        (["aa", "b"], False),  # longer first: out of order
        (["a", "a2", "a10"], True),
        (["é", "a"], False),  # not ASCII: the canonical encoder decides
        ([1, 2], False),  # not text: the canonical encoder decides
        ([], True),
    ],
)
def test_keys_in_order(keys: list[Any], ordered: bool) -> None:
    assert encoding._keys_in_order(dict.fromkeys(keys, 0)) is ordered


def test_unsorted_map_keys_still_refused_on_the_fast_path() -> None:
    # {"b": 1, "a": 2}: text keys, plain encoding equals the wire, but out of order.
    with pytest.raises(ProtocolError, match="canonical"):
        _new_decode(bytes.fromhex("a2616201616102"))
    # {"aa": 1, "b": 2}: longer key first.
    with pytest.raises(ProtocolError, match="canonical"):
        _new_decode(bytes.fromhex("a262616101616202"))
