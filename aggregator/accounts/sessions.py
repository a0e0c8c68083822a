"""Server-side sessions of staff logins, with idle and absolute timeouts.

The browser's cookie (Flask's signed cookie session) carries only a random session id;
this table keeps its SHA-256 with the account and the times it was made and last used.
So logging out deletes the row and the cookie is worthless at once, even if copied;
``users.end_sessions`` deletes every row of an account ("log out everywhere", also on
a password change or disabling). A session ends ``idle_s`` after its last use or
``absolute_s`` after login, whichever comes first; its last use is written at most once
a minute (``TOUCH_EVERY_MS``) so page views do not each write to the database; sessions
never resumed are deleted at the next login anywhere (:func:`prune_sessions`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from .tables import StaffSession, StaffUser
from .users import Account, account_of

TOUCH_EVERY_MS = 60_000


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: since its last use, and at most since login."""

    idle_s: int = 30 * 60
    absolute_s: int = 12 * 3600


def _hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode("ascii", "replace")).digest()


def start_session(account: Account, now_ms: int) -> str:
    """A new session for ``account``; returns the id for the cookie (stored only hashed)."""
    sid = secrets.token_urlsafe(32)
    StaffSession.create(
        sid_hash=_hash(sid), user=account.user_id, created_ms=now_ms, seen_ms=now_ms
    )
    return sid


def resume_session(sid: object, now_ms: int, policy: SessionPolicy) -> Account | None:
    """The account of a live session id, or None (unknown, timed out, or account disabled).

    A timed-out session's row is deleted here.
    """
    if not isinstance(sid, str) or len(sid) > 128:
        return None
    row = StaffSession.get_or_none(StaffSession.sid_hash == _hash(sid))
    if row is None:
        return None
    user = StaffUser.get_or_none(StaffUser.id == row.user_id)
    expired = (
        now_ms - row.seen_ms >= policy.idle_s * 1000
        or now_ms - row.created_ms >= policy.absolute_s * 1000
    )
    if user is None or user.disabled or expired:
        row.delete_instance()
        return None
    if now_ms - row.seen_ms >= TOUCH_EVERY_MS:
        StaffSession.update(seen_ms=now_ms).where(StaffSession.sid_hash == row.sid_hash).execute()
    return account_of(user)


def prune_sessions(now_ms: int, policy: SessionPolicy) -> int:
    """Delete sessions that timed out but were never resumed (logins call this); how many."""
    idle_before = now_ms - policy.idle_s * 1000
    made_before = now_ms - policy.absolute_s * 1000
    stale = (StaffSession.seen_ms <= idle_before) | (StaffSession.created_ms <= made_before)
    return StaffSession.delete().where(stale).execute()


def end_session(sid: object) -> None:
    """Delete one session (logging out); unknown ids are ignored."""
    if isinstance(sid, str) and len(sid) <= 128:
        StaffSession.delete().where(StaffSession.sid_hash == _hash(sid)).execute()
