"""Tracing's cache of derived day keys (aggregator.vault): checked against the rows each call.

A trace reuses the day keys it unwrapped (and their tag and mark keys) within
``_DERIVED_TTL_S``, but only while the database row still holds the same wrapped key:
a destroyed, missing or replaced key is never used from memory, and the cache is
bounded, aged and cleared by retention in this process.
"""

from __future__ import annotations

import peewee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import vault as vault_module
from aggregator.retention import destroy_expired_keys
from aggregator.vault import DayKey, DayKeys, KeyDestroyedError, NoKeyError, Vault
from tests.unit.conftest import TEST_MASTER_KEY

DAY = 20_458
DAY_S = 86_400
CID = b"\x07" * 8


def _make_keys(days: range) -> None:
    maker = Vault(TEST_MASTER_KEY)
    for day in days:
        maker.seal(bytes(16), b"", day)


def test_a_destroyed_key_is_not_used_from_the_cache(db: peewee.Database) -> None:
    _make_keys(range(DAY, DAY + 3))
    tracer = Vault(TEST_MASTER_KEY)  # not the installed vault: only the rows can tell it
    before = tracer.lookup_tags([DAY, DAY + 1, DAY + 2], [CID])
    assert len(before) == 3 and set(tracer._derived) == {DAY, DAY + 1, DAY + 2}
    destroy_expired_keys((DAY + 1) * DAY_S + 28 * DAY_S, retention_days=28)  # destroys DAY
    keys = tracer.day_keys([DAY, DAY + 1, DAY + 2])
    assert not keys.usable(DAY) and keys.usable(DAY + 1)
    with pytest.raises(KeyDestroyedError):
        keys.tag(DAY, CID)
    assert DAY not in tracer._derived
    assert len(tracer.lookup_tags([DAY, DAY + 1, DAY + 2], [CID])) == 2


def test_retention_in_this_process_clears_the_installed_vault(
    db: peewee.Database, test_vault: Vault
) -> None:
    _make_keys(range(DAY, DAY + 2))
    test_vault.lookup_tags([DAY, DAY + 1], [CID])
    assert DAY in test_vault._derived
    destroy_expired_keys((DAY + 1) * DAY_S + 28 * DAY_S, retention_days=28)
    assert DAY not in test_vault._derived and DAY + 1 in test_vault._derived


def test_a_replaced_or_missing_key_is_not_used_from_the_cache(db: peewee.Database) -> None:
    _make_keys(range(DAY, DAY + 2))
    tracer = Vault(TEST_MASTER_KEY)
    first = tracer.lookup_tags([DAY, DAY + 1], [CID])
    DayKey.delete().where(DayKey.day == DAY + 1).execute()
    _make_keys(range(DAY + 1, DAY + 2))  # a new key for that day
    second = tracer.lookup_tags([DAY, DAY + 1], [CID])
    assert set(first) & set(second) == {tracer.day_keys([DAY]).tag(DAY, CID)}
    assert second == Vault(TEST_MASTER_KEY).lookup_tags([DAY, DAY + 1], [CID])  # not cached
    DayKey.delete().where(DayKey.day == DAY).execute()
    keys = tracer.day_keys([DAY, DAY + 1])
    with pytest.raises(NoKeyError):
        keys.tag(DAY, CID)
    assert set(tracer._derived) == {DAY + 1}


def test_the_cache_is_bounded_aged_and_cleared(
    db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = vault_module._DERIVED_MAX_DAYS + 5
    _make_keys(range(DAY, DAY + many))
    tracer = Vault(TEST_MASTER_KEY)
    clock = [1000.0]
    monkeypatch.setattr(vault_module.time, "monotonic", lambda: clock[0])
    tracer.day_keys(list(range(DAY, DAY + many)))
    assert len(tracer._derived) == vault_module._DERIVED_MAX_DAYS
    clock[0] += vault_module._DERIVED_TTL_S + 1
    tracer.day_keys([DAY + many - 1])  # every older entry has aged out; this one is new
    assert list(tracer._derived) == [DAY + many - 1]
    tracer.forget_cached()
    assert not tracer._derived


def test_cached_keys_give_the_same_tags_and_code_types(db: peewee.Database) -> None:
    _make_keys(range(DAY, DAY + 2))
    tracer = Vault(TEST_MASTER_KEY)
    fresh = Vault(TEST_MASTER_KEY)
    checkin_id = bytes(range(16))
    mark = fresh.code_mark(DAY, checkin_id, 2)
    for _ in range(3):  # the kept ECB contexts carry nothing from one call to the next
        assert tracer.lookup_tags([DAY, DAY + 1], [CID, b"\x01" * 8]) == fresh.lookup_tags(
            [DAY, DAY + 1], [CID, b"\x01" * 8]
        )
        assert tracer.day_keys([DAY]).code_types(DAY, [(checkin_id, mark)] * 2) == [2, 2]


def test_a_tag_gives_back_its_credential_id_and_nothing_else_does(db: peewee.Database) -> None:
    _make_keys(range(DAY, DAY + 2))
    keys = Vault(TEST_MASTER_KEY).day_keys([DAY, DAY + 1])
    ids = [CID, b"\x01" * 8, b"\x02" * 15, b"\x03"]
    for day in (DAY, DAY + 1):
        tags = [keys.tag(day, cid) for cid in ids]
        assert keys.credential_ids_of_tags(day, tags) == ids
    other_day = [keys.tag(DAY + 1, CID)]
    assert keys.credential_ids_of_tags(DAY, other_day) != [CID]  # a day's key, its own tags
    assert keys.credential_ids_of_tags(DAY, [b"", b"x" * 15, b"x" * 17]) == [None] * 3
    with pytest.raises(NoKeyError):
        keys.credential_ids_of_tags(DAY + 5, [keys.tag(DAY, CID)])


@given(st.binary(min_size=16, max_size=16))
@settings(max_examples=200, deadline=None)
def test_a_forged_tag_never_passes_for_a_short_id(forged: bytes) -> None:
    """A random block decodes to an id only by chance; a real tag decodes to its own id."""
    from aggregator.vault import _DayKey

    key = _DayKey(bytes(32))
    ids = DayKeys({DAY: key}).credential_ids_of_tags(DAY, [forged])
    assert len(ids) == 1
    if ids[0] is not None:
        assert DayKeys({DAY: key}).tag(DAY, ids[0]) == forged
