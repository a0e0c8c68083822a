"""Desk staff tokens: bearer secrets that may issue and revoke printed cards, nothing else.

Their own role and table, apart from operator tokens (which enrol and retire kiosks):
a desk token never works on the operator API and an operator token never works at the
desk. Made and checked exactly like operator tokens (aggregator/operators.py): the
token reads ``scd_<token id>_<secret>``, is printed once, and only a salted scrypt
hash of the secret is stored; an unknown or revoked id costs the same scrypt, and the
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import peewee

from ..models_base import BaseModel, BlobField
from ..operators import SCRYPT, TokenError

PREFIX = "scd"
_TOKEN_RE = re.compile(r"scd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,62}")
_DUMMY_SALT = secrets.token_bytes(16)
_DUMMY_HASH = secrets.token_bytes(SCRYPT["dklen"])

__all__ = ["DeskStaff", "DeskToken", "TokenError", "authenticate", "create_token", "revoke_token"]


class DeskToken(BaseModel):
    """One desk staff member's token: public id, name, salt and scrypt hash of the secret."""

    token_id = peewee.CharField(primary_key=True, max_length=16)
    name = peewee.CharField(unique=True, max_length=63)
    salt = BlobField()
    secret_hash = BlobField()
    created_ms = peewee.BigIntegerField()
    revoked = peewee.BooleanField(default=False)

    class Meta:
        table_name = "desk_token"


@dataclass(frozen=True)
class DeskStaff:
    """Who a valid desk token belongs to."""

    token_id: str
    name: str


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, **SCRYPT)


def looks_like_desk_token(token: str) -> bool:
    """True if ``token`` has a desk token's shape (says nothing of its validity)."""
    return isinstance(token, str) and token.startswith(PREFIX + "_")


def create_token(name: str) -> str:
    """Make a desk token for ``name`` and return it; it cannot be shown again."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise TokenError("a desk staff name is 1-63 letters, digits, spaces or . _ @ -")
    if DeskToken.get_or_none(DeskToken.name == name) is not None:
        raise TokenError(f"desk staff {name!r} already has a token; revoke it first")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    DeskToken.create(
        token_id=token_id,
        name=name,
        salt=salt,
        secret_hash=_hash(secret, salt),
        created_ms=int(time.time() * 1000),
    )
    return f"{PREFIX}_{token_id}_{secret}"


def revoke_token(name: str) -> None:
    """Revoke ``name``'s desk token (its row stays, marked) and free the name."""
    row = DeskToken.get_or_none((DeskToken.name == name) & (DeskToken.revoked == False))  # noqa: E712
    if row is None:
        raise TokenError(f"no active desk token for {name!r}")
    row.revoked = True
    row.name = f"{row.token_id} (revoked {name})"[:63]
    row.save()


def list_tokens() -> list[dict[str, object]]:
    """Names, ids and dates of the desk tokens (never hashes)."""
    return [
        {"name": r.name, "token_id": r.token_id, "created_ms": r.created_ms, "revoked": r.revoked}
        for r in DeskToken.select().order_by(DeskToken.created_ms)
    ]


def authenticate(token: str) -> DeskStaff:
    """The desk staff a bearer token belongs to; TokenError if malformed, unknown or bad."""
    match = _TOKEN_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise TokenError("malformed desk token")
    token_id, secret = match.groups()
    row = DeskToken.get_or_none(DeskToken.token_id == token_id)
    usable = row is not None and not row.revoked
    salt, expected = (
        (bytes(row.salt), bytes(row.secret_hash)) if usable else (_DUMMY_SALT, _DUMMY_HASH)
    )
    matches = hmac.compare_digest(_hash(secret, salt), expected)
    if not usable:
        raise TokenError("unknown or revoked desk token")
    if not matches:
        raise TokenError("wrong desk token secret")
    return DeskStaff(row.token_id, row.name)
