"""Counters shared between aggregator processes, kept in the ledger database.

Ingest workers and the sequencer add their counts here now and then; the web
process reads them for ``/metrics``. A counter is a (name, label) pair, for
example ``("refused", "bad_signature")``. Stored counts are best effort: what a
killed process had not flushed yet is lost. Counts of ledger rows (``ingested``,
``sealed``) are therefore never stored but read from the rows
(aggregator.row_counters), so they stay exact across crashes.
"""

from __future__ import annotations

from collections.abc import Mapping

import peewee

from .models_base import BaseModel
from .row_counters import DERIVED, row_totals


class CounterEntry(BaseModel):
    """One monotonically growing counter."""

    name = peewee.CharField(max_length=64)
    label = peewee.CharField(max_length=64, default="")
    value = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "counter"
        primary_key = peewee.CompositeKey("name", "label")


#: A counter stops here (the largest signed 64-bit value) instead of overflowing the
#: column: on PostgreSQL an overflow would fail every later flush of the process.
VALUE_MAX = 2**63 - 1


def add(counts: Mapping[tuple[str, str], int]) -> None:
    """Add ``counts`` to the stored counters in one statement (upsert, both databases).

    Counters derived from the ledger's rows (``DERIVED``) are skipped: they are never stored.
    The others only grow (counts below 1 are left out) and saturate: one that would
    pass :data:`VALUE_MAX` stays at it. One multi-row upsert, not one per counter: an
    ingest process flushes every second, and a statement each cost it milliseconds.
    """
    merged: dict[tuple[str, str], int] = {}
    for (name, label), value in counts.items():
        if value > 0 and name not in DERIVED:
            key = (name[:64], label[:64])  # two names cut to one key: one row, summed
            merged[key] = min(merged.get(key, 0) + value, VALUE_MAX)
    if not merged:
        return
    rows = [
        {"name": name, "label": label, "value": value} for (name, label), value in merged.items()
    ]
    CounterEntry.insert_many(rows).on_conflict(
        conflict_target=[CounterEntry.name, CounterEntry.label],
        update={CounterEntry.value: _saturated_sum()},
    ).execute()


def _saturated_sum() -> peewee.Node:
    """stored + new, or VALUE_MAX if that would pass it (never computed past it)."""
    stored, new = CounterEntry.value, peewee.EXCLUDED.value
    return peewee.Case(None, [(stored > VALUE_MAX - new, VALUE_MAX)], stored + new)


def totals() -> dict[str, dict[str, int]]:
    """Every counter as ``{name: {label: value}}``: the stored ones and those of the rows."""
    out: dict[str, dict[str, int]] = {}
    for row in CounterEntry.select():
        if row.name not in DERIVED:  # a stale row stored by an older version
            out.setdefault(row.name, {})[row.label] = row.value
    out.update(row_totals())
    return out
