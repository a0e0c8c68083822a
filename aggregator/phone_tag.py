"""The issuer's keyed index tag of a phone number: HMAC-SHA256 under a pepper.

The issuer stores this tag, never the number, so it can find an enrolment by phone
number (a new number, a deletion) without a readable list of numbers. The pepper is
kept out of the database, so a copy of the database alone cannot test guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PEPPER_MIN_SIZE = 32
TAG_SIZE = 32
_DOMAIN = b"safecode/v1/phone-tag\n"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def phone_tag(pepper: bytes, e164: str) -> bytes:
    """HMAC-SHA256(pepper, domain || number) for a number already in E.164."""
    if type(pepper) is not bytes or len(pepper) < PEPPER_MIN_SIZE:
        raise ValueError(f"the phone-tag pepper must be at least {PEPPER_MIN_SIZE} bytes")
    if type(e164) is not str or not _E164.fullmatch(e164):
        raise ValueError("phone_tag takes a number in E.164 form (normalise it first)")
    return hmac.new(pepper, _DOMAIN + e164.encode("ascii"), hashlib.sha256).digest()
