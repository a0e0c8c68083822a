"""Checking a login: argon2 password check, per-account lockout, per-address throttle.

- **Per account**: ``max_failures`` wrong passwords in a row lock the account for
  ``lock_s``; each further lockout before a good login lasts twice as long, up to
  ``max_lock_s``. While locked, even the right password is refused.
- **Per client address** (an IPv4 address, or the /64 of an IPv6 one): after
  ``address_failures`` failed logins within ``address_window_s`` every login from there
  is refused until the window ends, whichever names it tries.
- **Same answer, same time**: an unknown or disabled name, a wrong password and a locked
  account all raise :class:`LoginRefused` with reasons the caller counts but shows
  alike; each costs one argon2 check (against a dummy hash when there is no real one).

Behind a reverse proxy the client address is the proxy's unless the app trusts its
forwarding header (werkzeug's ProxyFix); the throttle then counts the whole proxy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import peewee

from ..models_base import database_proxy
from . import passwords
from .tables import LoginThrottle, StaffUser
from .users import NAME_RE, Account, account_of

FAILED = "login_failed"
LOCKED = "login_locked"
THROTTLED = "login_throttled"


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock what, and for how long."""

    max_failures: int = 5
    lock_s: int = 15 * 60
    max_lock_s: int = 24 * 3600
    address_failures: int = 20
    address_window_s: int = 15 * 60


class LoginRefused(Exception):
    """A login refused; ``reason`` is FAILED, LOCKED or THROTTLED (a counter label).

    FAILED and LOCKED must be shown alike (they would tell who has an account).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_key(address: str | None) -> str:
    """The throttle's key for a client address: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _throttled(key: str, now_ms: int, policy: LoginPolicy) -> bool:
    row = LoginThrottle.get_or_none(LoginThrottle.address == key)
    return (
        row is not None
        and now_ms - row.window_start_ms < policy.address_window_s * 1000
        and row.failures >= policy.address_failures
    )


def _address_failed(key: str, now_ms: int, policy: LoginPolicy) -> None:
    with database_proxy.atomic():
        row = LoginThrottle.get_or_none(LoginThrottle.address == key)
        if row is None:
            cutoff = now_ms - policy.address_window_s * 1000  # forget old windows first
            LoginThrottle.delete().where(LoginThrottle.window_start_ms <= cutoff).execute()
            try:
                with database_proxy.atomic():
                    LoginThrottle.create(address=key, window_start_ms=now_ms, failures=1)
                return
            except peewee.IntegrityError:  # another worker made it first
                row = LoginThrottle.get(LoginThrottle.address == key)
        if now_ms - row.window_start_ms >= policy.address_window_s * 1000:
            row.window_start_ms, row.failures = now_ms, 1
        else:
            row.failures += 1
        row.save()


def _account_failed(user_id: int, now_ms: int, policy: LoginPolicy) -> None:
    with database_proxy.atomic():
        row = StaffUser.get_by_id(user_id)
        row.failures += 1
        if row.failures >= policy.max_failures:
            row.failures = 0
            row.lockouts += 1
            lock_s = min(policy.lock_s * 2 ** min(row.lockouts - 1, 30), policy.max_lock_s)
            row.locked_until_ms = now_ms + lock_s * 1000
        row.save()


def authenticate(
    name: str, password: str, address: str | None, now_ms: int, policy: LoginPolicy
) -> Account:
    """The account ``name`` logs in to with ``password``; LoginRefused otherwise."""
    key = address_key(address)
    if _throttled(key, now_ms, policy):
        passwords.verify(passwords.dummy_hash(), "")
        raise LoginRefused(THROTTLED)
    valid_name = isinstance(name, str) and NAME_RE.fullmatch(name) is not None
    row = StaffUser.get_or_none(StaffUser.name == name) if valid_name else None
    if row is None or row.disabled or row.locked_until_ms > now_ms:
        passwords.verify(passwords.dummy_hash(), password if isinstance(password, str) else "")
        _address_failed(key, now_ms, policy)
        raise LoginRefused(LOCKED if row is not None and not row.disabled else FAILED)
    if not passwords.verify(row.password_hash, password):
        # One commit, as for an unknown name: a second one would tell names apart by time.
        with database_proxy.atomic():
            _account_failed(row.id, now_ms, policy)
            _address_failed(key, now_ms, policy)
        raise LoginRefused(FAILED)
    changes: dict[object, object] = {}
    if row.failures or row.lockouts or row.locked_until_ms:
        changes.update({StaffUser.failures: 0, StaffUser.lockouts: 0, StaffUser.locked_until_ms: 0})
    if passwords.needs_rehash(row.password_hash):
        changes[StaffUser.password_hash] = passwords.rehash(password)
    if changes:
        StaffUser.update(changes).where(StaffUser.id == row.id).execute()
    return account_of(row)
