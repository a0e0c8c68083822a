"""Heartbeats stored a batch at a time: one statement per chunk, not three per heartbeat.

A fleet of 19,500 kiosks beating every 15 s sends 1,300 heartbeats a second. Through
peewee's query builder each cost ~1.1 ms of aggregator CPU (a SELECT, an UPDATE and a
clock upsert, each built and compiled), which capped one aggregator near 5,000 kiosks.
Here a batch is three raw statements per :data:`CHUNK` kiosks, the same on SQLite
(3.33 or newer, for ``UPDATE ... FROM``) and PostgreSQL:

- the kiosks' rows before the update (``IN`` list): retired, highest seq, last status;
- ``WITH v(...) AS (VALUES ...) UPDATE kiosk ... FROM v``: the heartbeats themselves;
- ``INSERT INTO kiosk_clock ... VALUES ... ON CONFLICT DO UPDATE ... WHERE better``:
  their clocks, by the rule of :func:`aggregator.placement.note_heartbeat`.

A kiosk appears at most once per statement (PostgreSQL refuses to upsert a row twice
in one); a batch holding several heartbeats of one kiosk is stored in rounds, in order.
The caller holds the write transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from .models_base import database_proxy
from .placement import KioskClockEntry, heartbeat_clock
from .tables import KioskEntry

#: Kiosks per statement (5 parameters each: well under SQLite's 32,766 variables).
CHUNK = 500


@dataclass(frozen=True)
class Before:
    """A kiosk's row as it was before its heartbeat was stored."""

    retired: bool
    highest_seq: int
    last_status: str | None


@dataclass(frozen=True)
class StatusRow:
    """One parsed heartbeat to store, with the column values made from it."""

    kiosk_id: str
    status: dict[str, Any]
    received_ms: int
    text: str  # the whole heartbeat (a small strict JSON object) for the fleet view
    clock: tuple[bytes, int, int, str] | None  # (boot, mono ms, wall ms, source)


def status_row(kiosk_id: str, status: dict[str, Any], received_ms: int) -> StatusRow:
    """The row of one parsed heartbeat (a fault here is this kiosk's alone)."""
    text = json.dumps(status, sort_keys=True)
    return StatusRow(kiosk_id, status, received_ms, text, heartbeat_clock(status, received_ms))


def _rounds(rows: Sequence[StatusRow]) -> list[list[int]]:
    """Split ``rows`` (by index) so each kiosk appears at most once per round, in order."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        number = seen.get(row.kiosk_id, 0)
        seen[row.kiosk_id] = number + 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(index)
    return rounds


def _is_postgres(db: Any) -> bool:
    return isinstance(getattr(db, "obj", db), peewee.PostgresqlDatabase)


def _placeholders(param: str, width: int, count: int) -> str:
    one = "(" + ", ".join([param] * width) + ")"
    return ", ".join([one] * count)


def _read_before(db: Any, param: str, kiosk_ids: list[str]) -> dict[str, Before]:
    """The rows as they are; PostgreSQL locks them in kiosk order, as ingest does.

    Without the lock the UPDATE would take the rows in its plan's order, and an ingest
    batch locking two of them in kiosk order could deadlock with it.
    """
    lock = " ORDER BY kiosk_id FOR NO KEY UPDATE" if _is_postgres(db) else ""
    sql = (
        f"SELECT kiosk_id, retired, highest_seq, last_status FROM {KioskEntry._meta.table_name} "
        f"WHERE kiosk_id IN ({', '.join([param] * len(kiosk_ids))}){lock}"
    )
    cursor = db.execute_sql(sql, kiosk_ids)
    return {
        kiosk_id: Before(bool(retired), int(seq or 0), last)
        for kiosk_id, retired, seq, last in cursor.fetchall()
    }


def _update_rows(db: Any, param: str, rows: list[tuple[str, str, int]]) -> None:
    table = KioskEntry._meta.table_name
    sql = (
        f"WITH v(id, st, ms) AS (VALUES {_placeholders(param, 3, len(rows))}) "
        f"UPDATE {table} SET last_status = v.st, last_status_ms = v.ms "
        f"FROM v WHERE {table}.kiosk_id = v.id"
    )
    db.execute_sql(sql, [value for row in rows for value in row])


def _upsert_clocks(db: Any, param: str, rows: list[tuple[str, bytes, int, int, str]]) -> None:
    table = KioskClockEntry._meta.table_name
    sql = (
        f"INSERT INTO {table} (kiosk_id, boot_id, mono_ms, wall_ms, source) "
        f"VALUES {_placeholders(param, 5, len(rows))} "
        "ON CONFLICT (kiosk_id) DO UPDATE SET boot_id = excluded.boot_id, "
        "mono_ms = excluded.mono_ms, wall_ms = excluded.wall_ms, source = excluded.source "
        f"WHERE {table}.boot_id <> excluded.boot_id OR excluded.source = 'kiosk' "
        f"OR excluded.wall_ms - excluded.mono_ms < {table}.wall_ms - {table}.mono_ms"
    )
    db.execute_sql(sql, [value for row in rows for value in row])


def _store_chunk(db: Any, param: str, chunk: list[StatusRow]) -> dict[str, Before]:
    before = _read_before(db, param, [row.kiosk_id for row in chunk])
    known = [row for row in chunk if row.kiosk_id in before]
    if not known:
        return before
    _update_rows(db, param, [(r.kiosk_id, r.text, r.received_ms) for r in known])
    clocks = [(r.kiosk_id, *r.clock) for r in known if r.clock is not None]
    if clocks:
        _upsert_clocks(db, param, clocks)
    return before


def store_statuses(rows: Sequence[StatusRow]) -> list[Before | None]:
    """Store each heartbeat on its enrolled kiosk's row (and its clock), in order.

    Returns, per row, the kiosk's row as it was just before that heartbeat (None: not
    enrolled, nothing stored). Runs inside the caller's write transaction.
    """
    db = database_proxy
    param = db.param
    found: list[Before | None] = [None] * len(rows)
    for batch in _rounds(rows):
        batch.sort(key=lambda i: rows[i].kiosk_id)  # rows are locked in kiosk order
        for start in range(0, len(batch), CHUNK):
            indexes = batch[start : start + CHUNK]
            before = _store_chunk(db, param, [rows[i] for i in indexes])
            for i in indexes:
                found[i] = before.get(rows[i].kiosk_id)
    return found
