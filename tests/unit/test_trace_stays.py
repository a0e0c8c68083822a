"""Stays and overlaps (aggregator/trace/stays.py) and the [trace] table (settings.py)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.trace.settings import TraceSettings, parse_trace_table, trace_settings
from aggregator.trace.stays import Scan, Stay, overlap_ms, stays_of
from support.config_file import ConfigError

MIN = 60_000
S = TraceSettings(default_stay_minutes=60, max_stay_minutes=240, min_overlap_minutes=15)


def scan(at_min: float, door: str = "entrance", who: bytes = b"a" * 8, venue: str = "v") -> Scan:
    return Scan(int(at_min * 1000), venue, int(at_min * MIN), door, who, 1)


def spans(stays: list[Stay]) -> list[tuple[float, float, bool]]:
    return [(s.start_ms / MIN, s.end_ms / MIN, s.by_exit) for s in stays]


def test_entrance_then_exit() -> None:
    assert spans(stays_of([scan(0), scan(30, "exit")], S)) == [(0, 30, True)]


def test_no_exit_gives_the_default_stay() -> None:
    assert spans(stays_of([scan(0)], S)) == [(0, 60, False)]


def test_an_exit_beyond_the_longest_stay_does_not_end_it() -> None:
    assert spans(stays_of([scan(0), scan(300, "exit")], S)) == [(0, 60, False), (240, 300, True)]


def test_a_second_entrance_ends_the_first_stay() -> None:
    assert spans(stays_of([scan(0), scan(20), scan(50, "exit")], S)) == [
        (0, 20, False),
        (20, 50, True),
    ]


def test_a_lone_exit_stands_for_a_default_stay_ending_there() -> None:
    assert spans(stays_of([scan(90, "exit")], S)) == [(30, 90, True)]


def test_both_doors_open_stays_and_visitors_and_venues_are_apart() -> None:
    scans = [scan(0, "both"), scan(10, who=b"b" * 8), scan(20, "exit", venue="w")]
    assert spans(stays_of(scans, S)) == [(-40, 20, True), (0, 60, False), (10, 70, False)]


def test_prefixes_choose_the_default_stay_longest_first() -> None:
    table = {"default_stay_minutes": 30, "stay_minutes_by_prefix": {"gym-": 90, "gym-big-": 120}}
    s = parse_trace_table(table)
    assert s.default_stay_ms("gym-big-1") == 120 * MIN
    assert s.default_stay_ms("gym-7") == 90 * MIN
    assert s.default_stay_ms("cafe-1") == 30 * MIN


def test_overlap_is_half_open() -> None:
    a = Stay(scan(0), 0, 10, False)
    assert overlap_ms(a, Stay(scan(0), 10, 20, False)) == 0
    assert overlap_ms(a, Stay(scan(0), 9, 20, False)) == 1
    assert overlap_ms(a, Stay(scan(0), 20, 30, False)) == 0


_scans = st.lists(
    st.builds(
        scan,
        st.integers(0, 600),
        st.sampled_from(["entrance", "exit", "both"]),
        st.sampled_from([b"a" * 8, b"b" * 8]),
        st.sampled_from(["v", "w"]),
    ),
    max_size=30,
    unique_by=lambda s: s.row_id,
)


@given(_scans)
@settings(max_examples=200, deadline=None)
def test_one_visitors_stays_at_one_venue_never_overlap_and_stay_bounded(scans) -> None:
    stays = stays_of(scans, S)
    for stay in stays:
        assert 0 < stay.end_ms - stay.start_ms <= S.max_stay_ms
    for i, a in enumerate(stays):
        for b in stays[i + 1 :]:
            same = (a.scan.credential_id, a.venue_id) == (b.scan.credential_id, b.venue_id)
            if same:
                assert overlap_ms(a, b) == 0
            assert (
                overlap_ms(a, b)
                == overlap_ms(b, a)
                <= min(a.end_ms - a.start_ms, b.end_ms - b.start_ms)
            )


def test_the_config_table_defaults_and_reads(tmp_path) -> None:
    from aggregator.trace.settings import load_trace_settings

    assert trace_settings({}) == TraceSettings()
    path = tmp_path / "aggregator.toml"
    path.write_text(
        '[aggregator]\norigin = "x"\n\n[trace]\ndefault_stay_minutes = 45\n'
        '[trace.stay_minutes_by_prefix]\n"gym-" = 90\n'
    )
    loaded = load_trace_settings(path)
    assert loaded.default_stay_ms("cafe-1") == 45 * MIN
    assert loaded.default_stay_ms("gym-1") == 90 * MIN
    s = trace_settings({"trace": {"min_overlap_minutes": 5, "max_period_days": 21}})
    assert s.min_overlap_ms == 5 * MIN and s.max_period_days == 21


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ([], "must be a table"),
        ({"stay": 5}, "unknown setting"),
        ({"default_stay_minutes": "60"}, "number"),
        ({"default_stay_minutes": True}, "number"),
        ({"default_stay_minutes": float("nan")}, "between"),
        ({"default_stay_minutes": 0}, "between"),
        ({"default_stay_minutes": 500}, "between"),  # longer than max_stay_minutes
        ({"min_overlap_minutes": -1}, "between"),
        ({"max_stay_minutes": 10**9}, "between"),
        ({"max_period_days": 0}, "whole number"),
        ({"max_period_days": 1.5}, "whole number"),
        ({"max_outbox_age_days": 1000}, "whole number"),
        ({"stay_minutes_by_prefix": []}, "table"),
        ({"stay_minutes_by_prefix": {"Gym": 60}}, "prefix"),
        ({"stay_minutes_by_prefix": {"gym-": 0}}, "between"),
    ],
)
def test_bad_tables_are_refused_clearly(table: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_trace_table(table)


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.dictionaries(
        st.text(max_size=8), st.one_of(st.integers(), st.floats(), st.text()), max_size=3
    ),
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "default_stay_minutes",
                "max_stay_minutes",
                "min_overlap_minutes",
                "max_period_days",
                "max_outbox_age_days",
                "stay_minutes_by_prefix",
                "other",
            ]
        ),
        _values,
    )
)
@settings(max_examples=300, deadline=None)
def test_any_table_gives_settings_or_a_config_error(table: dict) -> None:
    try:
        parsed = parse_trace_table(table)
    except ConfigError:
        return
    assert parsed.default_stay_minutes <= parsed.max_stay_minutes


# --- the record reader (aggregator/trace/records.py) ------------------------------------------


def _real_record(code_type_card: bool = False) -> tuple[bytes, bytes]:
    from protocol import keys
    from protocol.checkin import ClockState, sign_checkin
    from protocol.credential import issue_credential
    from protocol.presentation import make_card, present

    issuer, wallet = keys.generate(), keys.generate()
    credential = issue_credential(issuer, keys.public_bytes(wallet), not_before=0, not_after=99)
    code = (
        make_card(credential, wallet, timestamp=1)
        if code_type_card
        else present(wallet, credential, now=1)
    )
    wire = sign_checkin(
        keys.generate(),
        checkin_id=bytes(16),
        kiosk_id="k",
        venue_id="v",
        seq=1,
        door="exit",
        scanned_ms=1,
        clock=ClockState(True, bytes(16), 1),
        presentation=code.to_bytes(),
    )
    return wire, credential.credential_id


@pytest.mark.parametrize("card", [False, True])
def test_the_reader_agrees_with_the_strict_parser(card: bool) -> None:
    from aggregator.trace.records import credential_id_of, visit_fields
    from protocol.checkin import parse_checkin

    wire, credential_id = _real_record(card)
    strict = parse_checkin(wire)
    assert credential_id_of(strict.presentation) == credential_id
    assert visit_fields(wire) == (
        strict.door,
        credential_id,
        strict.parsed_presentation().code_type,
    )


@given(st.binary(max_size=1100))
@settings(max_examples=300, deadline=None)
def test_the_reader_refuses_garbage_with_a_protocol_error(data: bytes) -> None:
    from aggregator.trace.records import visit_fields
    from protocol.errors import ProtocolError

    with contextlib.suppress(ProtocolError):
        visit_fields(data)


@given(st.integers(0, 600), st.integers(0, 255))
@settings(max_examples=200, deadline=None)
def test_the_reader_refuses_damaged_records(at: int, value: int) -> None:
    from aggregator.trace.records import visit_fields
    from protocol.errors import ProtocolError

    wire, _ = _WIRE
    damaged = bytearray(wire)
    damaged[at % len(wire)] = value
    try:
        fields = visit_fields(bytes(damaged))
    except ProtocolError:
        return
    assert fields[0] in ("entrance", "exit", "both") and len(fields[1]) == 8


_WIRE = _real_record()
