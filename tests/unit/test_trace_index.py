"""The visit index: tags keyed by the day key, venue column, in-place upgrade, forgetting."""

from __future__ import annotations

import peewee
import pytest

from aggregator.db import RETIRED_INDEXES, connect_database
from aggregator.forget import forget_sealed_visits
from aggregator.models_base import database_proxy
from aggregator.retention import destroy_expired_keys
from aggregator.tables import CheckinEntry
from aggregator.trace.schema import TRACE_COLUMNS, upgrade_checkin_table
from aggregator.vault import DayKey, DecryptError, KeyDestroyedError, NoKeyError, Vault, day_of
from simulator.visitors import enrol_visitor
from tests.unit.conftest import TEST_MASTER_KEY
from tests.unit.trace_town import DAY0, ISSUER, T0, Town, cid

DAY_S = 86_400


@pytest.fixture
def town(db: peewee.Database, test_vault: Vault) -> Town:
    return Town()


def test_each_visit_is_tagged_under_its_day_key_and_holds_no_credential_id(
    town: Town, test_vault: Vault
) -> None:
    visitor = town.visitor()
    first = town.visit(visitor, "cafe-in", T0)
    second = town.visit(visitor, "cafe-in", T0 + DAY_S)
    rows = [CheckinEntry.get_by_id(first.id), CheckinEntry.get_by_id(second.id)]
    assert [row.venue_id for row in rows] == ["cafe-1", "cafe-1"]
    tags = [bytes(row.visit_tag) for row in rows]
    assert tags[0] != tags[1] and all(len(tag) == 16 for tag in tags)  # unlinkable across days
    assert tags == [test_vault.visit_tag(row.day, cid(visitor)) for row in rows]
    # A fresh vault (no cache) computes the same tags from the stored day keys.
    found = Vault(TEST_MASTER_KEY).lookup_tags([row.day for row in rows], [cid(visitor)])
    assert found == {tags[0]: cid(visitor), tags[1]: cid(visitor)}
    for row in rows:
        clear = [v for k, v in row.__data__.items() if k != "sealed"]
        assert not any(cid(visitor) in bytes(v) for v in clear if isinstance(v, bytes))


def test_another_master_key_gives_other_tags(town: Town, test_vault: Vault) -> None:
    visitor = town.visitor()
    row = town.visit(visitor, "cafe-in", T0)
    assert Vault(bytes(32)).visit_tag(day_of(T0 * 1000) + 9, cid(visitor)) != row.visit_tag


def test_a_destroyed_key_computes_no_tag_and_retention_blanks_the_column(
    town: Town, test_vault: Vault
) -> None:
    visitor = town.visitor()
    row = town.visit(visitor, "cafe-in", T0)
    destroy_expired_keys(T0 + 40 * DAY_S, retention_days=28)
    assert Vault(TEST_MASTER_KEY).lookup_tags([row.day], [cid(visitor)]) == {}
    assert CheckinEntry.get_by_id(row.id).visit_tag is None


def test_forgetting_a_sealed_visit_blanks_its_venue_and_tag(town: Town) -> None:
    row = town.visit(town.visitor(), "cafe-in", T0)
    CheckinEntry.update(leaf_index=0).where(CheckinEntry.id == row.id).execute()
    assert forget_sealed_visits(row.day + 1) == 1
    forgotten = CheckinEntry.get_by_id(row.id)
    assert forgotten.venue_id is None and forgotten.visit_tag is None
    assert forgotten.placed_ms is None and forgotten.kiosk_id is None


def test_open_many_says_why_each_record_cannot_be_read(town: Town, test_vault: Vault) -> None:
    good = town.visit(town.visitor(), "cafe-in", T0)
    old = town.visit(enrol_visitor(ISSUER, T0 - 41 * DAY_S), "cafe-in", T0 - 40 * DAY_S)
    items = [
        (bytes(good.checkin_id), good.day, bytes(good.sealed)),
        (bytes(good.checkin_id), good.day, bytes(good.sealed)[:-1] + b"\x00"),
        (bytes(good.checkin_id), good.day, b""),
        (bytes(good.checkin_id), good.day + 100, bytes(good.sealed)),
        (bytes(old.checkin_id), old.day, bytes(old.sealed)),
    ]
    DayKey.update(destroyed=True, wrapped=b"").where(DayKey.day == old.day).execute()
    opened = test_vault.open_many(items)
    assert opened[0] == test_vault.open_entry(good)
    assert [type(o) for o in opened[1:]] == [
        DecryptError,
        DecryptError,
        NoKeyError,
        KeyDestroyedError,
    ]


def _drop_trace_columns(db: peewee.Database) -> None:
    """Make the check-in table the one version 11 made (no tracing columns, no indexes)."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(
            'ALTER TABLE "checkin" DROP COLUMN "venue_id", DROP COLUMN "visit_tag",'
            ' DROP COLUMN "door", DROP COLUMN "code_mark"'
        )
        return
    for (name,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'checkin'"
        " AND (sql LIKE '%venue_id%' OR sql LIKE '%visit_tag%')"
    ).fetchall():
        db.execute_sql(f'DROP INDEX "{name}"')
    for name in TRACE_COLUMNS:
        db.execute_sql(f'ALTER TABLE "checkin" DROP COLUMN "{name}"')


def _columns(db: peewee.Database) -> set[str]:
    return {column.name for column in db.get_columns("checkin")}


def test_a_database_made_before_tracing_opens_and_gains_the_columns(
    db: peewee.Database, db_url: str, test_vault: Vault
) -> None:
    town = Town()
    before = town.visit(town.visitor(), "cafe-in", T0)
    _drop_trace_columns(db)
    assert set(TRACE_COLUMNS).isdisjoint(_columns(db))
    assert upgrade_checkin_table(db) == ["venue_id", "visit_tag", "door", "code_mark"]
    _drop_trace_columns(db)
    reopened = connect_database(db_url)  # what every process does at start
    try:
        assert set(TRACE_COLUMNS) <= _columns(reopened)
        indexes = {tuple(i.columns) for i in reopened.get_indexes("checkin")}
        assert ("venue_id", "placed_ms") in indexes and ("visit_tag",) in indexes
        assert upgrade_checkin_table(reopened) == []  # idempotent
        with database_proxy.bound_to(reopened):
            old = CheckinEntry.get_by_id(before.id)
            assert old.venue_id is None and old.visit_tag is None  # not back-filled
            after = town.visit(town.visitor(), "cafe-in", T0 + 60)
            fresh = CheckinEntry.get_by_id(after.id)
            assert fresh.visit_tag is not None and fresh.door == "entrance"
            assert fresh.code_mark is not None
    finally:
        reopened.close()


def test_a_new_database_needs_no_upgrade(db: peewee.Database) -> None:
    assert upgrade_checkin_table(db) == []
    assert DAY0 % DAY_S == 0


def test_backfill_indexes_rows_stored_before_the_upgrade(
    db: peewee.Database, test_vault: Vault
) -> None:
    from aggregator.trace.backfill import backfill_visit_index
    from aggregator.trace.exposure import credential_ids_of, find_exposures

    town = Town()
    case, other = town.visitor(), town.visitor()
    rows = [town.visit(case, "cafe-in", T0), town.visit(other, "cafe-in", T0 + 60)]
    gone = town.visit(enrol_visitor(ISSUER, T0 - 41 * DAY_S), "bar-in", T0 - 40 * DAY_S)
    stored = {
        row.id: (bytes(entry.visit_tag), entry.door, entry.code_mark)
        for row in rows
        for entry in [CheckinEntry.get_by_id(row.id)]
    }
    CheckinEntry.update(  # as an upgraded database
        venue_id=None, visit_tag=None, door=None, code_mark=None
    ).execute()
    destroy_expired_keys(T0 + 1, retention_days=28)  # the old visit's key is gone

    def trace():
        return find_exposures([cid(case)], T0 * 1000, (T0 + 3600) * 1000, vault=test_vault)

    assert trace().case_stays == ()
    assert backfill_visit_index(test_vault, batch=1) == (2, 0)
    for row in rows:
        entry = CheckinEntry.get_by_id(row.id)
        assert entry.venue_id == "cafe-1"
        assert (bytes(entry.visit_tag), entry.door, entry.code_mark) == stored[row.id]
    assert CheckinEntry.get_by_id(gone.id).visit_tag is None
    handles = [e.handle for e in trace().exposures]
    assert list(credential_ids_of(handles, vault=test_vault).values()) == [cid(other)]
    assert backfill_visit_index(test_vault) == (0, 0)  # nothing left to do


def test_an_index_earlier_versions_made_is_dropped_on_open(
    db: peewee.Database, db_url: str
) -> None:
    def names(database: peewee.Database) -> set[str]:
        return {index.name for index in database.get_indexes("checkin")}

    assert "checkin_kiosk_id" not in names(db)  # a new database never has it
    db.execute_sql('CREATE INDEX "checkin_kiosk_id" ON "checkin" ("kiosk_id")')  # as before
    reopened = connect_database(db_url)  # what every process does at start
    try:
        assert set(RETIRED_INDEXES).isdisjoint(names(reopened))
        assert any(
            i.columns[:2] == ["kiosk_id", "seq"] and i.unique
            for i in reopened.get_indexes("checkin")
        )
    finally:
        reopened.close()
