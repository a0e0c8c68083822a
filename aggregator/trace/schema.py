"""The check-in table's tracing columns, added in place to a database made before them.

Version 12 added nullable columns to ``checkin`` (``venue_id``, ``visit_tag``, ``door``,
``code_mark``) and two indexes (``visit_tag``; ``venue_id, placed_ms``). ``peewee``'s
``create_tables`` leaves an existing table as it is and then creates its indexes, which
would fail on the missing columns; :func:`upgrade_checkin_table` runs first (aggregator/db.py) and
adds whatever columns are missing (``ALTER TABLE ... ADD COLUMN``, cheap on both
databases: nullable, no default). Rows stored before have no tag: they are found by
venue and time, never by credential (the exposure engine decrypts them only when
they lie at a case's venue around its stays).
"""

from __future__ import annotations

import logging

import peewee

from ..models_base import concrete_database
from ..tables import CheckinEntry

log = logging.getLogger(__name__)

#: The columns version 12 added, by model field name.
TRACE_COLUMNS = ("venue_id", "visit_tag", "door", "code_mark")


def _existing_columns(db: peewee.Database, table: str) -> set[str] | None:
    """The column names of ``table``, or None when it does not exist yet."""
    if isinstance(db, peewee.PostgresqlDatabase):
        rows = db.execute_sql(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
    else:
        rows = db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()
        rows = [(row[1],) for row in rows]
    return {name for (name,) in rows} or None


def upgrade_checkin_table(db: peewee.Database) -> list[str]:
    """Add the tracing columns missing from an existing ``checkin`` table; their names."""
    db = concrete_database(db)
    table = CheckinEntry._meta.table_name
    present = _existing_columns(db, table)
    if present is None:  # a new database: create_tables makes it whole
        return []
    added = []
    for name in TRACE_COLUMNS:
        field = CheckinEntry._meta.fields[name]
        if field.column_name in present:
            continue
        kind = "BYTEA" if isinstance(db, peewee.PostgresqlDatabase) else "BLOB"
        if isinstance(field, peewee.CharField):
            kind = f"VARCHAR({field.max_length})"
        elif isinstance(field, peewee.IntegerField):
            kind = "SMALLINT"
        db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{field.column_name}" {kind}')
        added.append(field.column_name)
    if added:
        log.info("database upgraded: check-in table gained %s", ", ".join(added))
    return added
