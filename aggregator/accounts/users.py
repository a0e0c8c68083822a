"""Making and changing staff accounts (the command line's work; no web page does this).

A name is 1-63 letters, digits, spaces or ``. _ @ -``; a role is one of ``roles.ROLES``;
a venue owner (role ``venue``) is bound to one or more venue ids (``protocol.ids``) and
every other role to none. Disabling an account or changing its password ends all its
sessions ("log out everywhere").
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.ids import VENUE_ID_PATTERN

from ..models_base import database_proxy
from . import passwords
from .errors import AccountError
from .roles import ROLES, VENUE_BOUND
from .tables import StaffSession, StaffUser, StaffVenue

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,62}")
_VENUE_RE = re.compile(VENUE_ID_PATTERN)
MAX_VENUES = 1000


@dataclass(frozen=True)
class Account:
    """What the pages know of a logged-in account (never its hash)."""

    user_id: int
    name: str
    role: str
    venues: frozenset[str]


def check_name(name: str) -> str:
    """``name`` if it is a valid account name, else AccountError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise AccountError("an account name is 1-63 letters, digits, spaces or . _ @ -")
    return name


def _venues(role: str, venues: Iterable[str]) -> list[str]:
    wanted = sorted(set(venues))
    for venue in wanted:
        if not isinstance(venue, str) or not _VENUE_RE.fullmatch(venue):
            raise AccountError(f"not a venue id: {venue!r} (lower-case letters, digits, -)")
    if len(wanted) > MAX_VENUES:
        raise AccountError(f"at most {MAX_VENUES} venues per account")
    if role in VENUE_BOUND and not wanted:
        raise AccountError("a venue owner's account needs at least one --venue")
    if role not in VENUE_BOUND and wanted:
        raise AccountError(f"a {role} account is bound to no venue")
    return wanted


def _get(name: str) -> StaffUser:
    row = StaffUser.get_or_none(StaffUser.name == check_name(name))
    if row is None:
        raise AccountError(f"no account named {name!r}")
    return row


def add_user(name: str, role: str, password: str, venues: Iterable[str] = ()) -> Account:
    """Make an account; AccountError if the name is taken or anything is invalid."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"a role is one of {', '.join(ROLES)}")
    bound = _venues(role, venues)
    hashed = passwords.hash_password(password)
    with database_proxy.atomic():
        if StaffUser.get_or_none(StaffUser.name == name) is not None:
            raise AccountError(f"an account named {name!r} exists")
        row = StaffUser.create(
            name=name, role=role, password_hash=hashed, created_ms=int(time.time() * 1000)
        )
        for venue in bound:
            StaffVenue.create(user=row, venue_id=venue)
    return account_of(row)


def account_of(row: StaffUser) -> Account:
    """The :class:`Account` of a user row, with its venues."""
    venues = StaffVenue.select(StaffVenue.venue_id).where(StaffVenue.user == row.id)
    return Account(row.id, row.name, row.role, frozenset(v.venue_id for v in venues))


def list_users() -> list[dict[str, object]]:
    """Every account: name, role, venues, disabled, locked until (never a hash)."""
    out = []
    for row in StaffUser.select().order_by(StaffUser.name):
        account = account_of(row)
        out.append(
            {
                "name": row.name,
                "role": row.role,
                "venues": sorted(account.venues),
                "disabled": row.disabled,
                "locked_until_ms": row.locked_until_ms or None,
                "created_ms": row.created_ms,
            }
        )
    return out


def end_sessions(user_id: int) -> int:
    """End every session of an account ("log out everywhere"); how many there were."""
    return StaffSession.delete().where(StaffSession.user == user_id).execute()


def log_out_everywhere(name: str) -> int:
    """End every session of the account ``name``; how many there were."""
    return end_sessions(_get(name).id)


def set_disabled(name: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account; disabling ends its sessions."""
    with database_proxy.atomic():
        row = _get(name)
        row.disabled = disabled
        row.save()
        if disabled:
            end_sessions(row.id)


def set_password(name: str, password: str) -> None:
    """Give an account a new password, lift its lockout and end its sessions."""
    hashed = passwords.hash_password(password)
    with database_proxy.atomic():
        row = _get(name)
        row.password_hash = hashed
        row.failures = row.lockouts = row.locked_until_ms = 0
        row.save()
        end_sessions(row.id)


def set_venues(name: str, venues: Iterable[str]) -> list[str]:
    """Bind a venue owner's account to exactly ``venues``; ends its sessions; the list."""
    with database_proxy.atomic():
        row = _get(name)
        bound = _venues(row.role, venues)
        StaffVenue.delete().where(StaffVenue.user == row.id).execute()
        for venue in bound:
            StaffVenue.create(user=row, venue_id=venue)
        end_sessions(row.id)
    return bound
