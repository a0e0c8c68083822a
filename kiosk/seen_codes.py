"""Codes already checked in at this kiosk, kept in the outbox so that a restart forgets none.

The door answers "already checked in" to a code it accepted before, for as long as
that code could still pass the freshness check. The memory of it must outlive the
process: a code shown, the kiosk restarted, and the same code shown again within
its validity is not a second check-in.

Only a fingerprint is kept, never the code: SHA-256 over a label and the
presentation bytes (which hold the visitor's fresh signature, so the fingerprint can
be matched only by someone who holds the very code). Each row carries its expiry,
the end of the code's validity as the verifier judges it; :meth:`SeenCodes.prune`
deletes expired rows, and rows dated further ahead than any code can be valid (a
clock that jumped back), so the table never holds more than one validity window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import peewee

LABEL = b"safecode/kiosk/seen-code/v1\x00"

_CREATE = (
    "CREATE TABLE IF NOT EXISTS seen_code "
    "(fingerprint BLOB PRIMARY KEY NOT NULL, expires_ms INTEGER NOT NULL)"
)
_INSERT = (
    "INSERT INTO seen_code (fingerprint, expires_ms) VALUES (?, ?) "
    "ON CONFLICT (fingerprint) DO UPDATE SET expires_ms = max(expires_ms, excluded.expires_ms)"
)
_CONTAINS = "SELECT 1 FROM seen_code WHERE fingerprint = ? AND expires_ms > ?"
_PRUNE = "DELETE FROM seen_code WHERE expires_ms <= ? OR expires_ms > ?"


def code_fingerprint(presentation: bytes) -> bytes:
    """The fingerprint kept for a presentation's wire bytes (never the bytes themselves)."""
    return hashlib.sha256(LABEL + presentation).digest()


@dataclass(frozen=True)
class SeenCode:
    """A checked-in code's fingerprint and the wall-clock ms its validity ends."""

    fingerprint: bytes
    expires_ms: int


class SeenCodes:
    """The ``seen_code`` table in the outbox database (its writes join the caller's commit)."""

    def __init__(self, db: peewee.SqliteDatabase) -> None:
        self.db = db

    def create(self) -> None:
        """Create the table if it is missing (inside the outbox's opening transaction)."""
        self.db.execute_sql(_CREATE)

    def insert(self, seen: SeenCode) -> None:
        """Remember a code; call inside the transaction that commits its check-in."""
        self.db.execute_sql(_INSERT, (seen.fingerprint, seen.expires_ms))

    def contains(self, fingerprint: bytes, now_ms: int) -> bool:
        """True if this code was checked in here and is still within its validity."""
        return self.db.execute_sql(_CONTAINS, (fingerprint, now_ms)).fetchone() is not None

    def prune(self, now_ms: int, longest_ms: int) -> int:
        """Delete expired rows and any expiring more than ``longest_ms`` ahead; count them."""
        with self.db.atomic():
            return self.db.execute_sql(_PRUNE, (now_ms, now_ms + longest_ms)).rowcount
