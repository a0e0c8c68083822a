"""Operator tokens: bearer secrets for enrolling and retiring kiosks over the API.

A token reads ``sco_<token id>_<secret>``; made, stored and checked as every role's
bearer tokens are (aggregator/bearer_tokens.py: printed once, a salted scrypt hash
stored, one scrypt per check whether the id exists or not).
"""

from __future__ import annotations

from .bearer_tokens import SCRYPT, BearerTokens, TokenError, TokenHolder, TokenRow

PREFIX = "sco"
Operator = TokenHolder
"""Who a valid operator token belongs to."""

__all__ = [
    "SCRYPT",
    "Operator",
    "OperatorToken",
    "TokenError",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
]


class OperatorToken(TokenRow):
    """One operator's token: public id, name, salt and scrypt hash of the secret."""

    class Meta:
        table_name = "operator_token"


OPERATOR_TOKENS = BearerTokens(OperatorToken, PREFIX, "operator")
create_token = OPERATOR_TOKENS.create
revoke_token = OPERATOR_TOKENS.revoke
list_tokens = OPERATOR_TOKENS.listing
authenticate = OPERATOR_TOKENS.authenticate
