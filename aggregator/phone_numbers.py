"""Phone numbers as typed by visitors, normalised to E.164 (``+821012345678``).

Uses Google's libphonenumber metadata (the ``phonenumbers`` package). A number without
a ``+`` is read in the site's region (default KR, so ``010-1234-5678`` is
``+821012345678``). Junk, numbers too long or too short, and numbers that are not
valid for their region are refused with PhoneNumberError.
"""

from __future__ import annotations

import phonenumbers

from protocol.errors import MalformedError

DEFAULT_REGION = "KR"
MAX_INPUT_CHARS = 32
_ALLOWED_PUNCTUATION = frozenset(" -().")


class PhoneNumberError(MalformedError):
    """Not a phone number this site can reach."""

    reason = "bad_phone_number"


def normalise_phone(text: str, region: str = DEFAULT_REGION) -> str:
    """``text`` as an E.164 number, or PhoneNumberError naming what is wrong."""
    if type(text) is not str:
        raise PhoneNumberError("phone number: expected text")
    if len(text) > MAX_INPUT_CHARS:
        raise PhoneNumberError(f"phone number: over {MAX_INPUT_CHARS} characters")
    stripped = text.strip()
    body = stripped[1:] if stripped.startswith("+") else stripped
    if not any(c.isdigit() for c in body):
        raise PhoneNumberError("phone number: no digits")
    if not body or any(
        not (c.isascii() and c.isdigit()) and c not in _ALLOWED_PUNCTUATION for c in body
    ):
        raise PhoneNumberError(
            "phone number: only digits, a leading +, spaces, dashes, dots and parentheses"
        )
    try:
        number = phonenumbers.parse(stripped, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneNumberError(f"phone number: not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberError("phone number: not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
