"""The kiosk's jittered reconnect back-off (transport/backoff.py) and its setting."""

from __future__ import annotations

import random
import threading
import time

import pytest

from support.config_file import ConfigError
from transport.backoff import ReconnectJitter
from transport.settings import MqttSettings


def test_windows_double_from_the_first_up_to_the_cap_and_start_over_on_connect() -> None:
    jitter = ReconnectJitter(2.0, 30.0, rng=random.Random(1))
    windows = []
    for _ in range(6):
        windows.append(jitter.window())
        jitter.next_delay()
    assert windows == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    jitter.reset()
    assert jitter.window() == 2.0


def test_delays_are_spread_over_the_window_not_in_step() -> None:
    """A thousand kiosks losing the broker at once come back over the whole window."""
    delays = [
        ReconnectJitter(2.0, 30.0, rng=random.Random(seed)).next_delay() for seed in range(1000)
    ]
    assert all(0 <= d <= 2.0 for d in delays)
    buckets = [sum(1 for d in delays if k * 0.5 <= d < (k + 1) * 0.5) for k in range(4)]
    assert min(buckets) > 180  # about 250 in each quarter of the window


def test_zero_turns_the_extra_wait_off() -> None:
    jitter = ReconnectJitter(0, 30.0)
    assert [jitter.wait() for _ in range(5)] == [0.0] * 5


def test_cancel_ends_a_wait_at_once() -> None:
    jitter = ReconnectJitter(60.0, 60.0, rng=random.Random(3))
    jitter.attempts = 1  # a window of 60 s: the draw is seconds long
    began = time.monotonic()
    threading.Timer(0.2, jitter.cancel).start()
    jitter.wait()
    assert time.monotonic() - began < 5


def test_negative_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        ReconnectJitter(-1, 5)


@pytest.mark.parametrize("value", [-0.5, 3601, float("nan"), True, "2", None])
def test_the_setting_refuses_what_is_not_a_window(value: object) -> None:
    with pytest.raises(ConfigError, match="reconnect_jitter_s"):
        MqttSettings(reconnect_jitter_s=value)  # type: ignore[arg-type]


def test_the_setting_takes_whole_and_fractional_seconds() -> None:
    assert MqttSettings(reconnect_jitter_s=0).reconnect_jitter_s == 0
    assert MqttSettings(reconnect_jitter_s=0.25).reconnect_jitter_s == 0.25
    assert MqttSettings().reconnect_jitter_s == 2.0
