"""Phone numbers to E.164 (aggregator.phone_numbers) and the issuer's keyed tag."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.phone_numbers import PhoneNumberError, normalise_phone
from aggregator.phone_tag import phone_tag
from protocol.errors import MalformedError

PEPPER = bytes(range(32))


@pytest.mark.parametrize(
    "typed",
    [
        "+82 10-1234-5678",
        "+821012345678",
        "010 1234 5678",
        "01012345678",
        "010-1234-5678",
        "(010) 1234-5678",
        "010.1234.5678",
        "  010 1234 5678  ",
        "+82 (0)10 1234 5678",
    ],
)
def test_korean_mobile_numbers_in_odd_formats(typed: str) -> None:
    assert normalise_phone(typed) == "+821012345678"


def test_other_regions_and_a_configured_default_region() -> None:
    assert normalise_phone("+1 (650) 253-0000") == "+16502530000"
    assert normalise_phone("02-123-4567") == "+8221234567"
    assert normalise_phone("(650) 253-0000", region="US") == "+16502530000"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "abc",
        "010-1234-567a",
        "+82",
        "12",
        "0101234567812345",
        "+82 10 1234 5678 9999 9999",
        "1" * 40,
        "０１０１２３４５６７８",  # full-width digits
        "010\n1234\n5678",
        "tel:+821012345678",
        "<script>",
    ],
)
def test_junk_is_refused_with_a_clear_error(junk: str) -> None:
    with pytest.raises(PhoneNumberError, match="phone number"):
        normalise_phone(junk)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_normalise_returns_e164_or_refuses(typed: str) -> None:
    try:
        number = normalise_phone(typed)
    except PhoneNumberError as exc:
        assert isinstance(exc, MalformedError)
        return
    assert number.startswith("+") and number[1:].isdigit() and len(number) <= 16


def test_phone_tag_is_keyed_and_stable() -> None:
    tag = phone_tag(PEPPER, "+821012345678")
    assert len(tag) == 32 and tag == phone_tag(PEPPER, "+821012345678")
    assert tag != phone_tag(bytes(32), "+821012345678")
    assert tag != phone_tag(PEPPER, "+821012345679")


def test_phone_tag_takes_only_e164_and_a_long_pepper() -> None:
    with pytest.raises(ValueError, match="E.164"):
        phone_tag(PEPPER, "010-1234-5678")
    with pytest.raises(ValueError, match="pepper"):
        phone_tag(b"short", "+821012345678")
