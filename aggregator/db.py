"""The aggregator's storage (peewee): kiosks, check-ins, blocks.

SQLite in WAL mode by default; any peewee database URL works (``sqlite:///path``
or ``postgresql://...``). Duplicates are dropped by unique keys, never by luck:
a check-in id is unique, and so is (kiosk, sequence number).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

if TYPE_CHECKING:
    from .vault import Vault

database_proxy = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    # Deleted rows (destroyed day keys, erased visits) are overwritten, not left in free pages.
    "secure_delete": 1,
}
#: Seconds to wait for a PostgreSQL server before a connection attempt fails.
PG_CONNECT_TIMEOUT_S = 5
#: Advisory lock key held while creating tables on PostgreSQL.
PG_SCHEMA_LOCK = 0x5AFE_C0DE


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
    #: SHA-256 of the one-time presentation: replay detection, reveals no visitor.
    presentation_hash = peewee.BlobField(unique=True)
    # --- privacy (aggregator/vault.py): the visit itself is stored only encrypted ---
    #: SHA-256 of the signed check-in record: the leaf's commitment, kept for ever.
    commit = peewee.BlobField()
    #: Day number (UTC days since 1970) of the data key that encrypts ``sealed``.
    day = peewee.IntegerField(index=True)
    #: The signed record, encrypted under the day key; emptied when that key is destroyed.
    sealed = peewee.BlobField()
    # ---
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

    @staticmethod
    def visit_columns(
        checkin_id: bytes, wire: bytes, received_ms: int, data_vault: Vault | None = None
    ) -> dict[str, Any]:
        """``commit``, ``day``, ``sealed`` and ``received_ms`` for a new row (privacy group).

        The signed record is encrypted with ``data_vault``, else with the vault installed
        for this process (aggregator.vault.install); with neither this raises rather
        than store a readable visit.
        """
        from .vault import day_of, installed

        day = day_of(received_ms)
        sealer = data_vault if data_vault is not None else installed()
        return {
            "commit": hashlib.sha256(wire).digest(),
            "day": day,
            "sealed": sealer.seal(checkin_id, wire, day),
            "received_ms": received_ms,
        }


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
    from . import cosignatures, counters, operators, placement, revocations, tiles, vault

    return [
        KioskEntry,
        CheckinEntry,
        BlockEntry,
        counters.CounterEntry,
        operators.OperatorToken,
        cosignatures.CosignatureEntry,
        vault.DayKey,
        placement.KioskClockEntry,
        tiles.TileEntry,
        revocations.RevokedCredentialEntry,
    ]


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
        # The schema may come with the URL: ?options=-csearch_path%3DNAME
        extra = {} if "connect_timeout" in url else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        db = connect(url, **extra)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://")
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    if create:
        if isinstance(db, peewee.PostgresqlDatabase):
            # Processes starting together on a fresh database must not race to create tables.
            with db.atomic():
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PG_SCHEMA_LOCK,))
                db.create_tables(all_models())
        else:
            db.create_tables(all_models())
    _opened[url] = db
    return db
