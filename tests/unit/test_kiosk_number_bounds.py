"""Every integer a kiosk sends is bounded at the protocol layer (fuzzed at the edges)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.checkin import SEQ_MAX, parse_checkin
from protocol.errors import MalformedError, OutOfRangeError
from protocol.schema import KIOSK_INT_MAX, TIME_MS_MAX
from protocol.status import COUNTERS, parse_status
from tests.unit import test_checkin as tc

MS_FIELDS = ("clock_mono_ms", "clock_wall_ms", "oldest_unsent_ms", "last_receipt_age_ms")
COUNT_FIELDS = ("queue", "in_flight", "outbox_recoveries", *COUNTERS)
NUMBER_FIELDS = ("fps", "decode_ms", "disk_free_mb")
#: Near and past the 64-bit columns; CBOR's own integers end at 2**64 - 1 (bignums,
#: tags, are malformed already), JSON's do not.
BEYOND = st.integers(min_value=2**63 - 2**20, max_value=2**64 - 1)
CBOR_BELOW = st.integers(min_value=-(2**64), max_value=-1)


def status(**fields: object) -> bytes:
    return json.dumps({"v": 1, "state": "online", **fields}).encode()


@given(seq=st.integers(1, SEQ_MAX) | st.sampled_from([1, SEQ_MAX]))
def test_seqs_in_range_parse(seq: int) -> None:
    assert parse_checkin(tc.reseal(tc.body(seq=seq))).seq == seq


@given(seq=st.integers(-(2**64), 0) | st.integers(SEQ_MAX + 1, 2**64 - 1) | BEYOND)
def test_seqs_out_of_range_are_refused(seq: int) -> None:
    with pytest.raises(OutOfRangeError):
        parse_checkin(tc.reseal(tc.body(seq=seq)))


@given(ms=st.integers(TIME_MS_MAX + 1, 2**64 - 1) | CBOR_BELOW | BEYOND)
def test_times_out_of_range_are_refused(ms: int) -> None:
    with pytest.raises(OutOfRangeError):
        parse_checkin(tc.reseal(tc.body(scanned_ms=ms)))
    clock = {"synced": False, "boot": bytes(16), "mono_ms": ms}
    with pytest.raises(OutOfRangeError):
        parse_checkin(tc.reseal(tc.body(clock=clock)))


@given(name=st.sampled_from(COUNT_FIELDS), value=st.integers(0, KIOSK_INT_MAX))
def test_heartbeat_counts_in_range_parse(name: str, value: int) -> None:
    assert parse_status(status(**{name: value}))[name] == value


@given(
    name=st.sampled_from(COUNT_FIELDS + NUMBER_FIELDS),
    value=st.integers(min_value=KIOSK_INT_MAX + 1, max_value=10**1000)
    | st.integers(max_value=-1)
    | BEYOND,
)
def test_heartbeat_counts_out_of_range_are_refused(name: str, value: int) -> None:
    with pytest.raises(OutOfRangeError):
        parse_status(status(**{name: value}))


@given(
    name=st.sampled_from(MS_FIELDS),
    value=st.integers(min_value=TIME_MS_MAX + 1) | st.integers(max_value=-1),
)
def test_heartbeat_times_out_of_range_are_refused(name: str, value: int) -> None:
    with pytest.raises(OutOfRangeError):
        parse_status(status(**{name: value}))


@given(value=st.floats(min_value=KIOSK_INT_MAX * 2, allow_infinity=False))
def test_heartbeat_figures_beyond_2_53_are_refused(value: float) -> None:
    with pytest.raises(OutOfRangeError):
        parse_status(status(fps=value))


@given(value=st.integers(min_value=KIOSK_INT_MAX + 1) | st.integers(max_value=-KIOSK_INT_MAX - 1))
def test_unknown_integers_beyond_2_53_are_refused(value: int) -> None:
    with pytest.raises(OutOfRangeError):
        parse_status(status(future_figure=value))


def test_a_wrong_type_is_still_malformed_not_out_of_range() -> None:
    for fields in ({"queue": 1.5}, {"clock_synced": 1}, {"clock_boot": 7}, {"queue": True}):
        with pytest.raises(MalformedError) as info:
            parse_status(status(**fields))
        assert info.type is MalformedError
