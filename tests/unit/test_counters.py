"""Counters shared between aggregator processes."""

from aggregator import counters


def test_counts_add_up_across_calls(db):
    counters.add({("refused", "bad_signature"): 2, ("ingested", ""): 5})
    counters.add({("refused", "bad_signature"): 1, ("refused", "retired"): 1})
    assert counters.totals() == {
        "refused": {"bad_signature": 3, "retired": 1},
        "ingested": {"": 5},
    }


def test_zero_counts_store_nothing(db):
    counters.add({("ingested", ""): 0})
    assert counters.totals() == {}


def test_counters_saturate_instead_of_overflowing(db):
    # A bigint overflow on PostgreSQL would fail this flush and every later one.
    near = counters.VALUE_MAX - 10
    counters.add({("gaps", "opened"): near, ("ingested", ""): 1})
    counters.add({("gaps", "opened"): 2**62, ("ingested", ""): 1})
    counters.add({("gaps", "opened"): 2**70, ("refused", "out_of_range"): 1})
    assert counters.totals() == {
        "gaps": {"opened": counters.VALUE_MAX},
        "ingested": {"": 2},
        "refused": {"out_of_range": 1},
    }
