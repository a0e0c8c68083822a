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
