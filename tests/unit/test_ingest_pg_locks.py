"""Two ingest transactions storing check-ins of one kiosk on PostgreSQL never deadlock.

Each stores its rows first (the foreign key takes a KEY SHARE lock on the kiosk's
row), then locks the kiosk rows to count sequence gaps. A lock that conflicts with
KEY SHARE (``FOR UPDATE``) would make each wait for the other's KEY SHARE: PostgreSQL
then aborts one ("deadlock detected"), its batch is not stored and its kiosk waits
for a resend (seconds of receipt latency in ``safecode bench ingest``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import peewee
import pytest

from aggregator.db import KioskEntry, open_database
from aggregator.ingest import _Prepared
from aggregator.registry import enrol_kiosk
from aggregator.status_store import status_row, store_statuses
from protocol import keys

KIOSK = "kiosk-lock"


@pytest.fixture
def pg(pg_schema_url: str) -> Iterator[peewee.Database]:
    database = open_database(pg_schema_url)
    enrol_kiosk(KIOSK, "venue-lock", keys.public_bytes(keys.generate()))
    database.close()
    yield database
    database.close()


def _insert_row(db: peewee.Database) -> None:
    """A check-in row of KIOSK (its foreign key locks the kiosk row FOR KEY SHARE)."""
    db.execute_sql(
        'INSERT INTO "checkin" ("checkin_id", "kiosk_id", "seq", "commit", "day", "sealed", '
        '"leaf_hash") VALUES (%s, %s, %s, %s, 1, %s, %s)',
        [os.urandom(16), KIOSK, int.from_bytes(os.urandom(4), "big") + 1, b"c", b"s", b"l"],
    )


def test_two_batches_of_one_kiosk_lock_its_row_without_deadlock(pg: peewee.Database) -> None:
    prepared = _Prepared()
    second_inserted = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with pg.atomic():
                _insert_row(pg)
                second_inserted.set()
                time.sleep(0.3)  # the first now holds (or waits for) the kiosk's lock
                prepared.highest_seqs([KIOSK])
        except peewee.DatabaseError as exc:
            errors.append(exc)
        finally:
            second_inserted.set()
            pg.close()

    thread = threading.Thread(target=second)
    try:
        with pg.atomic():
            _insert_row(pg)
            thread.start()
            assert second_inserted.wait(10)
            assert prepared.highest_seqs([KIOSK]) == {KIOSK: 0}
            time.sleep(0.6)  # the second asks for the lock meanwhile, and waits
    except peewee.DatabaseError as exc:
        errors.append(exc)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert KioskEntry.select().where(KioskEntry.kiosk_id == KIOSK).count() == 1


def test_a_heartbeat_batch_and_an_ingest_batch_take_kiosk_rows_in_one_order(
    pg_schema_url: str,
) -> None:
    """Ingest locks kiosk rows in kiosk order; the heartbeat store must too.

    kiosk-b is enrolled first, so a plain UPDATE would take its row before kiosk-a's.
    Ingest holds kiosk-a; the heartbeat batch waits for it; ingest then locks kiosk-b.
    Had the batch already taken kiosk-b, PostgreSQL would abort one as a deadlock.
    """
    database = open_database(pg_schema_url)
    for kiosk in ("kiosk-b", "kiosk-a"):
        enrol_kiosk(kiosk, "venue-lock", keys.public_bytes(keys.generate()))
    database.close()
    prepared = _Prepared()
    errors: list[BaseException] = []
    beat = {"v": 1, "state": "online"}

    def heartbeats() -> None:
        try:
            with database.atomic():
                store_statuses([status_row(k, beat, 1_000) for k in ("kiosk-b", "kiosk-a")])
        except peewee.DatabaseError as exc:
            errors.append(exc)
        finally:
            database.close()

    thread = threading.Thread(target=heartbeats)
    try:
        with database.atomic():
            assert prepared.highest_seqs(["kiosk-a"]) == {"kiosk-a": 0}
            thread.start()
            time.sleep(0.6)  # the heartbeat batch now waits for kiosk-a
            assert prepared.highest_seqs(["kiosk-b"]) == {"kiosk-b": 0}
    except peewee.DatabaseError as exc:
        errors.append(exc)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    stored = KioskEntry.select().where(KioskEntry.last_status.is_null(False)).count()
    assert stored == 2
    database.close()
