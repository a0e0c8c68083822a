"""The printed card's code (CodeType.CARD): format, card checks, old verifiers, fuzz."""

from __future__ import annotations

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.credential import Credential, issue_credential
from protocol.errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    ProtocolError,
    SignatureError,
    UnknownKeyError,
    WrongTypeError,
)
from protocol.presentation import (
    CARD_MAX_DAYS,
    MAX_BYTES,
    PREFIX,
    VERSION,
    CardLifetimeError,
    CodeType,
    HealthOfficialCodeError,
    Presentation,
    make_card,
    present,
)
from tests.unit.wire_checks import seeded

ISSUER = seeded("card-code-issuer")
STRANGER = seeded("card-code-stranger")
DAY = 86_400
ISSUED = 1_764_000_000
NOW = ISSUED + 3 * DAY


def card_credential(days: int = CARD_MAX_DAYS, key_seed: str = "card-one-off") -> Credential:
    """A card credential valid ``days`` days from ISSUED, for a seeded one-off key."""
    return issue_credential(
        ISSUER,
        keys.public_bytes(seeded(key_seed)),
        not_before=ISSUED,
        not_after=ISSUED + days * DAY,
        credential_id=bytes(range(8)),
    )


CREDENTIAL = card_credential()
CARD = make_card(CREDENTIAL, seeded("card-one-off"), timestamp=ISSUED)


def test_card_round_trips_through_text_and_bytes() -> None:
    text = CARD.to_text()
    assert text.startswith(PREFIX)
    again = Presentation.from_text(text)
    assert again == CARD
    assert again.code_type == CodeType.CARD == 3
    assert Presentation.from_bytes(CARD.to_bytes()) == CARD


def test_card_keeps_the_version_one_byte_format() -> None:
    """No format change: the same array, version 1, only the code type differs."""
    as_checkin = Presentation(int(CodeType.CHECKIN), CREDENTIAL, ISSUED, CARD.signature)
    assert CARD.to_bytes()[:2] == bytes([0x85, VERSION])
    assert CARD.to_bytes()[2] == 0x03 and as_checkin.to_bytes()[2] == 0x01
    assert CARD.to_bytes()[3:] == as_checkin.to_bytes()[3:]
    assert len(CARD.to_bytes()) <= MAX_BYTES


def test_card_is_static() -> None:
    """Signed once: the same text whenever it is shown (Ed25519 is deterministic)."""
    assert make_card(CREDENTIAL, seeded("card-one-off"), timestamp=ISSUED) == CARD


def test_card_verifies_through_its_whole_life_without_freshness() -> None:
    for at in (ISSUED, ISSUED + DAY, NOW, ISSUED + CARD_MAX_DAYS * DAY):
        CARD.verify_card([ISSUER.public_key()], now=at)


def test_card_expires_with_its_credential() -> None:
    with pytest.raises(ExpiredError):
        CARD.verify_card([ISSUER.public_key()], now=ISSUED + CARD_MAX_DAYS * DAY + 60)


def test_card_not_valid_before_its_credential() -> None:
    with pytest.raises(NotYetValidError):
        CARD.verify_card([ISSUER.public_key()], now=ISSUED - 600)


def test_old_verifier_expecting_checkin_refuses_a_card_with_code_type_reason() -> None:
    """A kiosk that knows only CHECKIN: the existing clear 'code type' refusal."""
    with pytest.raises(WrongTypeError, match="code type 3 where 1 was expected") as info:
        CARD.verify([ISSUER.public_key()], now=ISSUED + 5)
    assert info.value.reason == "wrong_type"


def test_checkin_code_is_not_a_card() -> None:
    wallet = seeded("card-code-wallet")
    checkin = present(wallet, card_credential(1, "card-code-wallet"), now=ISSUED)
    with pytest.raises(WrongTypeError):
        checkin.verify_card([ISSUER.public_key()], now=ISSUED)


def test_diagnostic_code_at_a_checkin_verifier_names_the_health_official() -> None:
    wallet = seeded("card-code-wallet")
    code = present(wallet, card_credential(1, "card-code-wallet"), now=ISSUED, code_type=2)
    with pytest.raises(HealthOfficialCodeError, match="health official") as info:
        code.verify([ISSUER.public_key()], now=ISSUED)
    assert info.value.reason == "diagnostic_code"
    assert isinstance(info.value, WrongTypeError)  # old callers still catch it as before
    code.verify([ISSUER.public_key()], now=ISSUED, expected_type=CodeType.DIAGNOSTIC)


def test_card_lasting_longer_than_the_desk_issues_is_refused() -> None:
    long = card_credential(CARD_MAX_DAYS + 2)
    card = make_card(long, seeded("card-one-off"), timestamp=ISSUED)
    with pytest.raises(CardLifetimeError):
        card.verify_card([ISSUER.public_key()], now=NOW)


def test_card_dated_outside_its_credential_is_refused() -> None:
    card = make_card(CREDENTIAL, seeded("card-one-off"), timestamp=ISSUED + 40 * DAY)
    with pytest.raises(MalformedError, match="dated outside"):
        card.verify_card([ISSUER.public_key()], now=NOW)


def test_card_from_an_unknown_issuer_is_refused() -> None:
    with pytest.raises(UnknownKeyError):
        CARD.verify_card([STRANGER.public_key()], now=NOW)


def test_card_signed_by_another_key_is_refused() -> None:
    forged = make_card(CREDENTIAL, seeded("someone-else"), timestamp=ISSUED)
    with pytest.raises(SignatureError):
        forged.verify_card([ISSUER.public_key()], now=NOW)


def test_card_relabelled_as_checkin_fails_its_signature() -> None:
    relabelled = Presentation(int(CodeType.CHECKIN), CREDENTIAL, ISSUED, CARD.signature)
    with pytest.raises(SignatureError):
        relabelled.verify([ISSUER.public_key()], now=ISSUED + 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_BYTES + 20))
def test_card_parser_never_crashes_on_junk(payload: bytes) -> None:
    text = PREFIX + base45.b45encode(payload).decode()
    try:
        parsed = Presentation.from_text(text)
    except ProtocolError:
        return
    with pytest.raises(ProtocolError):
        parsed.verify_card([ISSUER.public_key()], now=NOW)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(CARD.to_bytes()) - 1), st.integers(1, 255))
def test_every_single_byte_change_of_a_card_is_refused(index: int, flip: int) -> None:
    mutated = bytearray(CARD.to_bytes())
    mutated[index] ^= flip
    with pytest.raises(ProtocolError):
        Presentation.from_bytes(bytes(mutated)).verify_card([ISSUER.public_key()], now=NOW)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 2**32 - 1 - CARD_MAX_DAYS * DAY),
    st.integers(1, CARD_MAX_DAYS * DAY),
    st.binary(min_size=8, max_size=8),
)
def test_card_round_trip_for_any_validity(start: int, length: int, card_id: bytes) -> None:
    key = keys.generate()
    credential = issue_credential(
        ISSUER,
        keys.public_bytes(key),
        not_before=start,
        not_after=start + length,
        credential_id=card_id,
    )
    card = make_card(credential, key, timestamp=start)
    again = Presentation.from_text(card.to_text())
    assert again == card
    again.verify_card([ISSUER.public_key()], now=start + length // 2)
