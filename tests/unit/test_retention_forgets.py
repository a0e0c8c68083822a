"""Retention forgets: after a day key goes, nothing but the leaf says where or when.

The SQLite test reads the database file itself (and its WAL) after the retention run
and looks for every kiosk id, presentation hash and time of the forgotten visits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import peewee
import pytest

from aggregator.audit import verify_ledger
from aggregator.db import CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.proofs import TreeCache, inclusion
from aggregator.retention import destroy_expired_keys
from aggregator.vault import Vault
from protocol import topics
from protocol.merkle import verify_inclusion
from tests.unit.ledger_site import ISSUER, LEDGER, ORIGIN, LedgerSite, sequencer

DAY0 = 20_412  # 2025-11-20, a UTC day number
T0 = DAY0 * 86_400 + 3_600  # 01:00 on DAY0
KEPT_AT = T0 + 40 * 86_400  # day 40: within 28 days of NOW
NOW = KEPT_AT + 60
#: What says where or when of a visit: NULL once it is forgotten (aggregator/forget.py).
FORGOTTEN_COLUMNS = (
    "kiosk",
    "seq",
    "presentation_hash",
    "scanned_ms",
    "received_ms",
    "boot_id",
    "mono_ms",
    "placed_ms",
    "placement",
)


@pytest.fixture
def site(db: peewee.Database) -> LedgerSite:
    return LedgerSite("forget")


def _visits(site: LedgerSite) -> tuple[list[CheckinEntry], list[bytes]]:
    """Visits of kiosk-a on days 0 and 1 (to forget), then one of kiosk-b on day 40 (kept)."""
    forgotten, wires = [], []
    for at in (T0, T0 + 7, T0 + 86_400):
        wire = site.wire(at, "kiosk-a")
        outcome = Ingestor([ISSUER.public_key()], now=lambda at=at: at).handle(
            topics.topic("kiosk-a", topics.CHECKIN), wire
        )
        assert outcome.result is Result.STORED and outcome.entry is not None
        forgotten.append(outcome.entry)
        wires.append(wire)
        assert sequencer(batch_size=10, now=at + 30).seal() is not None
    site.scan(KEPT_AT, "kiosk-b")
    assert sequencer(batch_size=10, now=KEPT_AT + 30).seal() is not None
    return forgotten, wires


def _times(entry: CheckinEntry) -> set[int]:
    return {entry.scanned_ms, entry.received_ms, entry.placed_ms}


def test_forgotten_rows_keep_only_the_leaf_and_the_ledger_verifies(
    site: LedgerSite, test_vault: Vault
) -> None:
    forgotten, _ = _visits(site)
    before = verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)

    report = destroy_expired_keys(NOW, retention_days=28)
    assert report.days == (DAY0, DAY0 + 1) and report.visits_forgotten == 3

    by_id = {bytes(row.checkin_id): row for row in CheckinEntry.select()}
    for entry in forgotten:
        row = by_id[bytes(entry.checkin_id)]
        assert all(getattr(row, name) is None for name in FORGOTTEN_COLUMNS), row.__data__
        assert bytes(row.sealed) == b""
        assert bytes(row.leaf_hash) == bytes(entry.leaf_hash)
        assert row.leaf_index is not None and row.block_height is not None
    kept = [row for row in by_id.values() if row.day == DAY0 + 40]
    assert [row.kiosk_id for row in kept] == ["kiosk-b"] and kept[0].placement is not None

    assert verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault) == before
    assert verify_ledger(LEDGER.public_key(), ORIGIN) == before
    proof = inclusion(TreeCache(), bytes(forgotten[0].checkin_id), None)
    verify_inclusion(proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.proof, proof.root)
    assert destroy_expired_keys(NOW, retention_days=28).visits_forgotten == 0  # idempotent


def test_a_forgotten_visit_sent_again_still_gets_its_receipt(
    site: LedgerSite, test_vault: Vault
) -> None:
    _, wires = _visits(site)
    destroy_expired_keys(NOW, retention_days=28)
    outcome = Ingestor([ISSUER.public_key()], now=lambda: T0 + 8).handle(
        topics.topic("kiosk-a", topics.CHECKIN), wires[0]
    )
    assert outcome.result is Result.DUPLICATE and outcome.entry is not None
    assert sequencer().receipt_again(outcome.entry) is not None
    assert CheckinEntry.get(CheckinEntry.checkin_id == outcome.entry.checkin_id).kiosk_id is None


def _file_bytes(db_url: str) -> bytes:
    path = Path(urlparse(db_url).path)
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def _int_encodings(value: int) -> list[bytes]:
    """How SQLite (6 or 8 bytes) and PostgreSQL (8 bytes) may store a time in ms."""
    return [value.to_bytes(6, "big"), value.to_bytes(8, "big"), value.to_bytes(8, "little")]


@pytest.mark.sqlite_only
def test_the_database_file_holds_nothing_of_a_forgotten_visit(
    site: LedgerSite, db: peewee.Database, db_url: str, test_vault: Vault
) -> None:
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    enrolled = _file_bytes(db_url)  # the kiosk registry names kiosks and venues, no visit
    registry = {name: enrolled.count(name) for name in (b"kiosk-a", b"venue-1")}
    forgotten, _ = _visits(site)
    secrets = {"presentation hash": [bytes(e.presentation_hash) for e in forgotten]}
    secrets["time"] = [enc for e in forgotten for t in _times(e) for enc in _int_encodings(t)]
    stored = _file_bytes(db_url)
    assert all(secret in stored for secret in secrets["presentation hash"])
    assert all(e.scanned_ms.to_bytes(6, "big") in stored for e in forgotten)

    destroy_expired_keys(NOW, retention_days=28)

    raw = _file_bytes(db_url)
    for what, values in secrets.items():
        assert not [v.hex() for v in values if v in raw], f"a forgotten {what} is still stored"
    # The kept visit (kiosk-b, same venue) names its venue in its row and the
    # (venue, placed time) index of tracing (aggregator/trace/): two more, no more.
    registry[b"venue-1"] += 2
    assert {name: raw.count(name) for name in registry} == registry
    assert verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault).tree_size == 4


def _make_columns_strict(db: peewee.Database) -> None:
    """Turn the check-in table back into the one made before rows could be forgotten."""
    names = ['"kiosk_id"', '"seq"', '"presentation_hash"', '"scanned_ms"', '"received_ms"']
    if isinstance(db, peewee.PostgresqlDatabase):
        for name in names:
            db.execute_sql(f'ALTER TABLE "checkin" ALTER COLUMN {name} SET NOT NULL')
        return
    sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'checkin'").fetchone()[0]
    indexes = db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'checkin' AND type = 'index'"
    ).fetchall()
    for name in names:
        column = sql[sql.index(name) :].split(",")[0]
        sql = sql.replace(column, column + " NOT NULL")
    db.execute_sql('DROP TABLE "checkin"')
    db.execute_sql(sql)
    for (index,) in indexes:
        db.execute_sql(index)


def test_a_database_made_before_forgetting_is_upgraded(
    site: LedgerSite, db: peewee.Database, test_vault: Vault
) -> None:
    _make_columns_strict(db)
    forgotten, wires = _visits(site)
    before = verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)
    assert destroy_expired_keys(NOW, retention_days=28).visits_forgotten == 3
    assert verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault) == before
    row = CheckinEntry.get(CheckinEntry.checkin_id == forgotten[0].checkin_id)
    assert row.kiosk_id is None and row.presentation_hash is None
    # The unique keys came back with the table: the same record again is a duplicate.
    again = Ingestor([ISSUER.public_key()], now=lambda: T0 + 8).handle(
        topics.topic("kiosk-a", topics.CHECKIN), wires[0]
    )
    assert again.result is Result.DUPLICATE
    digest = hashlib.sha256(b"x").digest()
    with pytest.raises(peewee.IntegrityError), db.atomic():
        CheckinEntry.update(checkin_id=digest[:16]).execute()
