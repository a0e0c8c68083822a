"""Bearer tokens for a role: made once, stored as a salted scrypt hash, checked in one scrypt.

A token reads ``<prefix>_<token id>_<secret>`` and is printed once when made; only a
salted scrypt hash of the secret is stored (hashlib.scrypt, in the standard library:
memory-hard, no extra dependency). The public token id selects the one row to check,
so a request costs exactly one scrypt: an unknown or revoked id is checked against a
dummy hash, so the answer's timing does not tell which ids exist. The comparison is
constant-time (hmac.compare_digest). The secret is 256 random bits, so the hash's job
is only to make a stolen database useless, not to slow down guessing.

Each role has its own table and prefix (operator tokens ``sco``, aggregator/operators.py;
desk tokens ``scd``, aggregator/desk/tokens.py), so no token works for another role.
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


class TokenRow(BaseModel):
    """One holder's token: public id, name, salt and scrypt hash of the secret."""

    token_id = peewee.CharField(primary_key=True, max_length=16)
    name = peewee.CharField(unique=True, max_length=63)
    salt = BlobField()
    secret_hash = BlobField()
    created_ms = peewee.BigIntegerField()
    revoked = peewee.BooleanField(default=False)


@dataclass(frozen=True)
class TokenHolder:
    """Who a valid token belongs to."""

    token_id: str
    name: str


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, **SCRYPT)


class BearerTokens:
    """The tokens of one role, kept in ``model``, reading ``<prefix>_<id>_<secret>``.

    ``role`` names the holders in messages ("operator", "desk staff").
    """

    def __init__(self, model: type[TokenRow], prefix: str, role: str) -> None:
        self.model = model
        self.prefix = prefix
        self.role = role
        self._token_re = re.compile(re.escape(prefix) + r"_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")

    def looks_like(self, token: object) -> bool:
        """True if ``token`` has this role's shape (says nothing of its validity)."""
        return isinstance(token, str) and token.startswith(self.prefix + "_")

    def create(self, name: str) -> str:
        """Make a token for ``name`` and return it; it cannot be shown again."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise TokenError(f"a {self.role} name is 1-63 letters, digits, spaces or . _ @ -")
        if self.model.get_or_none(self.model.name == name) is not None:
            raise TokenError(f"{self.role} {name!r} already has a token; revoke it first")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        self.model.create(
            token_id=token_id,
            name=name,
            salt=salt,
            secret_hash=_hash(secret, salt),
            created_ms=int(time.time() * 1000),
        )
        return f"{self.prefix}_{token_id}_{secret}"

    def revoke(self, name: str) -> None:
        """Revoke ``name``'s token (its row stays, marked) and free the name for a new one."""
        model = self.model
        row = model.get_or_none((model.name == name) & (model.revoked == False))  # noqa: E712
        if row is None:
            raise TokenError(f"no active token for {self.role} {name!r}")
        row.revoked = True
        row.name = f"{row.token_id} (revoked {name})"[:63]
        row.save()

    def listing(self) -> list[dict[str, object]]:
        """Names, ids and dates of the tokens (never hashes)."""
        return [
            {
                "name": r.name,
                "token_id": r.token_id,
                "created_ms": r.created_ms,
                "revoked": r.revoked,
            }
            for r in self.model.select().order_by(self.model.created_ms)
        ]

    def authenticate(self, token: str) -> TokenHolder:
        """Who a bearer token belongs to; TokenError if it is malformed, unknown or bad."""
        match = self._token_re.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise TokenError(f"malformed {self.role} token")
        token_id, secret = match.groups()
        row = self.model.get_or_none(self.model.token_id == token_id)
        usable = row is not None and not row.revoked
        salt, expected = (
            (bytes(row.salt), bytes(row.secret_hash)) if usable else (_DUMMY_SALT, _DUMMY_HASH)
        )
        matches = hmac.compare_digest(_hash(secret, salt), expected)
        if not usable:
            raise TokenError(f"unknown or revoked {self.role} token")
        if not matches:
            raise TokenError(f"wrong {self.role} token secret")
        return TokenHolder(row.token_id, row.name)
