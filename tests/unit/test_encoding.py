"""Canonical CBOR: deterministic encoding and strict decoding (protocol.encoding)."""

from __future__ import annotations

import pytest

from protocol import encoding
from protocol.encoding import MAX_DEPTH, decode, encode
from protocol.errors import MalformedError, OversizeError, ProtocolError, TruncatedError


def dec(data: bytes | str, max_size: int = 4096):
    if isinstance(data, str):
        data = bytes.fromhex(data)
    return decode(data, max_size=max_size, what="test")


# Vectors from RFC 8949 Appendix A (only the ones our profile allows).
RFC8949_VECTORS = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (bytes.fromhex("01020304"), "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        "a56161614161626142616361436164614461656145",
    ),
]


@pytest.mark.parametrize(("value", "hex_"), RFC8949_VECTORS)
def test_rfc8949_vectors_encode_and_decode(value, hex_):
    assert encode(value).hex() == hex_
    decoded = dec(hex_)
    assert decoded == value
    assert type(decoded) is type(value)


def test_encode_sorts_map_keys_whatever_the_insertion_order():
    assert encode({"b": 1, "a": 2}) == encode({"a": 2, "b": 1}) == bytes.fromhex("a2616102616201")
    # Shorter keys first (length-first ordering of the encoded keys).
    assert encode({"aa": 1, "b": 2}).hex() == "a261620262616101"


def test_round_trip_of_a_nested_message():
    value = {
        "v": 1,
        "type": "x",
        "list": [0, -1, 2**63, b"\x00" * 40, "t" * 30, True, None, {"k": []}],
        "bytes": bytes(range(256)),
    }
    data = encode(value)
    assert dec(data) == value


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_decode_accepts_bytes_like(wrap):
    assert decode(wrap(b"\x83\x01\x02\x03"), max_size=10, what="x") == [1, 2, 3]


@pytest.mark.parametrize("bad", ["83010203", 5, None, [1, 2], {"a": 1}])
def test_decode_refuses_non_bytes(bad):
    with pytest.raises(MalformedError, match="expected bytes"):
        decode(bad, max_size=10, what="x")


def test_empty_input_is_truncated():
    with pytest.raises(TruncatedError, match="empty"):
        dec(b"")


def test_size_limit_boundary():
    data = encode(b"x" * 98)  # 0x58 0x62 + 98 bytes = 100 bytes
    assert len(data) == 100
    assert dec(data, max_size=100) == b"x" * 98
    with pytest.raises(OversizeError):
        dec(data, max_size=99)


def test_oversize_is_checked_before_parsing():
    # Garbage, but over the limit: the size is refused first.
    with pytest.raises(OversizeError):
        dec(b"\xff" * 11, max_size=10)


SAMPLE = encode({"v": 1, "a": [1, 2, b"xyz"], "bb": "text", "ccc": {"n": 1000000}})


@pytest.mark.parametrize("cut", range(len(SAMPLE)))
def test_every_truncation_is_refused(cut):
    with pytest.raises(TruncatedError):
        dec(SAMPLE[:cut])


@pytest.mark.parametrize("extra", [b"\x00", b"\xf6", b"\xff", SAMPLE])
def test_trailing_bytes_are_refused(extra):
    with pytest.raises(MalformedError) as info:
        dec(SAMPLE + extra)
    assert info.type is MalformedError


@pytest.mark.parametrize(
    "hex_",
    [
        "1800",  # 0 in two bytes
        "1817",  # 23 in two bytes
        "190018",  # 24 in three bytes
        "1900ff",  # 255 in three bytes
        "1a0000ffff",  # 65535 in five bytes
        "1b00000000ffffffff",  # 2**32-1 in nine bytes
        "3800",  # -1 in two bytes
        "390000",  # -1 in three bytes
        "5800",  # empty byte string, 1-byte length
        "580161",  # b"a", 1-byte length
        "59000161",  # b"a", 2-byte length
        "7800",  # empty text, 1-byte length
        "780161",  # "a", 1-byte length
        "9800",  # empty array, 1-byte length
        "980101",  # [1], 1-byte length
        "b800",  # empty map, 1-byte length
        "a1780161" + "01",  # {"a": 1} with a non-shortest key length
        "a1616118" + "01",  # {"a": 1} with a non-shortest value
    ],
)
def test_non_shortest_encodings_are_refused(hex_):
    with pytest.raises(MalformedError, match="canonical"):
        dec(hex_)


@pytest.mark.parametrize(
    "hex_",
    [
        "a2616201616101",  # {"b": 1, "a": 2}: keys out of order
        "a262616101616202",  # {"aa": 1, "b": 2}: longer key first
        "a202010102",  # {2: 1, 1: 2}: ints out of order
    ],
)
def test_unsorted_map_keys_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


def test_unsorted_map_built_by_a_non_canonical_encoder_is_refused():
    import cbor2

    value = {"zz": 1, "a": 2, "m": [3]}
    sloppy = cbor2.dumps(value)  # keeps insertion order
    assert sloppy != encode(value)
    with pytest.raises(MalformedError, match="canonical"):
        dec(sloppy)
    assert dec(encode(value)) == value


@pytest.mark.parametrize(
    "hex_",
    [
        "a2616101616102",  # {"a": 1, "a": 2}
        "a2616101616101",  # identical duplicates
        "a201f5f5f4",  # 1 and True collide as Python keys
    ],
)
def test_duplicate_map_keys_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


@pytest.mark.parametrize(
    "hex_",
    [
        "9fff",  # [_ ]
        "9f0102ff",  # [_ 1, 2]
        "5fff",  # (_ )
        "5f4101ff",  # (_ h'01')
        "7f6161ff",  # (_ "a")
        "bfff",  # {_ }
        "bf616101ff",  # {_ "a": 1}
        "83019f02ff03",  # nested indefinite array
    ],
)
def test_indefinite_lengths_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


@pytest.mark.parametrize(
    "hex_",
    [
        "c074323031332d30332d32315432303a30343a30305a",  # tag 0 date-time
        "c11a514b67b0",  # tag 1 epoch
        "c24101",  # tag 2 bignum holding a small number
        "c600",  # an unassigned tag
        "d8186100",  # tag 24 embedded CBOR
        "d9d9f700",  # self-described CBOR
        "d81c01",  # shareable
        "d81d00",  # shared reference
        "d9010283010203",  # tag 258 set
        "d825500000000000000000000000000000000000",  # UUID
        "d81e820102",  # rational
        "c482210c",  # decimal fraction
        "d9010444c0a80001",  # IPv4 address
        "d86401",  # days since epoch
        "da0001000000",  # four-byte tag number
    ],
)
def test_tags_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


@pytest.mark.parametrize("hex_", ["c249010000000000000000", "c349010000000000000000"])
def test_bignum_tags_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


@pytest.mark.parametrize(
    "hex_",
    [
        "f90000",  # half float 0.0
        "f93c00",  # half float 1.0
        "f97e00",  # NaN
        "fa47c35000",  # single 100000.0
        "fb3ff199999999999a",  # double 1.1
        "e0",  # simple(0)
        "f0",  # simple(16)
        "f7",  # undefined
        "f8ff",  # simple(255)
        "f818",  # invalid two-byte simple value
        "f800",  # invalid two-byte simple value
        "1c",  # reserved additional information
        "3d",
        "5e",
        "ff",  # lone break
        "62c328",  # invalid UTF-8 text
        "63eda080",  # UTF-8 encoded surrogate
        "a1810101",  # array as a map key
        "a1a0f6",  # map as a map key
    ],
)
def test_other_foreign_items_are_refused(hex_):
    with pytest.raises(MalformedError):
        dec(hex_)


def test_nesting_depth_limit():
    assert MAX_DEPTH == 8
    assert dec("81" * MAX_DEPTH + "00") is not None
    with pytest.raises(MalformedError, match="depth"):
        dec("81" * (MAX_DEPTH + 1) + "00")
    with pytest.raises(MalformedError, match="depth"):
        dec("a16161" * (MAX_DEPTH + 1) + "00")


def test_deep_nesting_does_not_blow_the_stack():
    with pytest.raises(MalformedError):
        dec(b"\x81" * 100_000 + b"\x00", max_size=200_000)


@pytest.mark.parametrize(
    "hex_",
    [
        "5bffffffffffffffff",  # byte string of 2**64-1 bytes
        "7bffffffffffffffff",
        "9bffffffffffffffff",  # array of 2**64-1 items
        "bbffffffffffffffff",
        "5a7fffffff00",
        "9a7fffffff00",
    ],
)
def test_huge_declared_lengths_are_truncated_not_allocated(hex_):
    with pytest.raises(TruncatedError):
        dec(hex_)


def test_errors_are_protocol_errors_and_value_errors():
    for exc in (MalformedError, TruncatedError, OversizeError):
        assert issubclass(exc, ProtocolError)
        assert issubclass(exc, ValueError)
    assert issubclass(TruncatedError, MalformedError)
    assert TruncatedError.reason == "truncated"
    assert encoding.MAX_DEPTH == MAX_DEPTH


# --- every tag refused (cbor2 semantic decoders overridden), bounded depth ---------------------

ALL_KNOWN_TAGS = [0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 28, 29, 32, 35, 37, 258, 55799]
OTHER_TAGS = [6, 100, 65535, 65536, 2**32, 2**64 - 1]


def _tagged(tag: int, inner: bytes = b"\x00") -> bytes:
    """The CBOR head of major type 6 for ``tag`` (shortest form), then ``inner``."""
    if tag < 24:
        head = bytes([0xC0 | tag])
    elif tag < 2**8:
        head = bytes([0xD8, tag])
    elif tag < 2**16:
        head = b"\xd9" + tag.to_bytes(2, "big")
    elif tag < 2**32:
        head = b"\xda" + tag.to_bytes(4, "big")
    else:
        head = b"\xdb" + tag.to_bytes(8, "big")
    return head + inner


@pytest.mark.parametrize("tag", ALL_KNOWN_TAGS + OTHER_TAGS)
@pytest.mark.parametrize(
    "inner",
    [b"\x00", b"\x41\x01", b"\x61\x61", b"\x80", b"\xa0", b"\x82\x01\x02"],
    ids=["int", "bytes", "text", "array", "map", "pair"],
)
def test_every_tag_is_refused_whatever_it_wraps(tag: int, inner: bytes) -> None:
    with pytest.raises(MalformedError) as info:
        dec(_tagged(tag, inner))
    assert info.type is MalformedError


@pytest.mark.parametrize("tag", ALL_KNOWN_TAGS + OTHER_TAGS)
def test_tag_nested_inside_a_map_or_array_is_refused(tag: int) -> None:
    # {"a": [1, tag(x)]}
    with pytest.raises(MalformedError):
        dec(b"\xa1\x61\x61\x82\x01" + _tagged(tag))


def test_tagged_helper_matches_cbor2() -> None:
    import cbor2

    for tag in ALL_KNOWN_TAGS + OTHER_TAGS:
        assert _tagged(tag) == cbor2.dumps(cbor2.CBORTag(tag, 0))


SELF_REFERENCE = bytes.fromhex("d81c81d81d00")  # shareable([sharedref(0)]): a list holding itself


def test_self_referencing_list_is_malformed_not_a_recursion_error() -> None:
    with pytest.raises(MalformedError) as info:
        dec(SELF_REFERENCE)
    assert info.type is MalformedError
    assert not isinstance(info.value.__cause__, RecursionError)


def test_self_referencing_list_in_a_presentation_text() -> None:
    import base45

    from protocol.presentation import Presentation

    assert base45.b45decode("JERUIG:T3") == SELF_REFERENCE
    with pytest.raises(MalformedError):
        Presentation.from_text("SC1:JERUIG:T3")
    with pytest.raises(MalformedError):
        Presentation.from_bytes(SELF_REFERENCE)


@pytest.mark.parametrize("parser", ["receipt", "refusal", "answer", "checkin", "block"])
def test_self_referencing_list_in_every_signed_map_parser(parser: str) -> None:
    from protocol import block, checkin, receipt

    parse = {
        "receipt": receipt.parse_receipt,
        "refusal": receipt.parse_refusal,
        "answer": receipt.parse_answer,
        "checkin": checkin.parse_checkin,
        "block": block.parse_block,
    }[parser]
    with pytest.raises(MalformedError):
        parse(SELF_REFERENCE)
    # Inside a map, as the value of a field.
    with pytest.raises(MalformedError):
        parse(b"\xa1\x61\x76" + SELF_REFERENCE)


def test_shared_reference_to_a_map_is_refused() -> None:
    # shareable({"a": sharedref(0)}): a map holding itself.
    with pytest.raises(MalformedError):
        dec("d81ca16161d81d00")


def test_depth_limit_for_maps_and_mixed_nesting() -> None:
    ok_map = "a16161" * MAX_DEPTH + "00"
    assert dec(ok_map) is not None
    mixed_ok = "81a16161" * (MAX_DEPTH // 2) + "00"
    assert dec(mixed_ok) is not None
    with pytest.raises(MalformedError):
        dec("81a16161" * (MAX_DEPTH // 2) + "8100")


def test_foreign_type_check_enforces_the_depth_limit_itself() -> None:
    """The walk over a decoded value stops at MAX_DEPTH too (not only cbor2's limit)."""

    def nested(depth: int) -> object:
        value: object = 0
        for _ in range(depth):
            value = [value]
        return value

    encoding._refuse_foreign_types(nested(MAX_DEPTH), "x", depth=0)
    with pytest.raises(MalformedError, match="deeper"):
        encoding._refuse_foreign_types(nested(MAX_DEPTH + 1), "x", depth=0)
    with pytest.raises(MalformedError, match="deeper"):
        encoding._refuse_foreign_types({"k": nested(MAX_DEPTH)}, "x", depth=0)
    # A self-referencing list (what cbor2 once built from tags 28/29) ends in MalformedError.
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(MalformedError):
        encoding._refuse_foreign_types(loop, "x", depth=0)


@pytest.mark.parametrize("tag", ALL_KNOWN_TAGS + OTHER_TAGS)
def test_tags_are_refused_while_decoding_not_after(tag: int) -> None:
    """cbor2 never builds a tagged value (date, bignum, shared reference...) for us to check."""
    import cbor2

    with pytest.raises(MalformedError, match="not valid CBOR") as info:
        dec(_tagged(tag))
    assert isinstance(info.value.__cause__, cbor2.CBORDecodeError)
