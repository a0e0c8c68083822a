"""Typed errors of staff accounts."""

from __future__ import annotations


class AccountError(ValueError):
    """A staff account cannot be made or changed as asked (bad name, role, password...)."""


class SecretKeyError(OSError):
    """The session signing key file cannot be read or made."""
