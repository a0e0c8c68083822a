"""The windowed quota behind rate-limited log lines (kiosk and aggregator)."""

from support.quota import WindowedQuota


def test_a_window_allows_its_limit_then_reports_what_it_held_back() -> None:
    now = [0.0]
    quota = WindowedQuota(2, 60.0, lambda: now[0])
    assert [quota.take("a") for _ in range(4)] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    assert quota.take("b") == (True, 0)  # keys are independent
    now[0] = 60.0
    assert quota.take("a") == (True, 2)  # a new window, and the old one's two held back
    assert quota.ended() == [("b", 0)]
    now[0] = 120.0
    assert quota.ended() == [("a", 0)]
    assert quota.ended() == []
