"""The exposure engine on hand-made visits, on SQLite and PostgreSQL (aggregator/trace/)."""

from __future__ import annotations

import peewee
import pytest

from aggregator.retention import destroy_expired_keys
from aggregator.tables import CheckinEntry
from aggregator.trace.exposure import (
    MAX_CREDENTIALS,
    TraceRequestError,
    credential_ids_of,
    find_exposures,
)
from aggregator.trace.settings import TraceSettings
from aggregator.vault import DayKey, Vault, installed
from tests.unit.conftest import TEST_MASTER_KEY
from tests.unit.trace_town import DAY0, MINUTE, T0, Town, cid

SETTINGS = TraceSettings(
    default_stay_minutes=60,
    max_stay_minutes=240,
    min_overlap_minutes=15,
    stay_minutes_by_prefix={"gym-": 120},
)
EDGES = TraceSettings(default_stay_minutes=60, max_stay_minutes=240, min_overlap_minutes=0)
DAY_S = 86_400


@pytest.fixture
def town(db: peewee.Database, test_vault: Vault) -> Town:
    return Town()


def _trace(vault: Vault, ids, start: float, end: float, settings=SETTINGS):
    return find_exposures(ids, int(start * 1000), int(end * 1000), vault=vault, settings=settings)


def _who(found) -> dict[str, str]:
    """Each exposure handle's credential id in hex, as the server maps it back."""
    handles = [e.handle for e in found.exposures]
    ids = credential_ids_of(handles, vault=installed())
    assert set(ids) == set(handles)  # every handle maps back
    return {handle: cid.hex() for handle, cid in ids.items()}


def _by_handle(found) -> dict[str, float]:
    who = _who(found)
    return {who[e.handle]: e.overlap_s for e in found.exposures}


def test_overlapping_visits_are_listed_longest_overlap_first(town: Town, test_vault: Vault) -> None:
    case, a, b, c, d, elsewhere = (town.visitor() for _ in range(6))
    town.visit(case, "cafe-in", T0)  # case: [T0, T0 + 60 min)
    town.visit(d, "cafe-in", T0 + 10 * MINUTE)  # 50 min together
    town.visit(a, "cafe-in", T0 + 30 * MINUTE)  # 30 min
    town.visit(c, "cafe-in", T0 + 50 * MINUTE)  # 10 min: below the minimum
    town.visit(b, "cafe-in", T0 + 70 * MINUTE)  # after the case left
    town.visit(elsewhere, "bar-in", T0)  # same time, another venue
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert [_who(found)[e.handle] for e in found.exposures] == [cid(d).hex(), cid(a).hex()]
    assert [e.overlap_s for e in found.exposures] == [50 * 60.0, 30 * 60.0]
    first = found.exposures[0]
    assert first.venue_id == "cafe-1" and first.code_type == "checkin"
    assert first.case_start_ms == T0 * 1000
    assert first.exposed_start_ms == (T0 + 10 * MINUTE) * 1000
    assert first.exposed_end_ms == (T0 + 70 * MINUTE) * 1000
    assert [s.venue_id for s in found.case_stays] == ["cafe-1"]
    assert found.unreadable == 0


def test_half_open_stays_that_only_touch_do_not_overlap(town: Town, test_vault: Vault) -> None:
    case, before, after, inside = (town.visitor() for _ in range(4))
    town.visit(before, "cafe-in", T0 - 60 * MINUTE)  # [T0 - 60, T0): ends as the case comes
    town.visit(case, "cafe-in", T0)  # [T0, T0 + 60)
    town.visit(inside, "cafe-in", T0 + 60 * MINUTE - 1)  # one second together
    town.visit(after, "cafe-in", T0 + 60 * MINUTE)  # comes as the case leaves
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S, EDGES)
    assert _by_handle(found) == {cid(inside).hex(): 1.0}


def test_minimum_overlap_is_inclusive(town: Town, test_vault: Vault) -> None:
    case, exactly, short = town.visitor(), town.visitor(), town.visitor()
    town.visit(case, "cafe-in", T0)
    town.visit(exactly, "cafe-in", T0 + 45 * MINUTE)  # 15 min exactly
    town.visit(short, "cafe-in", T0 + 45 * MINUTE + 1)  # 15 min less a second
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert _by_handle(found) == {cid(exactly).hex(): 15 * 60.0}


def test_an_exit_scan_ends_a_stay(town: Town, test_vault: Vault) -> None:
    case, a, b = town.visitor(), town.visitor(), town.visitor()
    town.visit(case, "cafe-in", T0)
    town.visit(case, "cafe-out", T0 + 40 * MINUTE)  # the case left after 40 min
    town.visit(a, "cafe-in", T0 + 10 * MINUTE)
    town.visit(a, "cafe-out", T0 + 30 * MINUTE)  # a stayed 20 min, all with the case
    town.visit(b, "cafe-in", T0 + 20 * MINUTE)  # b: default stay, 20 min with the case
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert _by_handle(found) == {cid(a).hex(): 20 * 60.0, cid(b).hex(): 20 * 60.0}
    by_exit = {_who(found)[e.handle]: e.exposed_by_exit for e in found.exposures}
    assert by_exit == {cid(a).hex(): True, cid(b).hex(): False}
    assert [(s.start_ms, s.end_ms) for s in found.case_stays] == [
        (T0 * 1000, (T0 + 40 * MINUTE) * 1000)
    ]


def test_venue_type_sets_the_default_stay(town: Town, test_vault: Vault) -> None:
    case, late = town.visitor(), town.visitor()
    town.visit(case, "gym-in", T0)  # a gym: 120 min
    town.visit(late, "gym-in", T0 + 90 * MINUTE)
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert _by_handle(found) == {cid(late).hex(): 30 * 60.0}


def test_card_holders_are_listed_as_cards(town: Town, test_vault: Vault) -> None:
    case, card = town.visitor(), town.card()
    town.visit(case, "cafe-in", T0)
    town.visit(card, "cafe-in", T0 + 5 * MINUTE)
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    who = _who(found)
    assert [(who[e.handle], e.code_type) for e in found.exposures] == [(cid(card).hex(), "card")]


def test_a_card_case_is_traced_too(town: Town, test_vault: Vault) -> None:
    card, other = town.card(), town.visitor()
    town.visit(card, "bar-in", T0)
    town.visit(other, "bar-in", T0 + 20 * MINUTE)
    found = _trace(test_vault, [cid(card)], T0 - DAY_S, T0 + DAY_S)
    assert _by_handle(found) == {cid(other).hex(): 40 * 60.0}


def test_the_period_bounds_the_case_visits(town: Town, test_vault: Vault) -> None:
    case, monday, wednesday = town.visitor(), town.visitor(), town.visitor()
    town.visit(case, "cafe-in", T0)
    town.visit(monday, "cafe-in", T0 + 10 * MINUTE)
    town.visit(case, "bar-in", T0 + 2 * DAY_S)  # stored two days later: another day key
    town.visit(wednesday, "bar-in", T0 + 2 * DAY_S + 10 * MINUTE)
    both = _trace(test_vault, [cid(case)], DAY0, DAY0 + 3 * DAY_S)
    assert set(_by_handle(both)) == {cid(monday).hex(), cid(wednesday).hex()}
    late = _trace(test_vault, [cid(case)], DAY0 + DAY_S, DAY0 + 3 * DAY_S)
    assert set(_by_handle(late)) == {cid(wednesday).hex()}
    # A period starting mid-stay counts only the infectious part: [T0 + 30, T0 + 60).
    clipped = _trace(test_vault, [cid(case)], T0 + 30 * MINUTE, T0 + DAY_S)
    assert _by_handle(clipped) == {cid(monday).hex(): 30 * 60.0}
    assert clipped.case_stays[0].start_ms == (T0 + 30 * MINUTE) * 1000
    # Ending as the case arrives: nothing.
    assert not _trace(test_vault, [cid(case)], T0 - DAY_S, T0).case_stays


def test_several_credentials_of_one_case(town: Town, test_vault: Vault) -> None:
    day1, day2, a, b = (town.visitor() for _ in range(4))
    town.visit(day1, "cafe-in", T0)
    town.visit(a, "cafe-in", T0 + 20 * MINUTE)
    town.visit(day2, "bar-in", T0 + DAY_S)
    town.visit(b, "bar-in", T0 + DAY_S + 20 * MINUTE)
    found = _trace(test_vault, [cid(day1), cid(day2)], DAY0, DAY0 + 3 * DAY_S)
    assert set(_by_handle(found)) == {cid(a).hex(), cid(b).hex()}
    # One case credential is never listed as exposed to the other.
    town.visit(day2, "cafe-in", T0 + 10 * MINUTE)
    again = _trace(test_vault, [cid(day1), cid(day2)], DAY0, DAY0 + 3 * DAY_S)
    assert cid(day2).hex() not in _by_handle(again)


def test_a_credential_with_no_visits_finds_nothing(town: Town, test_vault: Vault) -> None:
    someone, nobody = town.visitor(), town.visitor()
    town.visit(someone, "cafe-in", T0)
    found = _trace(test_vault, [cid(nobody)], T0 - DAY_S, T0 + DAY_S)
    assert found.case_stays == () and found.exposures == () and found.rows_opened == 0


def test_a_destroyed_day_key_leaves_nothing_to_find(town: Town, test_vault: Vault) -> None:
    case, other = town.visitor(), town.visitor()
    town.visit(case, "cafe-in", T0)
    town.visit(other, "cafe-in", T0 + 10 * MINUTE)
    assert _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S).exposures
    destroy_expired_keys(T0 + 40 * DAY_S, retention_days=28)
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert found.case_stays == () and found.exposures == () and found.rows_opened == 0
    assert CheckinEntry.select().where(CheckinEntry.visit_tag.is_null(False)).count() == 0


def test_a_key_destroyed_since_the_last_trace_is_not_used_from_memory(
    town: Town, test_vault: Vault
) -> None:
    """The tracer's vault remembers the keys it read (aggregator.vault recent_day_keys);
    a key destroyed since, by another process, must not find the rows it tagged."""
    case, other = town.visitor(), town.visitor()
    town.visit(case, "cafe-in", T0)
    town.visit(other, "cafe-in", T0 + 10 * MINUTE)
    tracer = Vault(TEST_MASTER_KEY)
    assert _trace(tracer, [cid(case)], T0 - DAY_S, T0 + DAY_S).exposures
    assert _trace(tracer, [cid(case)], T0 - DAY_S, T0 + DAY_S).exposures  # from memory
    # Only the key row changes (the tags stay), as if read between retention's steps.
    DayKey.update(wrapped=b"", destroyed=True).where(DayKey.day == T0 // DAY_S).execute()
    found = _trace(tracer, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert found.case_stays == () and found.exposures == ()
    assert _trace(tracer, [cid(case)], T0 - DAY_S, T0 + DAY_S).case_stays == ()


def test_rows_only_at_the_case_venues_are_read_and_none_opened(
    town: Town, test_vault: Vault
) -> None:
    case = town.visitor()
    town.visit(case, "cafe-in", T0)
    for n in range(5):
        town.visit(town.visitor(), "bar-in", T0 + n * MINUTE)
    found = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S)
    assert found.rows_read == 1 and found.rows_opened == 0


@pytest.mark.parametrize(
    ("ids", "start", "end", "words"),
    [
        ([], T0, T0 + 1, "no credential"),
        (b"12345678", T0, T0 + 1, "list"),
        ([b"short"], T0, T0 + 1, "bytes"),
        (["8 chars!"], T0, T0 + 1, "bytes"),
        (
            [bytes(8)] * 2 + [n.to_bytes(8, "big") for n in range(1, MAX_CREDENTIALS + 1)],
            T0,
            T0 + 1,
            "at most",
        ),
        ([bytes(8)], T0, T0, "ends before"),
        ([bytes(8)], T0, T0 - 1, "ends before"),
        ([bytes(8)], T0, T0 + 29 * DAY_S, "longer than 28"),
        ([bytes(8)], -1, T0, "time in ms"),
    ],
)
def test_bad_requests_are_refused_before_any_query(
    test_vault: Vault, ids, start: int, end: int, words: str
) -> None:
    # No database is bound here: a query would fail with another error.
    with pytest.raises(TraceRequestError, match=words):
        find_exposures(ids, start * 1000, end * 1000, vault=test_vault, settings=SETTINGS)


def test_visitors_whose_scans_straddle_midnight_are_told_apart_by_their_tags(
    town: Town, test_vault: Vault
) -> None:
    midnight = DAY0 + DAY_S
    case, night_owl, early, late = (town.visitor() for _ in range(4))
    town.visit(case, "cafe-in", midnight - 50 * MINUTE)
    town.visit(night_owl, "cafe-in", midnight - 40 * MINUTE)  # tag of the first day
    town.visit(night_owl, "cafe-out", midnight + 5 * MINUTE)  # tag of the second day
    town.visit(early, "cafe-in", midnight - 5 * 3600)  # only the first day, far from the rest
    town.visit(late, "cafe-in", midnight + 3 * 3600)  # only the second day, far too
    found = _trace(test_vault, [cid(case)], DAY0, DAY0 + 2 * DAY_S)
    # The exit after midnight ends the night owl's stay: the two tags are one visitor,
    # which only the day keys can tell (each tag turned back into its credential id).
    assert _by_handle(found) == {cid(night_owl).hex(): 45 * 60.0}
    assert found.exposures[0].exposed_by_exit
    assert found.rows_read == 4 and found.rows_opened == 0


def test_a_damaged_tag_that_must_be_told_apart_is_read_from_its_record(
    town: Town, test_vault: Vault
) -> None:
    midnight = DAY0 + DAY_S
    case, night_owl = town.visitor(), town.visitor()
    town.visit(case, "cafe-in", midnight - 50 * MINUTE)
    town.visit(night_owl, "cafe-in", midnight - 40 * MINUTE)
    out = town.visit(night_owl, "cafe-out", midnight + 5 * MINUTE)
    damaged = CheckinEntry.update(visit_tag=bytes(16)).where(CheckinEntry.id == out.id)
    assert damaged.execute() == 1  # a tag no credential id gives
    found = _trace(test_vault, [cid(case)], DAY0, DAY0 + 2 * DAY_S)
    assert _by_handle(found) == {cid(night_owl).hex(): 45 * 60.0}
    assert found.rows_opened == 1


def test_handles_are_opaque_and_only_the_servers_own_map_back(
    town: Town, test_vault: Vault
) -> None:
    case, card = town.visitor(), town.card()
    town.visit(case, "cafe-in", T0)
    town.visit(card, "cafe-in", T0 + 5 * MINUTE)
    town.visit(card, "cafe-out", T0 + 50 * MINUTE)
    (exposure,) = _trace(test_vault, [cid(case)], T0 - DAY_S, T0 + DAY_S).exposures
    handle = exposure.handle
    assert len(handle) == 32 and cid(card).hex() not in handle
    assert credential_ids_of([handle], vault=test_vault) == {handle: cid(card)}
    forged = [handle[:-1] + ("0" if handle[-1] != "0" else "1"), handle.upper(), "", "zz", 7]
    assert credential_ids_of(forged, vault=test_vault) == {}
    assert credential_ids_of([handle], vault=Vault(bytes(32))) == {}  # another master key
    with pytest.raises(TraceRequestError):
        credential_ids_of(handle, vault=test_vault)
