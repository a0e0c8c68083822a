"""Counters read from the ledger's rows at read time: exact across crashes.

A count kept in a process and flushed now and then loses what that process had not
flushed when it was killed. Check-ins ingested and sealed are rows of the ledger, so
their counters are derived from the rows instead, never stored: ``sealed`` is the
tree size of the last block (a leaf is never removed from the tree), ``ingested`` is
that plus the stored check-ins not sealed yet (a row only moves from unsealed to
sealed). Both only grow, whatever retention blanks in the rows.
"""

from __future__ import annotations

import peewee

from .tables import BlockEntry, CheckinEntry

#: Counter names derived here; aggregator.counters never stores them.
DERIVED = frozenset({"ingested", "sealed"})


def row_totals() -> dict[str, dict[str, int]]:
    """``{"ingested": {"": n}, "sealed": {"": n}}`` from one consistent read."""
    tree_size = BlockEntry.select(BlockEntry.tree_size).order_by(BlockEntry.height.desc()).limit(1)
    # One statement, so one snapshot: a block sealed meanwhile is seen entirely or not at
    # all (two statements could count its rows twice, or not at all, on PostgreSQL).
    unsealed, sealed = (
        CheckinEntry.select(peewee.fn.COUNT(CheckinEntry.id), peewee.fn.COALESCE(tree_size, 0))
        .where(CheckinEntry.leaf_index.is_null())
        .tuples()
        .get()
    )
    return {"ingested": {"": int(sealed) + int(unsealed)}, "sealed": {"": int(sealed)}}
