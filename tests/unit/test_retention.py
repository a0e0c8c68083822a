"""Per-day data keys and retention: readable before, unreadable after, the chain verifies."""

from __future__ import annotations

import os
from pathlib import Path

import peewee
import pytest

from aggregator import vault as vault_mod
from aggregator.audit import verify_ledger
from aggregator.db import CheckinEntry
from aggregator.retention import destroy_expired_keys, first_kept_day
from aggregator.vault import (
    DAY_MS,
    DayKey,
    DecryptError,
    KeyDestroyedError,
    NoKeyError,
    Vault,
    VaultError,
    day_of,
    load_master_key,
)
from protocol.checkin import parse_checkin
from tests.unit.ledger_site import LEDGER, ORIGIN, LedgerSite, sequencer

DAY0 = 20_412  # 2025-11-20, a UTC day number
T0 = DAY0 * 86_400 + 3_600  # 01:00 on DAY0


def rows() -> list[CheckinEntry]:
    return list(CheckinEntry.select().order_by(CheckinEntry.id))


@pytest.fixture
def site(db: peewee.Database) -> LedgerSite:
    return LedgerSite("retention")


def test_a_stored_visit_is_not_readable_without_the_vault(site: LedgerSite) -> None:
    row = CheckinEntry.get_by_id(site.scan(T0).id)
    stored = b"".join(bytes(getattr(row, f.name)) for f in _blob_fields())
    record = parse_checkin(vault_mod.installed().open_entry(row))
    assert record.presentation not in stored, "the presentation is stored only encrypted"
    assert record.wire not in stored
    assert bytes(row.commit) == record.digest


def _blob_fields() -> list[peewee.Field]:
    return [f for f in CheckinEntry._meta.sorted_fields if isinstance(f, peewee.BlobField)]


def test_day_keys_are_made_on_first_use_and_stored_wrapped(
    site: LedgerSite, test_vault: Vault
) -> None:
    assert DayKey.select().count() == 0
    site.scan(T0)
    site.scan(T0 + 60)
    site.scan(T0 + 86_400)
    keys = list(DayKey.select().order_by(DayKey.day))
    assert [k.day for k in keys] == [DAY0, DAY0 + 1]
    assert all(len(bytes(k.wrapped)) == 12 + 32 + 16 for k in keys)
    assert [r.day for r in rows()] == [DAY0, DAY0, DAY0 + 1]
    # Another process with the same master key reads them; one with another key does not.
    fresh = Vault(bytes(range(32)))
    assert parse_checkin(fresh.open_entry(rows()[0])).seq == 1
    with pytest.raises(DecryptError, match="wrong master key"):
        Vault(bytes(32)).open_entry(rows()[0])


def test_ciphertext_is_bound_to_its_day_and_checkin(site: LedgerSite, test_vault: Vault) -> None:
    a, b = site.scan(T0), site.scan(T0 + 1)
    with pytest.raises(DecryptError):
        test_vault.open(bytes(a.checkin_id), a.day, bytes(b.sealed))
    with pytest.raises(NoKeyError):
        test_vault.open(bytes(a.checkin_id), a.day + 5, bytes(a.sealed))
    with pytest.raises(DecryptError, match="no ciphertext"):
        test_vault.open(bytes(a.checkin_id), a.day, b"")


def test_retention_destroys_old_days_and_the_chain_still_verifies(
    site: LedgerSite, test_vault: Vault
) -> None:
    days = [T0, T0 + 86_400, T0 + 40 * 86_400]  # day 0, day 1, day 40
    for at in days:
        site.scan(at, "kiosk-a")
        site.scan(at + 5, "kiosk-b")
        assert sequencer(batch_size=3, now=at + 10).seal() is not None
    before = verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)
    assert before.tree_size == 6
    for row in rows():  # every record readable, and it is the committed one
        record = parse_checkin(test_vault.open_entry(row))
        assert record.checkin_id == bytes(row.checkin_id)

    # On day 40 with 28 days' retention, days 0 and 1 go; day 40 stays.
    now = T0 + 40 * 86_400 + 60
    report = destroy_expired_keys(now, retention_days=28)
    assert report.days == (DAY0, DAY0 + 1)
    assert report.records_erased == 4
    for row in rows():
        if row.day < DAY0 + 40:
            assert bytes(row.sealed) == b""
            with pytest.raises(KeyDestroyedError):
                test_vault.open_entry(row)
            with pytest.raises(KeyDestroyedError):  # even with the old ciphertext
                test_vault.open(bytes(row.checkin_id), row.day, b"\x00" * 60)
        else:
            assert parse_checkin(test_vault.open_entry(row)).checkin_id == bytes(row.checkin_id)
    destroyed = DayKey.select().where(DayKey.destroyed)
    assert [bytes(k.wrapped) for k in destroyed] == [b"", b""]

    after = verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)
    assert after == before
    assert verify_ledger(LEDGER.public_key(), ORIGIN) == before
    assert destroy_expired_keys(now, retention_days=28).days == ()  # idempotent


def test_a_destroyed_day_never_gets_a_new_key(site: LedgerSite, test_vault: Vault) -> None:
    site.scan(T0)
    destroy_expired_keys(T0 + 30 * 86_400)
    fresh = Vault(bytes(range(32)))
    with pytest.raises(KeyDestroyedError):
        fresh.seal(b"x" * 16, b"late record", DAY0)


def test_retention_boundary_is_whole_days() -> None:
    # At 00:00 on day 29, day 0 has been over for exactly 28 days.
    assert first_kept_day((DAY0 + 29) * 86_400, 28) == DAY0 + 1
    assert first_kept_day((DAY0 + 29) * 86_400 - 0.001, 28) == DAY0
    with pytest.raises(ValueError):
        first_kept_day(T0, 0)
    assert day_of(DAY0 * DAY_MS) == DAY0 and day_of(DAY0 * DAY_MS - 1) == DAY0 - 1


def test_storing_without_a_vault_is_refused(site: LedgerSite) -> None:
    vault_mod.install(None)
    with pytest.raises(VaultError, match="no data vault"):
        site.scan(T0)
    assert CheckinEntry.select().count() == 0


def test_master_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data-master.key"
    with pytest.raises(VaultError, match="cannot read"):
        load_master_key(path)
    key = load_master_key(path, create=True)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_master_key(path, create=True) == key
    os.chmod(path, 0o644)
    with pytest.raises(VaultError, match="owner only"):
        load_master_key(path)
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(VaultError, match="32 raw bytes"):
        load_master_key(path)


@pytest.mark.sqlite_only
def test_any_stored_bytes_give_a_typed_error_never_another(
    site: LedgerSite, test_vault: Vault
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    row = site.scan(T0)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(sealed=st.binary(max_size=200), checkin_id=st.binary(min_size=16, max_size=16))
    def opening(sealed: bytes, checkin_id: bytes) -> None:
        try:
            wire = test_vault.open(checkin_id, row.day, sealed)
        except VaultError:
            return
        assert checkin_id == bytes(row.checkin_id) and sealed == bytes(row.sealed), wire

    opening()
