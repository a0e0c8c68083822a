"""Desk staff tokens: bearer secrets that may issue and revoke printed cards, nothing else.

Their own role and table, apart from operator tokens (which enrol and retire kiosks):
a desk token never works on the operator API and an operator token never works at the
desk. Made and checked as every role's bearer tokens are (aggregator/bearer_tokens.py):
the token reads ``scd_<token id>_<secret>``, is printed once, and only a salted scrypt
hash of the secret is stored; an unknown or revoked id costs the same scrypt.
"""

from __future__ import annotations

from ..bearer_tokens import BearerTokens, TokenError, TokenHolder, TokenRow

PREFIX = "scd"
DeskStaff = TokenHolder
"""Who a valid desk token belongs to."""

__all__ = [
    "DeskStaff",
    "DeskToken",
    "TokenError",
    "authenticate",
    "create_token",
    "list_tokens",
    "looks_like_desk_token",
    "revoke_token",
]


class DeskToken(TokenRow):
    """One desk staff member's token: public id, name, salt and scrypt hash of the secret."""

    class Meta:
        table_name = "desk_token"


DESK_TOKENS = BearerTokens(DeskToken, PREFIX, "desk staff")
create_token = DESK_TOKENS.create
revoke_token = DESK_TOKENS.revoke
list_tokens = DESK_TOKENS.listing
authenticate = DESK_TOKENS.authenticate
looks_like_desk_token = DESK_TOKENS.looks_like
