"""The tables of staff accounts: users, their venues, sessions and the login throttle.

Only argon2 hashes of passwords and SHA-256 hashes of session ids are stored: a copy of
the database lets nobody log in or ride a session.
"""

from __future__ import annotations

import peewee

from ..models_base import BaseModel, BlobField


class StaffUser(BaseModel):
    """One staff login: name, role, argon2 hash, lockout state."""

    id = peewee.AutoField()
    name = peewee.CharField(unique=True, max_length=63)
    role = peewee.CharField(max_length=16)
    password_hash = peewee.TextField()
    disabled = peewee.BooleanField(default=False)
    created_ms = peewee.BigIntegerField()
    #: Wrong passwords since the last success or lockout.
    failures = peewee.IntegerField(default=0)
    #: Lockouts since the last successful login: each one lasts twice as long.
    lockouts = peewee.IntegerField(default=0)
    locked_until_ms = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "staff_user"


class StaffVenue(BaseModel):
    """A venue a venue owner's account is bound to."""

    user = peewee.ForeignKeyField(StaffUser, column_name="user_id", on_delete="CASCADE")
    venue_id = peewee.CharField(max_length=63)

    class Meta:
        table_name = "staff_venue"
        indexes = ((("user", "venue_id"), True),)


class StaffSession(BaseModel):
    """A logged-in browser: the SHA-256 of the random id its signed cookie carries."""

    sid_hash = BlobField(primary_key=True)
    user = peewee.ForeignKeyField(StaffUser, column_name="user_id", on_delete="CASCADE")
    created_ms = peewee.BigIntegerField()
    seen_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "staff_session"


class LoginThrottle(BaseModel):
    """Failed logins from one client address (an IPv6 /64) within the current window."""

    address = peewee.CharField(primary_key=True, max_length=64)
    window_start_ms = peewee.BigIntegerField()
    failures = peewee.IntegerField(default=0)

    class Meta:
        table_name = "staff_login_throttle"


ACCOUNT_MODELS: tuple[type[BaseModel], ...] = (StaffUser, StaffVenue, StaffSession, LoginThrottle)
"""The tables of this package, for ``aggregator.models``."""
