"""The aggregator's storage (peewee): kiosks, check-ins, blocks.

SQLite in WAL mode by default; any peewee database URL works (``sqlite:///path``
or ``postgresql://...``). Duplicates are dropped by unique keys, never by luck:
a check-in id is unique, and so is (kiosk, sequence number).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

database_proxy = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,
    "foreign_keys": 1,
    "busy_timeout": 10_000,
}


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy


class KioskEntry(BaseModel):
    """An enrolled kiosk and its device key; retired kiosks stay, marked."""

    kiosk_id = peewee.CharField(primary_key=True, max_length=63)
    venue_id = peewee.CharField(max_length=63)
    device_key = peewee.BlobField()
    retired = peewee.BooleanField(default=False)
    enrolled_ms = peewee.BigIntegerField()
    highest_seq = peewee.BigIntegerField(default=0)
    gaps = peewee.BigIntegerField(default=0)
    last_status = peewee.TextField(null=True)
    last_status_ms = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "kiosk"


class CheckinEntry(BaseModel):
    """A verified check-in; ``leaf_index`` is set when a block seals it."""

    id = peewee.BigAutoField()
    checkin_id = peewee.BlobField(unique=True)
    kiosk = peewee.ForeignKeyField(KioskEntry, column_name="kiosk_id", backref="checkins")
    seq = peewee.BigIntegerField()
    presentation_hash = peewee.BlobField(unique=True)
    wire = peewee.BlobField()
    leaf_hash = peewee.BlobField()
    scanned_ms = peewee.BigIntegerField()
    received_ms = peewee.BigIntegerField()
    leaf_index = peewee.BigIntegerField(null=True, unique=True)
    block_height = peewee.BigIntegerField(null=True, index=True)
    #: Clock placement (aggregator.placement): the kiosk's boot id and monotonic ms when it
    #: scanned, the time the aggregator places the scan at, and how it was placed.
    boot_id = peewee.BlobField(null=True)
    mono_ms = peewee.BigIntegerField(null=True)
    placed_ms = peewee.BigIntegerField(null=True)
    placement = peewee.CharField(max_length=16, null=True)

    class Meta:
        table_name = "checkin"
        indexes = (
            (("kiosk", "seq"), True),
            (("kiosk", "boot_id", "placement", "mono_ms"), False),
        )


class BlockEntry(BaseModel):
    """A sealed block: its signed header, checkpoint and the tree's peaks after it."""

    height = peewee.BigIntegerField(primary_key=True)
    wire = peewee.BlobField()
    block_hash = peewee.BlobField(unique=True)
    tree_size = peewee.BigIntegerField(unique=True)
    root = peewee.BlobField()
    peaks = peewee.BlobField()
    checkpoint = peewee.TextField()
    sealed_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "block"


def all_models() -> list[type[BaseModel]]:
    """Every table of the ledger database, including those defined in other modules."""
    from . import counters

    return [KioskEntry, CheckinEntry, BlockEntry, counters.CounterEntry]


_opened: dict[str, peewee.Database] = {}


def open_database(url: str, *, create: bool = True) -> peewee.Database:
    """Connect to ``url``, bind the models and (unless ``create`` is false) create tables.

    With ``create=False`` a SQLite file must already exist: an auditor's typo must
    not verify an empty ledger. Opening the same URL again returns the same object.
    """
    if url in _opened and database_proxy.obj is _opened[url]:
        _opened[url].connect(reuse_if_open=True)
        return _opened[url]
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = urlparse(url).path
        if not create and path not in ("", "/:memory:") and not Path(path).is_file():
            raise ValueError(f"no ledger database at {path}")
        db = connect(url, pragmas=SQLITE_PRAGMAS, timeout=10)
    elif scheme in ("postgres", "postgresql"):
        db = connect(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://")
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    if create:
        db.create_tables(all_models())
    _opened[url] = db
    return db
