"""Presentation: the rotating QR code text "SC1:" + Base45 (protocol.presentation)."""

from __future__ import annotations

import hashlib

import base45
import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys
from protocol.credential import Credential, issue_credential
from protocol.encoding import encode
from protocol.errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    OversizeError,
    ProtocolError,
    SignatureError,
    TruncatedError,
    UnknownKeyError,
    UnsupportedVersionError,
    WrongTypeError,
)
from protocol.presentation import (
    DEFAULT_SKEW,
    DEFAULT_WINDOW,
    MAX_BYTES,
    MAX_TEXT,
    PREFIX,
    CodeType,
    Presentation,
    present,
)
from tests.unit.wire_checks import (
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_indefinite_length_refused,
    assert_replacement_refused,
    assert_trailing_bytes_refused,
    seeded,
)

ISSUER = seeded("presentation-issuer")
STRANGER = seeded("presentation-stranger")
WALLET = seeded("presentation-wallet")
OTHER_WALLET = seeded("presentation-other-wallet")
TRUSTED = [ISSUER.public_key()]
NOW = 1_764_000_000
NOT_BEFORE = NOW - 86_400
NOT_AFTER = NOW + 365 * 86_400
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

CRED = issue_credential(
    ISSUER,
    keys.public_bytes(WALLET),
    not_before=NOT_BEFORE,
    not_after=NOT_AFTER,
    credential_id=bytes.fromhex("a1a2a3a4a5a6a7a8"),
)
PRES = present(WALLET, CRED, now=NOW)
DATA = PRES.to_bytes()
TEXT = PRES.to_text()


def verify(p: Presentation, now: float = NOW, **kwargs) -> None:
    p.verify(TRUSTED, now=now, **kwargs)


def sign_array(value: list, key: Ed25519PrivateKey = WALLET) -> bytes:
    """Encode [v, type, cred, ts] + a wallet signature over exactly those items."""
    return encode([*value, keys.sign(key, "presentation", encode(value))])


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_bytes():
    again = Presentation.from_bytes(DATA)
    assert again == PRES
    assert again.code_type == CodeType.CHECKIN == 1
    assert again.credential == CRED
    assert again.timestamp == NOW
    assert again.to_bytes() == DATA
    verify(again)


def test_round_trip_text():
    assert TEXT.startswith("SC1:")
    assert PREFIX + base45.b45encode(DATA).decode("ascii") == TEXT
    again = Presentation.from_text(TEXT)
    assert again == PRES
    assert again.to_text() == TEXT
    verify(again)


def test_wire_layout():
    assert PRES.signed_part() == encode([1, 1, CRED.to_array(), NOW])
    assert encode([1, 1, CRED.to_array(), NOW, PRES.signature]) == DATA
    keys.verify(WALLET.public_key(), "presentation", PRES.signed_part(), PRES.signature)


def test_diagnostic_round_trip():
    p = present(WALLET, CRED, now=NOW, code_type=CodeType.DIAGNOSTIC)
    again = Presentation.from_text(p.to_text())
    assert again.code_type == CodeType.DIAGNOSTIC == 2
    verify(again, expected_type=CodeType.DIAGNOSTIC)


def test_float_time_is_truncated_to_seconds():
    p = present(WALLET, CRED, now=NOW + 0.9)
    assert p.timestamp == NOW
    verify(p, now=NOW + 0.9)


def test_codes_rotate():
    later = present(WALLET, CRED, now=NOW + 15)
    assert later.to_text() != TEXT
    assert later.fingerprint() != PRES.fingerprint()


def test_fingerprint_is_short_stable_and_not_the_code():
    fp = PRES.fingerprint()
    assert fp == hashlib.sha256(DATA).hexdigest()[:12]
    assert len(fp) == 12
    assert fp == Presentation.from_text(TEXT).fingerprint()
    assert fp not in TEXT


def test_fits_qr_version_10_at_level_m():
    assert len(DATA) == 195
    assert len(DATA) <= 200
    assert len(TEXT) == len(PREFIX) + (len(DATA) // 2) * 3 + 2 == 297
    qr = segno.make(TEXT, error="m", boost_error=False)
    assert qr.mode == "alphanumeric"
    assert qr.error == "M"
    assert qr.version <= 10


def test_worst_case_fields_still_fit_qr_version_10():
    cred = Credential(b"\xff" * 8, b"\xff" * 32, 2**32 - 2, 2**32 - 1, b"\xff" * 64)
    p = Presentation(255, cred, 2**32 - 1, b"\xff" * 64)
    data = p.to_bytes()
    assert len(data) <= 200
    qr = segno.make(p.to_text(), error="m", boost_error=False)
    assert qr.mode == "alphanumeric"
    assert qr.version <= 10


def test_text_is_qr_alphanumeric_only():
    assert set(TEXT) <= set(BASE45_ALPHABET)


# --- verification: keys ---------------------------------------------------------------------


def test_untrusted_issuer_is_unknown_key():
    with pytest.raises(UnknownKeyError):
        PRES.verify([STRANGER.public_key()], now=NOW)


def test_no_trusted_issuers_is_unknown_key():
    with pytest.raises(UnknownKeyError):
        PRES.verify([], now=NOW)


def test_issuer_key_rotation():
    PRES.verify([STRANGER.public_key(), ISSUER.public_key()], now=NOW)


def test_issuer_check_hook_replaces_the_issuer_signature_check():
    seen = []
    PRES.verify([], now=NOW, issuer_check=lambda cred, trusted: seen.append((cred, trusted)))
    assert seen == [(CRED, [])]  # the hook judged the issuer, with the keys given


def test_issuer_check_hook_does_not_skip_the_visitor_signature():
    forged = Presentation(PRES.code_type, CRED, PRES.timestamp, bytes(64))
    with pytest.raises(SignatureError):
        forged.verify(TRUSTED, now=NOW, issuer_check=lambda cred, trusted: None)


def test_a_refusing_issuer_check_hook_refuses():
    def refuse(cred: Credential, trusted: object) -> None:
        raise UnknownKeyError("not in the cache's trust")

    with pytest.raises(UnknownKeyError):
        PRES.verify(TRUSTED, now=NOW, issuer_check=refuse)


def test_credential_validity_judged_at_credential_at():
    late = NOT_AFTER + 3600
    with pytest.raises(ExpiredError):
        present(WALLET, CRED, now=late).verify(TRUSTED, now=late)
    present(WALLET, CRED, now=late).verify(TRUSTED, now=late, credential_at=NOW)


def test_presentation_signed_by_another_wallet():
    stolen = present(OTHER_WALLET, CRED, now=NOW)  # someone else's credential
    with pytest.raises(SignatureError) as info:
        verify(stolen)
    assert info.type is SignatureError


def test_credential_signed_by_the_wallet_itself_is_unknown_key():
    forged = issue_credential(WALLET, keys.public_bytes(WALLET), not_before=0, not_after=2**32 - 1)
    with pytest.raises(UnknownKeyError):
        verify(present(WALLET, forged, now=NOW))


def test_code_type_is_bound_into_the_signature():
    relabelled = Presentation(int(CodeType.DIAGNOSTIC), CRED, NOW, PRES.signature)
    with pytest.raises(SignatureError) as info:
        verify(Presentation.from_bytes(relabelled.to_bytes()), expected_type=CodeType.DIAGNOSTIC)
    assert info.type is SignatureError


def test_timestamp_is_bound_into_the_signature():
    moved = Presentation(PRES.code_type, CRED, NOW + 10, PRES.signature)
    with pytest.raises(SignatureError):
        verify(moved, now=NOW + 10)


def test_wallet_signature_under_another_label_is_refused():
    sig = keys.sign(WALLET, "credential", PRES.signed_part())
    with pytest.raises(SignatureError):
        verify(Presentation(PRES.code_type, CRED, NOW, sig))


def test_non_canonical_visitor_key_is_refused():
    # 32 bytes that are not a canonical Ed25519 point, even though the issuer signed them.
    cred = issue_credential(ISSUER, b"\xff" * 32, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    p = Presentation(1, cred, NOW, b"\x00" * 64)
    with pytest.raises(MalformedError, match="canonical"):
        verify(p)


def test_small_order_visitor_key_cannot_carry_a_forged_signature():
    # With the identity point as "key", an all-zero-ish signature would verify for any
    # message in lax implementations; such keys are refused outright.
    weak = bytes([1]) + bytes(31)
    cred = issue_credential(ISSUER, weak, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    forged = Presentation(1, cred, NOW, bytes([1]) + bytes(63))
    with pytest.raises(MalformedError, match="small order"):
        verify(forged)


# --- verification: code type ---------------------------------------------------------------------


def test_diagnostic_code_where_checkin_expected():
    p = present(WALLET, CRED, now=NOW, code_type=CodeType.DIAGNOSTIC)
    with pytest.raises(WrongTypeError):
        verify(p)


def test_checkin_code_where_diagnostic_expected():
    with pytest.raises(WrongTypeError):
        verify(PRES, expected_type=CodeType.DIAGNOSTIC)


@pytest.mark.parametrize("code_type", [0, 3, 255])
def test_unknown_code_type_is_wrong_type(code_type):
    data = sign_array([1, code_type, CRED.to_array(), NOW])
    p = Presentation.from_bytes(data)
    assert p.code_type == code_type
    with pytest.raises(WrongTypeError):
        verify(p)


# --- verification: freshness --------------------------------------------------------------------


def test_default_window_and_skew():
    assert (DEFAULT_WINDOW, DEFAULT_SKEW) == (30, 5)


@pytest.mark.parametrize("age", [0, 1, 29, 30, 34, 35])
def test_fresh_codes_accepted_up_to_window_plus_skew(age):
    verify(PRES, now=NOW + age)


@pytest.mark.parametrize("age", [35.001, 36, 60, 3600, NOW])
def test_expired_codes(age):
    with pytest.raises(ExpiredError):
        verify(PRES, now=NOW + age)


@pytest.mark.parametrize("ahead", [0, 1, 5])
def test_future_codes_accepted_within_skew(ahead):
    verify(PRES, now=NOW - ahead)


@pytest.mark.parametrize("ahead", [5.001, 6, 60, 86_400])
def test_future_codes_beyond_skew(ahead):
    with pytest.raises(NotYetValidError):
        verify(PRES, now=NOW - ahead)


def test_custom_window_and_skew_boundaries():
    verify(PRES, now=NOW + 17, window=15, skew=2)
    with pytest.raises(ExpiredError):
        verify(PRES, now=NOW + 18, window=15, skew=2)
    verify(PRES, now=NOW - 2, window=15, skew=2)
    with pytest.raises(NotYetValidError):
        verify(PRES, now=NOW - 3, window=15, skew=2)
    verify(PRES, now=NOW, window=0, skew=0)
    with pytest.raises(ExpiredError):
        verify(PRES, now=NOW + 1, window=0, skew=0)
    with pytest.raises(NotYetValidError):
        verify(PRES, now=NOW - 1, window=0, skew=0)


def test_check_freshness_directly():
    PRES.check_freshness(NOW + 35, window=30, skew=5)
    with pytest.raises(ExpiredError):
        PRES.check_freshness(NOW + 36, window=30, skew=5)
    with pytest.raises(NotYetValidError):
        PRES.check_freshness(NOW - 6, window=30, skew=5)


# --- verification: credential validity period -------------------------------------------------


def short_lived(not_before: int, not_after: int) -> Credential:
    return issue_credential(
        ISSUER, keys.public_bytes(WALLET), not_before=not_before, not_after=not_after
    )


def test_credential_expired():
    cred = short_lived(NOW - 1000, NOW - DEFAULT_SKEW - 1)
    with pytest.raises(ExpiredError):
        verify(present(WALLET, cred, now=NOW))


def test_credential_not_yet_valid():
    cred = short_lived(NOW + DEFAULT_SKEW + 1, NOW + 1000)
    with pytest.raises(NotYetValidError):
        verify(present(WALLET, cred, now=NOW))


def test_credential_validity_edges_accepted_with_skew():
    verify(present(WALLET, short_lived(NOW - 1000, NOW - DEFAULT_SKEW), now=NOW))
    verify(present(WALLET, short_lived(NOW + DEFAULT_SKEW, NOW + 1000), now=NOW))
    verify(present(WALLET, short_lived(NOW, NOW + 1), now=NOW), skew=0)
    verify(present(WALLET, short_lived(NOW - 1, NOW), now=NOW), skew=0)


def test_credential_validity_edges_refused_without_skew():
    with pytest.raises(ExpiredError):
        verify(present(WALLET, short_lived(NOW - 10, NOW - 1), now=NOW), skew=0)
    with pytest.raises(NotYetValidError):
        verify(present(WALLET, short_lived(NOW + 1, NOW + 10), now=NOW), skew=0)


# --- parsing: versions, types, shapes ------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_presentation_version(version):
    data = sign_array([version, 1, CRED.to_array(), NOW])
    with pytest.raises(UnsupportedVersionError):
        Presentation.from_bytes(data)
    text = PREFIX + base45.b45encode(data).decode()
    with pytest.raises(UnsupportedVersionError):
        Presentation.from_text(text)


@pytest.mark.parametrize("version", [0, 2])
def test_wrong_credential_version_inside(version):
    cred = CRED.to_array()
    cred[0] = version
    with pytest.raises(UnsupportedVersionError):
        Presentation.from_bytes(sign_array([1, 1, cred, NOW]))


@pytest.mark.parametrize(
    "value",
    [
        [True, 1, CRED.to_array(), NOW],  # boolean version
        [1, True, CRED.to_array(), NOW],  # boolean code type
        [1, 1, CRED.to_array(), True],  # boolean timestamp
        [1, 256, CRED.to_array(), NOW],  # code type over a byte
        [1, -1, CRED.to_array(), NOW],
        [1, 1, CRED.to_array(), -1],
        [1, 1, CRED.to_array(), 2**32],
        [1, 1, CRED.to_array(), str(NOW)],
        [1, "1", CRED.to_array(), NOW],
        [1, 1, CRED.to_bytes(), NOW],  # credential as bytes, not an array
        [1, 1, CRED.to_array()[:5], NOW],
        [1, 1, {"cred": 1}, NOW],
        [1, 1, None, NOW],
    ],
)
def test_bad_fields_are_malformed(value):
    with pytest.raises(MalformedError):
        Presentation.from_bytes(sign_array(value))


@pytest.mark.parametrize(
    "value",
    [
        [],
        [1],
        [1, 1, CRED.to_array(), NOW],  # no signature
        [1, 1, CRED.to_array(), NOW, b"\x00" * 64, 0],  # one item too many
        [1, 1, CRED.to_array(), NOW, b"\x00" * 63],
        [1, 1, CRED.to_array(), NOW, b"\x00" * 65],
        [1, 1, CRED.to_array(), NOW, None],
        {"v": 1},
        1,
        b"SC1:",
        "SC1:",
        None,
    ],
)
def test_bad_shapes_are_malformed(value):
    with pytest.raises(MalformedError):
        Presentation.from_bytes(encode(value))


# --- parsing: tampering, truncation, trailing bytes, canonical form ------------------------------


def test_every_byte_flip_is_refused():
    assert_every_flip_refused(
        DATA, lambda bad: verify(Presentation.from_bytes(bad)), error=ProtocolError
    )


def test_every_character_substitution_of_the_text_is_refused():
    for i in range(len(TEXT)):
        for c in ("0", "Z", ":", " "):
            if c == TEXT[i]:
                continue
            bad = TEXT[:i] + c + TEXT[i + 1 :]
            with pytest.raises(ProtocolError):
                verify(Presentation.from_text(bad))


def test_every_truncation_of_the_bytes_is_refused():
    assert_every_truncation_refused(DATA, Presentation.from_bytes, error=TruncatedError)


def test_every_truncation_of_the_text_is_refused():
    for cut in range(len(TEXT)):
        expected = WrongTypeError if cut < len(PREFIX) else MalformedError
        with pytest.raises(expected):
            Presentation.from_text(TEXT[:cut])


@pytest.mark.parametrize("extra", [b"\x00", b"\xf6", DATA[:10]])
def test_trailing_bytes_are_refused(extra):
    assert_trailing_bytes_refused(DATA, Presentation.from_bytes, extra, error=MalformedError)


@pytest.mark.parametrize("extra", ["00", "000", "0", " ", "::", "SC1:"])
def test_trailing_text_is_refused(extra):
    with pytest.raises(MalformedError):
        Presentation.from_text(TEXT + extra)


@pytest.mark.parametrize("extra", ["\n", "\n\n"])
def test_trailing_newline_is_refused(extra):
    with pytest.raises(MalformedError):
        Presentation.from_text(TEXT + extra)


def test_non_canonical_int_is_refused_even_though_the_signature_holds():
    # The timestamp fits in 4 bytes; spell it in 8 instead. Same value, other bytes.
    ts_short = b"\x1a" + NOW.to_bytes(4, "big")
    ts_long = b"\x1b" + NOW.to_bytes(8, "big")
    assert_replacement_refused(DATA, Presentation.from_bytes, ts_short, ts_long, match="canonical")


def test_indefinite_length_array_is_refused():
    assert_indefinite_length_refused(DATA, Presentation.from_bytes, head=0x85)


def test_oversize_bytes():
    with pytest.raises(OversizeError):
        Presentation.from_bytes(DATA + b"\x00" * (MAX_BYTES + 1 - len(DATA)))


def test_oversize_text():
    assert MAX_TEXT == 4 + 128 * 3
    with pytest.raises(OversizeError):
        Presentation.from_text(TEXT + "0" * (MAX_TEXT + 1 - len(TEXT)))
    with pytest.raises(OversizeError):
        Presentation.from_text("X" * 10_000)


# --- parsing: text form ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "SC2:", "sc1:", "SC1", "SC1/", "HC1:", " SC1:"])
def test_wrong_prefix_is_wrong_type(prefix):
    with pytest.raises(WrongTypeError):
        Presentation.from_text(prefix + TEXT[len(PREFIX) :])


@pytest.mark.parametrize(
    "body",
    [
        TEXT[len(PREFIX) :].lower(),  # Base45 is upper case only
        TEXT[len(PREFIX) : -1] + "_",
        TEXT[len(PREFIX) : -1] + "\u00c9",
        TEXT[len(PREFIX) : -1] + "\ud800",
        "GGW",  # 3 chars over 65535
        "::",  # 2 chars over 255
        "A",  # a lone character
        "",
    ],
)
def test_bad_base45_is_malformed(body):
    with pytest.raises(MalformedError):
        Presentation.from_text(PREFIX + body)


@pytest.mark.parametrize("value", [DATA, TEXT.encode(), None, 1, [TEXT]])
def test_text_parser_refuses_non_text(value):
    with pytest.raises(MalformedError):
        Presentation.from_text(value)
