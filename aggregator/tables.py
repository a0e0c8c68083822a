"""The ledger's core tables: enrolled kiosks, verified check-ins and sealed blocks.

Duplicates are dropped by unique keys, never by luck: a check-in id is unique, and so
is (kiosk, sequence number). Tables of other areas live with their code (vault,
counters, ...); ``aggregator.models`` lists them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import peewee

from .models_base import BaseModel, BlobField
from .vault import Vault, day_of, installed


class KioskEntry(BaseModel):
    """An enrolled kiosk and its device key; retired kiosks stay, marked."""

    kiosk_id = peewee.CharField(primary_key=True, max_length=63)
    venue_id = peewee.CharField(max_length=63)
    device_key = BlobField()
    retired = peewee.BooleanField(default=False)
    enrolled_ms = peewee.BigIntegerField()
    highest_seq = peewee.BigIntegerField(default=0)
    gaps = peewee.BigIntegerField(default=0)
    last_status = peewee.TextField(null=True)
    last_status_ms = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "kiosk"


class CheckinEntry(BaseModel):
    """A verified check-in; ``leaf_index`` is set when a block seals it.

    Retention forgets a sealed row (aggregator/forget.py): every column that says where
    or when becomes NULL, so those are nullable; ingest always fills them.
    """

    id = peewee.BigAutoField()
    checkin_id = BlobField(unique=True)
    #: No index of its own: the unique ``(kiosk, seq)`` index serves every lookup by kiosk.
    kiosk = peewee.ForeignKeyField(
        KioskEntry, column_name="kiosk_id", backref="checkins", null=True, index=False
    )
    seq = peewee.BigIntegerField(null=True)
    #: SHA-256 of the one-time presentation: replay detection, reveals no visitor.
    presentation_hash = BlobField(unique=True, null=True)
    # --- privacy (aggregator/vault.py): the visit itself is stored only encrypted ---
    #: SHA-256 of the signed check-in record: the leaf's commitment, kept for ever.
    commit = BlobField()
    #: Day number (UTC days since 1970) of the data key that encrypts ``sealed``.
    day = peewee.IntegerField(index=True)
    #: The signed record, encrypted under the day key; emptied when that key is destroyed.
    sealed = BlobField()
    # ---
    leaf_hash = BlobField()
    scanned_ms = peewee.BigIntegerField(null=True)
    received_ms = peewee.BigIntegerField(null=True)
    leaf_index = peewee.BigIntegerField(null=True, unique=True)
    block_height = peewee.BigIntegerField(null=True, index=True)
    #: Clock placement (aggregator.placement): the kiosk's boot id and monotonic ms when it
    #: scanned, the time the aggregator places the scan at, and how it was placed.
    boot_id = BlobField(null=True)
    mono_ms = peewee.BigIntegerField(null=True)
    placed_ms = peewee.BigIntegerField(null=True)
    placement = peewee.CharField(max_length=16, null=True)
    # --- tracing (aggregator/trace/): added by version 12, upgraded in place -------------
    #: The kiosk's venue when stored (the registry's, public): visits overlap per venue.
    venue_id = peewee.CharField(max_length=63, null=True)
    #: AES of the visitor's credential id under a key derived from the day key: finds a
    #: credential's visits while the day key lives, and never after (aggregator.vault).
    visit_tag = BlobField(null=True, index=True)
    #: The kiosk's door as signed in the record (``entrance``, ``exit``, ``both``): a fact
    #: about the kiosk, the same for every visitor it scans (aggregator/trace/exposure.py).
    door = peewee.CharField(max_length=8, null=True)
    #: The visitor's code type (phone or card) masked under the day key (aggregator.vault
    #: ``code_mark``): unreadable without that key, dead with it.
    code_mark = peewee.SmallIntegerField(null=True)

    class Meta:
        table_name = "checkin"
        indexes = (
            (("kiosk", "seq"), True),
            (("kiosk", "boot_id", "placement", "mono_ms"), False),
            (("venue_id", "placed_ms"), False),
        )

    @staticmethod
    def visit_columns(
        checkin_id: bytes,
        wire: bytes,
        received_ms: int,
        data_vault: Vault | None = None,
        credential_id: bytes | None = None,
        code_type: int | None = None,
    ) -> dict[str, Any]:
        """``commit``, ``day``, ``sealed``, ``received_ms``, ``visit_tag``, ``code_mark``.

        The signed record is encrypted with ``data_vault``, else with the vault installed
        for this process (aggregator.vault.install); with neither this raises rather
        than store a readable visit. ``visit_tag`` is None without ``credential_id``,
        ``code_mark`` without a ``code_type`` of one byte.
        """
        visit = (checkin_id, wire, credential_id, code_type)
        return CheckinEntry.visits_columns([visit], received_ms, data_vault)[0]

    @staticmethod
    def visits_columns(
        visits: Sequence[tuple[bytes, bytes, bytes | None, int | None]],
        received_ms: int,
        data_vault: Vault | None = None,
    ) -> list[dict[str, Any]]:
        """:meth:`visit_columns` of each (check-in id, wire, credential id, code type).

        All received at ``received_ms`` (one day key): one AES call for all their
        visit tags, one for all their code marks (ingest stores check-ins in batches).
        """
        day = day_of(received_ms)
        sealer = data_vault if data_vault is not None else installed()
        sealed = sealer.seal_visits(day, [(visit[0], visit[1]) for visit in visits])
        credentials = {at: v[2] for at, v in enumerate(visits) if v[2] is not None}
        found = sealer.visit_tags(day, list(credentials.values()))
        tags = dict(zip(credentials, found, strict=True))
        types = {at: (v[0], v[3]) for at, v in enumerate(visits) if _one_byte(v[3])}
        marks = dict(zip(types, sealer.code_marks(day, list(types.values())), strict=True))
        return [
            {
                "commit": hashlib.sha256(wire).digest(),
                "day": day,
                "sealed": sealed[at],
                "received_ms": received_ms,
                "visit_tag": tags.get(at),
                "code_mark": marks.get(at),
            }
            for at, (_, wire, _, _) in enumerate(visits)
        ]


def _one_byte(code_type: int | None) -> bool:
    """A code type that fits a ``code_mark`` (one byte)."""
    return code_type is not None and 0 <= code_type <= 0xFF


class BlockEntry(BaseModel):
    """A sealed block: its signed header, checkpoint and the tree's peaks after it."""

    height = peewee.BigIntegerField(primary_key=True)
    wire = BlobField()
    block_hash = BlobField(unique=True)
    tree_size = peewee.BigIntegerField(unique=True)
    root = BlobField()
    peaks = BlobField()
    checkpoint = peewee.TextField()
    sealed_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "block"
