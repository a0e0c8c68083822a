"""Staff accounts: the password rule, argon2 hashes, lockout, throttle, sessions, the key file."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from aggregator.accounts import passwords, secret_key, users
from aggregator.accounts.errors import AccountError, SecretKeyError
from aggregator.accounts.login import (
    FAILED,
    LOCKED,
    THROTTLED,
    LoginPolicy,
    LoginRefused,
    address_key,
    authenticate,
)
from aggregator.accounts.sessions import (
    SessionPolicy,
    end_session,
    prune_sessions,
    resume_session,
    start_session,
)
from aggregator.accounts.tables import LoginThrottle, StaffSession, StaffUser
from aggregator.db import open_database

PASSWORD = "correct horse battery"
POLICY = LoginPolicy(max_failures=3, lock_s=60, max_lock_s=200, address_failures=100)
T0 = 1_800_000_000_000


@pytest.fixture
def db(db_url: str) -> Iterator[peewee.Database]:
    """A fresh ledger database: SQLite, then PostgreSQL."""
    database = open_database(db_url)
    yield database
    database.close()


def refused(name: str, password: str, now_ms: int, address: str = "192.0.2.1") -> str:
    with pytest.raises(LoginRefused) as caught:
        authenticate(name, password, address, now_ms, POLICY)
    return caught.value.reason


# -- passwords ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "short", "x" * 11, "x" * 1025, "twelve chars\n", "tab\there chars", 12345]
)
def test_password_rule_refuses(bad: object) -> None:
    with pytest.raises(AccountError):
        passwords.check_rule(bad)  # type: ignore[arg-type]


def test_hash_is_argon2id_and_verifies() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + "!")
    assert not passwords.verify("not a hash", PASSWORD)
    assert not passwords.verify(stored, "x" * 100_000)  # over-long: refused, not hashed
    assert not passwords.needs_rehash(stored)
    assert passwords.needs_rehash(
        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    )


# -- accounts ----------------------------------------------------------------------------


def test_add_user_checks_everything(db: peewee.Database) -> None:
    account = users.add_user("kim official", "official", PASSWORD)
    assert account.role == "official" and account.venues == frozenset()
    with pytest.raises(AccountError, match="exists"):
        users.add_user("kim official", "desk", PASSWORD)
    with pytest.raises(AccountError, match="role"):
        users.add_user("lee", "admin", PASSWORD)
    with pytest.raises(AccountError, match="--venue"):
        users.add_user("lee", "venue", PASSWORD)
    with pytest.raises(AccountError, match="no venue"):
        users.add_user("lee", "operator", PASSWORD, ["cafe-1"])
    with pytest.raises(AccountError, match="venue id"):
        users.add_user("lee", "venue", PASSWORD, ["Cafe One"])
    with pytest.raises(AccountError, match="name"):
        users.add_user("", "desk", PASSWORD)
    with pytest.raises(AccountError, match="characters"):
        users.add_user("lee", "desk", "short")
    owner = users.add_user("park", "venue", PASSWORD, ["cafe-1", "bar-2", "cafe-1"])
    assert owner.venues == {"cafe-1", "bar-2"}
    listed = users.list_users()
    assert [row["name"] for row in listed] == ["kim official", "park"]
    assert listed[1]["venues"] == ["bar-2", "cafe-1"]
    assert all("hash" not in key for row in listed for key in row)
    assert users.set_venues("park", ["shop-3"]) == ["shop-3"]
    with pytest.raises(AccountError):
        users.set_venues("park", [])


# -- login, lockout, throttle ------------------------------------------------------------


def test_good_login(db: peewee.Database) -> None:
    users.add_user("kim", "official", PASSWORD)
    assert authenticate("kim", PASSWORD, "192.0.2.1", T0, POLICY).name == "kim"


def test_unknown_disabled_and_wrong_are_one_reason(db: peewee.Database) -> None:
    users.add_user("kim", "official", PASSWORD)
    assert refused("nobody", PASSWORD, T0) == FAILED
    assert refused("kim", "wrong password!!", T0) == FAILED
    assert refused("bad\x00name", PASSWORD, T0) == FAILED
    users.set_disabled("kim")
    assert refused("kim", PASSWORD, T0) == FAILED


def test_lockout_grows_and_a_good_login_resets_it(db: peewee.Database) -> None:
    users.add_user("kim", "official", PASSWORD)
    for _ in range(POLICY.max_failures):
        refused("kim", "wrong password!!", T0)
    assert refused("kim", PASSWORD, T0 + 1000) == LOCKED  # even the right password
    assert StaffUser.get(StaffUser.name == "kim").locked_until_ms == T0 + 60_000
    later = T0 + 61_000
    for _ in range(POLICY.max_failures):
        refused("kim", "wrong password!!", later)
    assert StaffUser.get(StaffUser.name == "kim").locked_until_ms == later + 120_000
    later += 121_000
    for _ in range(POLICY.max_failures):
        refused("kim", "wrong password!!", later)
    assert StaffUser.get(StaffUser.name == "kim").locked_until_ms == later + 200_000  # capped
    later += 201_000
    assert authenticate("kim", PASSWORD, "192.0.2.1", later, POLICY).name == "kim"
    row = StaffUser.get(StaffUser.name == "kim")
    assert (row.failures, row.lockouts, row.locked_until_ms) == (0, 0, 0)


def test_new_password_lifts_the_lockout(db: peewee.Database) -> None:
    users.add_user("kim", "official", PASSWORD)
    for _ in range(POLICY.max_failures):
        refused("kim", "wrong password!!", T0)
    users.set_password("kim", "another good password")
    assert authenticate("kim", "another good password", None, T0, POLICY).name == "kim"


def test_address_throttle(db: peewee.Database) -> None:
    policy = LoginPolicy(address_failures=3, address_window_s=60)
    users.add_user("kim", "official", PASSWORD)
    for name in ("a", "b", "c"):
        with pytest.raises(LoginRefused):
            authenticate(name, PASSWORD, "2001:db8::1", T0, policy)
    with pytest.raises(LoginRefused) as caught:  # the same /64, the right password
        authenticate("kim", PASSWORD, "2001:db8::99", T0 + 1000, policy)
    assert caught.value.reason == THROTTLED
    assert authenticate("kim", PASSWORD, "2001:db9::1", T0 + 1000, policy)  # another /64
    assert authenticate("kim", PASSWORD, "2001:db8::1", T0 + 61_000, policy)  # window over


def test_rehash_when_parameters_change(db: peewee.Database) -> None:
    users.add_user("kim", "official", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    StaffUser.update(password_hash=weak).execute()
    authenticate("kim", PASSWORD, None, T0, POLICY)
    stored = StaffUser.get().password_hash
    assert stored != weak and not passwords.needs_rehash(stored)


def test_unknown_name_costs_as_much_as_a_wrong_password(
    db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production parameters, whatever another test left behind: argon2's cost must
    # dominate a database commit's for the comparison to mean anything.
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())
    users.add_user("kim", "official", PASSWORD)

    def cost(name: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            with pytest.raises(LoginRefused):
                authenticate(name, "wrong password!!", "192.0.2.7", T0, LoginPolicy(99, 1, 1, 999))
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    unknown, wrong = cost("nobody"), cost("kim")
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)


def test_dummy_hash_follows_the_parameters_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    real = passwords.dummy_hash()
    assert not passwords.needs_rehash(real)
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    cheap = passwords.dummy_hash()
    assert cheap != real and "m=1024,t=1" in cheap
    monkeypatch.undo()
    assert passwords.dummy_hash() == real


@given(st.text(max_size=80))
def test_address_key_never_fails(address: str) -> None:
    assert len(address_key(address)) <= 64


def test_address_keys() -> None:
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key(None) == "unknown"


# -- sessions ----------------------------------------------------------------------------


def test_session_timeouts_and_logout(db: peewee.Database) -> None:
    account = users.add_user("kim", "official", PASSWORD)
    policy = SessionPolicy(idle_s=600, absolute_s=3600)
    sid = start_session(account, T0)
    assert StaffSession.get().sid_hash != sid.encode()  # only its hash is stored
    assert resume_session(sid, T0 + 599_000, policy) == account
    assert resume_session(sid, T0 + 1_190_000, policy) == account  # touched at +599 s
    assert resume_session(sid, T0 + 1_790_001, policy) is None  # idle 600 s
    assert StaffSession.select().count() == 0
    sid = start_session(account, T0)
    for minute in range(1, 60):
        assert resume_session(sid, T0 + minute * 60_000, policy) == account
    assert resume_session(sid, T0 + 3_600_000, policy) is None  # absolute
    sid = start_session(account, T0)
    end_session(sid)
    assert resume_session(sid, T0, policy) is None
    for hostile in (None, 5, "x" * 1000, ""):
        assert resume_session(hostile, T0, policy) is None


def test_stale_sessions_and_throttle_windows_are_pruned(db: peewee.Database) -> None:
    account = users.add_user("kim", "official", PASSWORD)
    policy = SessionPolicy(idle_s=600, absolute_s=3600)
    start_session(account, T0)
    live = start_session(account, T0 + 500_000)
    assert prune_sessions(T0 + 600_000, policy) == 1
    assert resume_session(live, T0 + 600_000, policy) == account
    throttle = LoginPolicy(address_window_s=60)
    with pytest.raises(LoginRefused):
        authenticate("nobody", PASSWORD, "192.0.2.1", T0, throttle)
    with pytest.raises(LoginRefused):
        authenticate("nobody", PASSWORD, "192.0.2.2", T0 + 60_000, throttle)
    assert [row.address for row in LoginThrottle.select()] == ["192.0.2.2"]


def test_disabling_or_new_password_ends_every_session(db: peewee.Database) -> None:
    account = users.add_user("kim", "official", PASSWORD)
    policy = SessionPolicy()
    first, second = start_session(account, T0), start_session(account, T0)
    users.set_password("kim", "another good password")
    assert resume_session(first, T0, policy) is None and resume_session(second, T0, policy) is None
    third = start_session(account, T0)
    users.set_disabled("kim")
    assert resume_session(third, T0, policy) is None
    users.set_disabled("kim", False)
    fourth = start_session(account, T0)
    assert users.log_out_everywhere("kim") == 1
    assert resume_session(fourth, T0, policy) is None


# -- the session signing key -------------------------------------------------------------


def test_secret_key_made_once_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "web-secret.key"
    key = secret_key.load_or_create(path)
    assert len(key) == secret_key.KEY_BYTES
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert secret_key.load_or_create(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["web-secret.key"]


def test_secret_key_racing_processes_agree(tmp_path: Path) -> None:
    path = tmp_path / "web-secret.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(secret_key.load_or_create(path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("ab" * 64, 0o640, "read by others"),
        ("not hex", 0o600, "hex"),
        ("abcd", 0o600, "fewer than 32"),
    ],
)
def test_secret_key_refuses_bad_files(tmp_path: Path, text: str, mode: int, message: str) -> None:
    path = tmp_path / "web-secret.key"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(SecretKeyError, match=message):
        secret_key.load_or_create(path)
