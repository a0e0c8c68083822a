"""Passwords: the rule they follow and their argon2id hashes (argon2-cffi).

Hashes use ``argon2.PasswordHasher()`` with the library's defaults (RFC 9106's low-memory
profile in argon2-cffi 25: argon2id, 64 MiB, 3 passes, 4 lanes); when a later version
changes them, :func:`needs_rehash` says so and the next good login stores a new hash.
Checking against :data:`dummy_hash` costs the same as a real check: an unknown name
takes as long to refuse as a wrong password.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import AccountError

MIN_LENGTH = 12
MAX_LENGTH = 1024
"""Longer inputs are refused before any hashing (a megabyte password is a denial of service)."""

_hasher = PasswordHasher()


def check_rule(password: str) -> None:
    """AccountError unless ``password`` is 12 to 1024 characters with no control character."""
    if not isinstance(password, str):
        raise AccountError("a password is text")
    if len(password) < MIN_LENGTH:
        raise AccountError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise AccountError(f"a password has at most {MAX_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise AccountError("a password has no control characters (tabs, new lines...)")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of a password that follows the rule."""
    check_rule(password)
    return _hasher.hash(password)


def rehash(password: str) -> str:
    """A new hash of a password that just matched an old one (no rule check: it was set)."""
    return _hasher.hash(password)


def dummy_hash() -> str:
    """A hash of a random password nobody knows, made with today's parameters: checked
    when there is no real one, so it costs what a real check costs."""
    return _dummy_for(_hasher)


@functools.lru_cache(maxsize=4)
def _dummy_for(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(24))


def verify(stored: str, password: str) -> bool:
    """True if ``password`` matches the ``stored`` hash; False on mismatch or a bad hash.

    Over-long input is hashed as the dummy would be (same cost) and refused.
    """
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        stored, password = dummy_hash(), ""
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True if ``stored`` was made with other parameters than today's defaults."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
