"""Contact details sealed to the health authority (protocol.contact, protocol.authority_key)."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.authority_key import PREFIX, format_public_key, key_id, parse_public_key
from protocol.contact import (
    BLOB_SIZE,
    Contact,
    new_notify_secret,
    open_contact,
    parse_contact,
    seal_contact,
)
from protocol.encoding import encode
from protocol.errors import (
    DecryptionError,
    MalformedError,
    OversizeError,
    ProtocolError,
    TruncatedError,
    UnsupportedVersionError,
)

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HA = X25519PrivateKey.from_private_bytes(bytes(range(32)))
HA_PUBLIC = parse_public_key(format_public_key(HA))
SECRET = bytes(range(100, 132))
CONTACT = Contact("+821012345678", "ko", SECRET, "김민준")
BLOB = seal_contact(HA_PUBLIC, CONTACT)


def test_seal_and_open_round_trip_with_and_without_name() -> None:
    assert open_contact(HA, BLOB) == CONTACT
    plain = Contact("+16502530000", "en", new_notify_secret())
    assert open_contact(HA, seal_contact(HA.public_key(), plain)) == plain


def test_every_blob_has_one_size_whatever_the_name() -> None:
    short = seal_contact(HA_PUBLIC, Contact("+821012345678", "ko", SECRET))
    longest = seal_contact(HA_PUBLIC, Contact("+821012345678", "zh-Hant-TW", SECRET, "😀" * 64))
    assert len(short) == len(longest) == len(BLOB) == BLOB_SIZE
    assert seal_contact(HA_PUBLIC, CONTACT) != BLOB  # a fresh ephemeral key each time


def test_a_script_tag_in_the_name_is_kept_as_data() -> None:
    name = "<script>alert('x')</script>"
    contact = Contact("+821012345678", "en", SECRET, name)
    assert open_contact(HA, seal_contact(HA_PUBLIC, contact)).name == name


@pytest.mark.parametrize(
    "name",
    ["", " padded", "line\nbreak", "tab\tname", "nul\x00", "bidi\u202eevil", "x" * 65, "e\u0301"],
)
def test_names_with_control_characters_or_out_of_bounds_are_refused(name: str) -> None:
    with pytest.raises(MalformedError):
        Contact("+821012345678", "ko", SECRET, name)


@pytest.mark.parametrize(
    ("phone", "lang", "secret"),
    [
        ("01012345678", "ko", SECRET),
        ("+8210123456789999", "ko", SECRET),
        ("+821012345678", "KO", SECRET),
        ("+821012345678", "korean-language-tag-long", SECRET),
        ("+821012345678", "ko", SECRET[:31]),
    ],
)
def test_bad_fields_are_refused(phone: str, lang: str, secret: bytes) -> None:
    with pytest.raises(MalformedError):
        Contact(phone, lang, secret)


def test_a_blob_opened_with_another_key_is_a_decryption_error() -> None:
    with pytest.raises(DecryptionError):
        open_contact(X25519PrivateKey.generate(), BLOB)


def test_wrong_sizes_and_versions_get_their_own_errors() -> None:
    with pytest.raises(TruncatedError):
        open_contact(HA, BLOB[:-1])
    with pytest.raises(OversizeError):
        open_contact(HA, BLOB + b"\x00")
    with pytest.raises(UnsupportedVersionError):
        open_contact(HA, b"\x02" + BLOB[1:])
    with pytest.raises(MalformedError):
        open_contact(HA, "not bytes")  # type: ignore[arg-type]


def test_extra_or_non_canonical_plaintext_fields_are_refused() -> None:
    fields = {"phone": "+821012345678", "lang": "ko", "notify": SECRET}
    assert parse_contact(encode(fields)).name is None
    with pytest.raises(MalformedError):
        parse_contact(encode({**fields, "extra": 1}))
    with pytest.raises(MalformedError):
        parse_contact(encode({**fields, "name": None}))


def test_public_key_text_round_trip_and_key_id() -> None:
    text = format_public_key(HA)
    assert text.startswith(PREFIX) and len(text) == len(PREFIX) + 43
    assert format_public_key(parse_public_key(text)) == text
    assert key_id(HA) == key_id(HA.public_key()) and len(key_id(HA)) == 16


@pytest.mark.parametrize(
    "text",
    [
        "",
        PREFIX,
        PREFIX + "A" * 42,
        PREFIX + "A" * 44,
        PREFIX + "A" * 43 + "\n",
        " " + PREFIX + "A" * 43,
        PREFIX + "A" * 42 + "B",  # non-canonical trailing bits
        PREFIX + "A" * 43,  # all zeros: a small-order point
        "safecode-ha-ed25519:" + "A" * 43,
    ],
)
def test_bad_public_key_texts_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_public_key(text)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_contact_plaintext_parser(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_contact(data)


@FUZZ
@given(st.text(max_size=80) | st.text(alphabet="AZaz09-_=+/", max_size=50).map(PREFIX.__add__))
def test_fuzz_public_key_parser(text: str) -> None:
    with contextlib.suppress(MalformedError):
        parse_public_key(text)


@FUZZ
@given(st.integers(0, BLOB_SIZE - 1), st.integers(0, 7))
def test_fuzz_bit_flips_in_a_blob_are_refused(index: int, bit: int) -> None:
    flipped = bytearray(BLOB)
    flipped[index] ^= 1 << bit
    expected = UnsupportedVersionError if index == 0 else DecryptionError
    with pytest.raises(expected):
        open_contact(HA, bytes(flipped))


@FUZZ
@given(st.integers(0, BLOB_SIZE - 1))
def test_fuzz_truncated_blobs_are_refused(length: int) -> None:
    with pytest.raises(TruncatedError):
        open_contact(HA, BLOB[:length])


@FUZZ
@given(st.binary(min_size=BLOB_SIZE - 1, max_size=BLOB_SIZE + 1))
def test_fuzz_random_blobs_raise_only_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        open_contact(HA, data)


@pytest.mark.parametrize(
    "padded",
    [
        (5000).to_bytes(2, "big") + bytes(382),  # length over the room
        (3).to_bytes(2, "big") + b"\xa0\x00\x01" + bytes(379),  # non-zero padding
        (0).to_bytes(2, "big") + bytes(382),  # empty plaintext
    ],
)
def test_a_sealed_plaintext_with_bad_padding_is_refused(padded: bytes) -> None:
    from protocol.contact import INFO, SUITE, VERSION

    blob = bytes([VERSION]) + SUITE.encrypt(padded, HA_PUBLIC, info=INFO)
    with pytest.raises(MalformedError):
        open_contact(HA, blob)
