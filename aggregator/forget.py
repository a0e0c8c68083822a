"""Forgetting old visits: blank every column that says where or when, keep the leaf.

Once a day's data key is destroyed (aggregator/retention.py) its visits can no longer
be read; this module also erases what the row itself said about them: the kiosk, the
sequence number, the presentation hash, the scan, receipt and placement times and the
clock fields. What stays is what the ledger needs: the check-in id, the commitment,
the leaf hash, the leaf index and block height, and the day number (the block's own
signed time says as much). Only sealed rows are forgotten: an unsealed row still needs
its kiosk and sequence number for its receipt, and is forgotten by the first run after
it is sealed.

Rows written before these columns were nullable are upgraded in place the first
time (:func:`allow_forgetting`). Afterwards the database is asked to drop the old
bytes (:func:`reclaim`): on SQLite ``secure_delete`` (aggregator/db.py) has already
overwritten them in the pages, and a truncating WAL checkpoint removes the old page
images; on PostgreSQL a VACUUM prunes the dead row versions.
"""

from __future__ import annotations

import logging

import peewee

from .models_base import concrete_database
from .tables import CheckinEntry

log = logging.getLogger(__name__)

#: The columns of a check-in row that are blanked (set to NULL) when it is forgotten.
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
    "venue_id",
    "visit_tag",
    "door",
    "code_mark",
)
#: Tables whose erased bytes :func:`reclaim` asks PostgreSQL to prune.
_VACUUMED = ("checkin", "daykey")


def forget_sealed_visits(cutoff_day: int) -> int:
    """Blank the details of every sealed check-in stored before ``cutoff_day``; how many.

    Idempotent: a row already forgotten (its kiosk is NULL) is not counted again.
    """
    fields = CheckinEntry._meta.fields
    blank: dict[peewee.Field, object] = {fields[name]: None for name in FORGOTTEN_COLUMNS}
    blank[CheckinEntry.sealed] = b""
    return (
        CheckinEntry.update(blank)
        .where(
            (CheckinEntry.day < cutoff_day)
            & CheckinEntry.leaf_index.is_null(False)
            & CheckinEntry.kiosk.is_null(False)
        )
        .execute()
    )


def _column_names() -> list[str]:
    fields = CheckinEntry._meta.fields
    return [fields[name].column_name for name in FORGOTTEN_COLUMNS]


def _concrete(db: peewee.Database) -> peewee.Database:
    """The database behind a proxy (the models' own), or ``db`` itself."""
    return concrete_database(db)


def allow_forgetting(db: peewee.Database) -> bool:
    """Make the forgotten columns nullable in a database made before they were; True if changed."""
    db = _concrete(db)
    table = CheckinEntry._meta.table_name
    if isinstance(db, peewee.PostgresqlDatabase):
        rows = db.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s AND is_nullable = 'NO'",
            (table,),
        ).fetchall()
        strict = [name for (name,) in rows if name in _column_names()]
        for name in strict:
            db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" DROP NOT NULL')
        return bool(strict)
    info = db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()
    if not any(row[1] in _column_names() and row[3] for row in info):
        return False
    _rebuild_sqlite_table(db, [row[1] for row in info])
    return True


def _rebuild_sqlite_table(db: peewee.Database, columns: list[str]) -> None:
    """SQLite cannot drop NOT NULL: copy the rows into the table as the model defines it."""
    table = CheckinEntry._meta.table_name
    old = f"{table}__strict"
    names = ", ".join(f'"{name}"' for name in columns)
    indexes = db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    for (index,) in indexes:
        db.execute_sql(f'DROP INDEX "{index}"')
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    CheckinEntry.create_table(safe=False)
    db.execute_sql(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{old}"')
    db.execute_sql(f'DROP TABLE "{old}"')
    log.info("retention: made the check-in table's visit columns forgettable")


def reclaim(db: peewee.Database) -> None:
    """Ask the database to drop the old row versions that still hold the erased bytes.

    Call outside any transaction. On SQLite a reader holding an old snapshot can keep
    the checkpoint from finishing: that is logged, and the next run finishes it.
    """
    db = _concrete(db)
    if isinstance(db, peewee.PostgresqlDatabase):
        for table in _VACUUMED:  # VACUUM cannot run in a transaction: peewee autocommits
            db.execute_sql(f'VACUUM "{table}"')
        return
    busy, wal_pages, copied = db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy or (wal_pages >= 0 and copied < wal_pages):
        log.warning(
            "retention: the SQLite WAL could not be emptied (a reader holds it);"
            " erased bytes may remain in it until the next run"
        )
