"""Per-address token buckets (aggregator.issuer.limits)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aggregator.issuer.limits import AddressBuckets


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    buckets = AddressBuckets(30, clock=clock)
    assert [buckets.take("a") for _ in range(30)] == [0] * 30
    assert buckets.take("a") == 2  # one token every 2 s
    assert buckets.take("b") == 0  # another address has its own bucket
    clock.now += 2
    assert buckets.take("a") == 0
    assert buckets.take("a") >= 1
    clock.now += 3600
    assert [buckets.take("a") for _ in range(30)] == [0] * 30  # full again, never more


def test_refused_requests_do_not_cost_tokens() -> None:
    clock = Clock()
    buckets = AddressBuckets(1, clock=clock)
    assert buckets.take("a") == 0
    for _ in range(10):
        assert buckets.take("a") == 60
    clock.now += 60
    assert buckets.take("a") == 0


def test_the_table_stays_bounded_under_many_addresses() -> None:
    clock = Clock()
    buckets = AddressBuckets(2, clock=clock, max_addresses=100)
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
        clock.now += 0.01
    assert len(buckets) <= 100
    busy = AddressBuckets(2, clock=clock, max_addresses=10)
    busy.take("x")
    busy.take("x")
    assert busy.take("x") > 0
    clock.now += 120
    for i in range(10):
        busy.take(f"y{i}")  # "x" has filled up again: it is forgotten first
    assert busy.take("x") == 0


def test_a_rate_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        AddressBuckets(0)
