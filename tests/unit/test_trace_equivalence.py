"""The index-based exposure list equals the former engine's, which opened every row.

Seeded random towns on SQLite and PostgreSQL, crowded around one UTC midnight so that
stays cross it (entry and exit scans under two day keys, so two visit tags), some
records stored days late (outbox), printed cards beside phones, exit doors, a venue
with a longer default stay, and per seed either a destroyed day key (its rows are
``unreadable``) or rows written before the door and code-mark columns (opened as
before). For several cases per town the two engines must list the same case stays,
the same exposures (handles mapped back to credential ids by ``credential_ids_of``),
in the same order of overlap, and count the same unreadable rows.
"""

from __future__ import annotations

import random
from collections import Counter

import peewee
import pytest

from aggregator.retention import destroy_expired_keys
from aggregator.tables import CheckinEntry
from aggregator.trace.exposure import credential_ids_of, find_exposures
from aggregator.trace.settings import TraceSettings
from aggregator.vault import Vault
from tests.unit.trace_reference import Listed, reference_exposures
from tests.unit.trace_town import DAY0, Town, cid

DAY_S = 86_400
MIDNIGHT = DAY0 + DAY_S
SETTINGS = TraceSettings(
    default_stay_minutes=60,
    max_stay_minutes=240,
    min_overlap_minutes=5,
    stay_minutes_by_prefix={"gym-": 120},
)
SEEDS = range(10)


def _populate(town: Town, rng: random.Random, spread_s: int) -> list:
    """About 80 scans around MIDNIGHT; the visitors (wallets first, then cards)."""
    wallets = [town.visitor() for _ in range(9)]
    cards = [town.card() for _ in range(2)]
    people = wallets + cards
    used: set[tuple[int, str, int]] = set()
    for _ in range(80):
        n = rng.randrange(len(people))
        venue = "cafe" if n >= len(wallets) else rng.choice(["cafe", "cafe", "gym", "bar"])
        kiosk = {"cafe": rng.choice(["cafe-in", "cafe-in", "cafe-out"])}.get(venue, f"{venue}-in")
        at = MIDNIGHT + rng.randrange(-spread_s, spread_s)
        if (n, kiosk, at) in used or (n < len(wallets) and (n, "", at) in used):
            continue  # the same code twice would be a replay
        used.update({(n, kiosk, at), (n, "", at)})
        late = rng.random() < 0.15
        stored = at + rng.randrange(60, 2 * DAY_S) if late else None
        town.visit(people[n], kiosk, at, stored)
    return people


def _damage(rng: random.Random, kind: str) -> None:
    """Destroy the day before MIDNIGHT, or make some rows look like older versions'."""
    if kind == "destroyed":
        destroy_expired_keys(MIDNIGHT + 28 * DAY_S + 1, retention_days=28)
        return
    if kind == "legacy":
        c = CheckinEntry
        ids = [row.id for row in c.select(c.id)]
        for row_id in rng.sample(ids, len(ids) // 4):
            blank = rng.choice([{"door": None}, {"code_mark": None}, {"visit_tag": None}])
            c.update(blank).where(c.id == row_id).execute()


def _new_list(found, vault: Vault) -> list[Listed]:
    ids = credential_ids_of([e.handle for e in found.exposures], vault=vault)
    return [
        Listed(
            e.venue_id,
            e.case_start_ms,
            e.case_end_ms,
            e.exposed_start_ms,
            e.exposed_end_ms,
            e.overlap_s,
            e.code_type,
            ids[e.handle].hex(),
            e.exposed_by_exit,
        )
        for e in found.exposures
    ]


def _rank(item: Listed) -> tuple:
    return (-item.overlap_s, item.exposed_start_ms, item.venue_id)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_index_lists_what_opening_every_row_listed(
    db: peewee.Database, test_vault: Vault, seed: int
) -> None:
    rng = random.Random(seed)
    town = Town()
    people = _populate(town, rng, spread_s=rng.choice([2, 4, 6]) * 3600)
    kind = ["none", "destroyed", "legacy"][seed % 3]
    _damage(rng, kind)
    for _ in range(4):
        case = [cid(p) for p in rng.sample(people, rng.choice([1, 1, 2]))]
        start = MIDNIGHT - rng.randrange(0, 8 * 3600)
        end = MIDNIGHT + rng.randrange(1, 8 * 3600)
        old = reference_exposures(
            case, start * 1000, end * 1000, vault=test_vault, settings=SETTINGS
        )
        new = find_exposures(case, start * 1000, end * 1000, vault=test_vault, settings=SETTINGS)
        assert new.case_stays == old.case_stays
        listed = _new_list(new, test_vault)
        assert Counter(listed) == Counter(old.exposures)
        assert [_rank(e) for e in listed] == sorted(_rank(e) for e in listed)
        assert new.unreadable == old.unreadable
        assert new.rows_opened <= new.rows_read
