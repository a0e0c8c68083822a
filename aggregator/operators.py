"""Operator tokens: bearer secrets for enrolling and retiring kiosks over the API.

A token reads ``sco_<token id>_<secret>``; it is printed once when made and only a
salted scrypt hash of the secret is stored (hashlib.scrypt, in the standard library:
memory-hard, no extra dependency). The public token id selects the one row to check,
so a request costs exactly one scrypt: an unknown or revoked id is checked against a
dummy hash, so the answer's timing does not tell which ids exist. The comparison is
constant-time (hmac.compare_digest). The secret is 256 random bits, so the hash's job is only to
make a stolen database useless, not to slow down guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import peewee

from .models_base import BaseModel, BlobField

PREFIX = "sco"
_TOKEN_RE = re.compile(r"sco_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,62}")
# scrypt cost N=2^12, r=8, p=1: 4 MiB and about 15-50 ms per check here. The secret has
# 256 bits of entropy, so a higher cost would buy nothing but slower requests.
SCRYPT = {"n": 1 << 12, "r": 8, "p": 1, "maxmem": 64 << 20, "dklen": 32}


# What an unknown or revoked token id is checked against: the same scrypt work as a real
# row, so a wrong secret for a known id and any secret for an unknown id take as long.
_DUMMY_SALT = secrets.token_bytes(16)
_DUMMY_HASH = secrets.token_bytes(SCRYPT["dklen"])


class TokenError(ValueError):
    """A token that cannot be made, or one that does not authenticate."""


class OperatorToken(BaseModel):
    """One operator's token: public id, name, salt and scrypt hash of the secret."""

    token_id = peewee.CharField(primary_key=True, max_length=16)
    name = peewee.CharField(unique=True, max_length=63)
    salt = BlobField()
    secret_hash = BlobField()
    created_ms = peewee.BigIntegerField()
    revoked = peewee.BooleanField(default=False)

    class Meta:
        table_name = "operator_token"


@dataclass(frozen=True)
class Operator:
    """Who a valid token belongs to."""

    token_id: str
    name: str


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, **SCRYPT)


def create_token(name: str) -> str:
    """Make a token for ``name`` and return it; it cannot be shown again."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise TokenError("an operator name is 1-63 letters, digits, spaces or . _ @ -")
    if OperatorToken.get_or_none(OperatorToken.name == name) is not None:
        raise TokenError(f"operator {name!r} already has a token; revoke it first")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    OperatorToken.create(
        token_id=token_id,
        name=name,
        salt=salt,
        secret_hash=_hash(secret, salt),
        created_ms=int(time.time() * 1000),
    )
    return f"{PREFIX}_{token_id}_{secret}"


def revoke_token(name: str) -> None:
    """Revoke ``name``'s token (its row stays, marked) and free the name for a new one."""
    row = OperatorToken.get_or_none(
        (OperatorToken.name == name) & (OperatorToken.revoked == False)  # noqa: E712
    )
    if row is None:
        raise TokenError(f"no active token for operator {name!r}")
    row.revoked = True
    row.name = f"{row.token_id} (revoked {name})"[:63]
    row.save()


def list_tokens() -> list[dict[str, object]]:
    """Names, ids and dates of the tokens (never hashes)."""
    return [
        {"name": r.name, "token_id": r.token_id, "created_ms": r.created_ms, "revoked": r.revoked}
        for r in OperatorToken.select().order_by(OperatorToken.created_ms)
    ]


def authenticate(token: str) -> Operator:
    """The operator a bearer token belongs to; TokenError if it is malformed, unknown or bad."""
    match = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise TokenError("malformed token")
    token_id, secret = match.groups()
    row = OperatorToken.get_or_none(OperatorToken.token_id == token_id)
    usable = row is not None and not row.revoked
    salt, expected = (
        (bytes(row.salt), bytes(row.secret_hash)) if usable else (_DUMMY_SALT, _DUMMY_HASH)
    )
    matches = hmac.compare_digest(_hash(secret, salt), expected)
    if not usable:
        raise TokenError("unknown or revoked token")
    if not matches:
        raise TokenError("wrong token secret")
    return Operator(row.token_id, row.name)
