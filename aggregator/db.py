"""The aggregator's storage (peewee): opening the ledger database and creating its tables.

SQLite in WAL mode by default; any peewee database URL works (``sqlite:///path``
or ``postgresql://...``). The tables are defined in ``aggregator.tables`` and the
modules ``aggregator.models`` lists; the names below are re-exported for callers.

``open_database`` binds the models for the whole process (ingest, sequencer, command
line tools); ``connect_database`` leaves that binding alone, for a web app that binds
its own database per request (``aggregator.web_db``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

from support.private_files import prepare_private_sqlite

from .models import all_models
from .models_base import BaseModel, database_proxy
from .tables import BlockEntry, CheckinEntry, KioskEntry
from .trace.schema import upgrade_checkin_table

__all__ = [
    "BaseModel",
    "BlockEntry",
    "CheckinEntry",
    "KioskEntry",
    "all_models",
    "connect_database",
    "database_proxy",
    "open_database",
]

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    # Deleted rows (destroyed day keys, erased visits) are overwritten, not left in free pages.
    "secure_delete": 1,
    # WAL pages before a commit copies them back into the database (SQLite's default is
    # 1,000, 4 MB): an ingest batch rewrites hundreds of index pages, so at the default
    # nearly every commit also ran a checkpoint, copying again pages that the next batch
    # rewrites. 20,000 pages (80 MB of WAL) cost ingest 40 % less CPU per commit at
    # 40,000 check-ins. Durability is unchanged (synchronous=2 syncs the WAL at each
    # commit); retention still empties the WAL itself (aggregator/forget.py).
    "wal_autocheckpoint": 20_000,
}
#: Seconds to wait for a PostgreSQL server before a connection attempt fails.
PG_CONNECT_TIMEOUT_S = 5
#: Advisory lock key held while creating tables on PostgreSQL.
PG_SCHEMA_LOCK = 0x5AFE_C0DE


def connect_database(url: str, *, create: bool = True) -> peewee.Database:
    """Connect to ``url`` and (unless ``create`` is false) create the tables.

    Binds nothing for the process. With ``create=False`` a SQLite file must already
    exist: an auditor's typo must not verify an empty ledger.
    """
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = urlparse(url).path
        if not create and path not in ("", "/:memory:") and not Path(path).is_file():
            raise ValueError(f"no ledger database at {path}")
        if create and path not in ("", "/:memory:"):
            # Visits and receipts: 0600 like the keys, -wal and -shm too (support/private_files).
            prepare_private_sqlite(path[1:])
        db = connect(url, pragmas=SQLITE_PRAGMAS, timeout=10)
    elif scheme in ("postgres", "postgresql"):
        # The schema may come with the URL: ?options=-csearch_path%3DNAME
        extra = {} if "connect_timeout" in url else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        db = connect(url, **extra)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://")
    db.connect(reuse_if_open=True)
    if create:
        with database_proxy.bound_to(db):
            _create_tables(db)
    return db


#: Indexes earlier versions made and this one drops: each cost every insert a b-tree
#: update and served nothing another index does not (``checkin_kiosk_id``: the unique
#: ``(kiosk_id, seq)`` index starts with the same column).
RETIRED_INDEXES = ("checkin_kiosk_id",)


def _create_tables(db: peewee.Database) -> None:
    if isinstance(db, peewee.PostgresqlDatabase):
        # Processes starting together on a fresh database must not race to create tables.
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PG_SCHEMA_LOCK,))
            upgrade_checkin_table(db)  # columns newer than the database, before its indexes
            db.create_tables(all_models())
            _drop_retired_indexes(db)
    else:
        upgrade_checkin_table(db)
        db.create_tables(all_models())
        _drop_retired_indexes(db)


def _drop_retired_indexes(db: peewee.Database) -> None:
    """Drop :data:`RETIRED_INDEXES` where an earlier version made them (cheap otherwise)."""
    present = {index.name for index in db.get_indexes(CheckinEntry._meta.table_name)}
    for name in RETIRED_INDEXES:
        if name in present:
            db.execute_sql(f'DROP INDEX "{name}"')


_opened: dict[str, peewee.Database] = {}


def open_database(url: str, *, create: bool = True) -> peewee.Database:
    """Connect to ``url``, bind the models for this process and (unless ``create`` is
    false) create tables.

    With ``create=False`` a SQLite file must already exist: an auditor's typo must
    not verify an empty ledger. Opening the same URL again returns the same object.
    """
    if url in _opened and database_proxy.obj is _opened[url]:
        _opened[url].connect(reuse_if_open=True)
        return _opened[url]
    db = connect_database(url, create=create)
    database_proxy.initialize(db)
    _opened[url] = db
    return db
