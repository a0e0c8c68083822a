"""Counters shared between aggregator processes, and those read from the ledger's rows."""

from aggregator import counters
from tests.unit.ledger_builder import LedgerBuilder

#: The row-derived counters of an empty ledger.
NO_ROWS = {"ingested": {"": 0}, "sealed": {"": 0}}


def test_counts_add_up_across_calls(db):
    counters.add({("refused", "bad_signature"): 2, ("duplicate", ""): 5})
    counters.add({("refused", "bad_signature"): 1, ("refused", "retired"): 1})
    assert counters.totals() == {
        "refused": {"bad_signature": 3, "retired": 1},
        "duplicate": {"": 5},
        **NO_ROWS,
    }


def test_zero_counts_store_nothing(db):
    counters.add({("duplicate", ""): 0})
    assert counters.totals() == NO_ROWS


def test_ingested_and_sealed_are_the_ledger_rows_and_never_stored(db):
    builder = LedgerBuilder(("kiosk-a", "kiosk-b"))
    builder.block(3)
    builder.block(2, "kiosk-b")
    builder.scan("kiosk-a")
    # A process's count (one killed before its flush under-counts) is not taken.
    counters.add({("ingested", ""): 100, ("sealed", ""): 100})
    assert counters.CounterEntry.select().count() == 0
    # A stale row an older version stored is not taken either.
    counters.CounterEntry.create(name="sealed", label="", value=7)
    assert counters.totals() == {"ingested": {"": 6}, "sealed": {"": 5}}


def test_counters_saturate_instead_of_overflowing(db):
    # A bigint overflow on PostgreSQL would fail this flush and every later one.
    near = counters.VALUE_MAX - 10
    counters.add({("gaps", "opened"): near, ("duplicate", ""): 1})
    counters.add({("gaps", "opened"): 2**62, ("duplicate", ""): 1})
    counters.add({("gaps", "opened"): 2**70, ("refused", "out_of_range"): 1})
    totals = counters.totals()
    assert totals["gaps"] == {"opened": counters.VALUE_MAX}
    assert totals["duplicate"] == {"": 2}
    assert totals["refused"] == {"out_of_range": 1}


def test_labels_cut_to_one_key_are_summed_into_one_row(db):
    # One upsert for the whole flush: two rows with one key would fail it on PostgreSQL.
    long = "x" * 64
    counters.add({("refused", long + "a"): 2, ("refused", long + "b"): 3, ("duplicate", ""): 1})
    assert counters.totals()["refused"] == {long: 5}
    assert counters.CounterEntry.select().count() == 2
