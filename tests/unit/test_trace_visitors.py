"""Visitors told apart by tags (aggregator/trace/visitors.py): stays as if by credential.

Many random scans (few visitors, several storing days, every door, two venue types),
grouped the way the exposure engine groups them: by visit tag (credential and storing
day), except the groups :func:`entangled` names, which are merged by credential as
opening their records does. The stays must be exactly those made by grouping every
scan by its credential, which is what opening every record gave.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.trace.settings import TraceSettings
from aggregator.trace.stays import Scan, stays_of
from aggregator.trace.visitors import CREDENTIAL, TAG, entangled, reach_back_ms

MIN = 60_000
SETTINGS = (
    TraceSettings(default_stay_minutes=60, max_stay_minutes=240, min_overlap_minutes=15),
    TraceSettings(default_stay_minutes=240, max_stay_minutes=240, min_overlap_minutes=0),
    TraceSettings(
        default_stay_minutes=30,
        max_stay_minutes=90,
        min_overlap_minutes=0,
        stay_minutes_by_prefix={"gym-": 80},
    ),
)

_scan = st.tuples(
    st.integers(0, 3),  # visitor
    st.integers(0, 2),  # storing day
    st.sampled_from(["cafe-1", "gym-1"]),
    st.integers(0, 24 * 60),  # minutes
    st.sampled_from(["entrance", "exit", "both"]),
    st.booleans(),  # opened already (a row without index): known by credential
)


def _spans(stays) -> list[tuple[int, int, int, bool]]:
    return sorted((s.scan.row_id, s.start_ms, s.end_ms, s.by_exit) for s in stays)


@settings(max_examples=600, deadline=None)
@given(st.lists(_scan, max_size=40), st.sampled_from(SETTINGS))
def test_tag_groups_merged_where_entangled_give_the_credentials_stays(items, config) -> None:
    truth, keyed, days = [], [], {}
    for row_id, (who, day, venue, minute, door, known) in enumerate(items):
        credential = bytes([who]) * 8
        truth.append(Scan(row_id, venue, minute * MIN, door, credential, 1))
        key = CREDENTIAL + credential if known else TAG + bytes([who, day]) * 8
        if not known:
            days[key] = day
        keyed.append(Scan(row_id, venue, minute * MIN, door, key, 1))
    flagged = entangled(keyed, days, config)
    merged = [
        s._replace(credential_id=CREDENTIAL + truth[s.row_id].credential_id)
        if s.credential_id in flagged
        else s
        for s in keyed
    ]
    assert _spans(stays_of(merged, config)) == _spans(stays_of(truth, config))


def _entangled_pairwise(scans, days, config) -> set[bytes]:
    """The definition, pair by pair: groups of different classes with a scan close before."""
    flagged = set()
    for y in scans:
        for x in scans:
            if x.venue_id != y.venue_id or x.credential_id == y.credential_id:
                continue
            if not 0 <= y.placed_ms - x.placed_ms <= reach_back_ms(y.door, y.venue_id, config):
                continue
            day_x, day_y = days.get(x.credential_id), days.get(y.credential_id)
            if day_x == day_y:
                continue  # both known credentials, or two tags of one day
            flagged.update({x.credential_id, y.credential_id})
    return {key for key in flagged if key in days}


@settings(max_examples=600, deadline=None)
@given(st.lists(_scan, max_size=40), st.sampled_from(SETTINGS))
def test_entangled_is_the_pairwise_definition(items, config) -> None:
    keyed, days = [], {}
    for row_id, (who, day, venue, minute, door, known) in enumerate(items):
        key = CREDENTIAL + bytes([who]) * 8 if known else TAG + bytes([who, day]) * 8
        if not known:
            days[key] = day
        keyed.append(Scan(row_id, venue, minute * MIN, door, key, 1))
    assert entangled(keyed, days, config) == _entangled_pairwise(keyed, days, config)


def test_nothing_is_entangled_within_one_storing_day() -> None:
    config = SETTINGS[0]
    scans = [Scan(n, "cafe-1", n * MIN, "exit", TAG + bytes([n % 3]) * 16, 1) for n in range(30)]
    assert entangled(scans, {s.credential_id: 5 for s in scans}, config) == set()


def test_reach_back_depends_on_the_door_and_the_venue() -> None:
    config = SETTINGS[2]
    assert reach_back_ms("entrance", "cafe-1", config) == 30 * MIN
    assert reach_back_ms("both", "gym-1", config) == 80 * MIN
    assert reach_back_ms("exit", "cafe-1", config) == 90 * MIN
    assert reach_back_ms("exit", "gym-1", config) == 160 * MIN
