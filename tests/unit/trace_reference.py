"""The exposure engine as it was before the index answered for it: it opens every row.

Kept as the reference the index-based engine (aggregator/trace/exposure.py) must equal
(tests/unit/test_trace_equivalence.py). Each row found, the case's by tag and the
others by venue and time, is opened with the vault; the visitor is the credential id
inside, the door and code type are read from the signed record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from aggregator.tables import CheckinEntry
from aggregator.trace.exposure import _check_request, _clip, _code_name, _windows
from aggregator.trace.records import visit_fields
from aggregator.trace.settings import TraceSettings
from aggregator.trace.stays import Scan, Stay, overlap_ms, stays_of
from aggregator.vault import DayKeys, Vault, VaultError, day_of
from protocol.errors import ProtocolError

_SKEW_MS = 60_000


class Listed(NamedTuple):
    """One exposure as the reference lists it (the visitor by credential id)."""

    venue_id: str
    case_start_ms: int
    case_end_ms: int
    exposed_start_ms: int
    exposed_end_ms: int
    overlap_s: float
    code_type: str
    credential_hex: str
    exposed_by_exit: bool


class Reference(NamedTuple):
    case_stays: tuple[Stay, ...]
    exposures: tuple[Listed, ...]
    unreadable: int


def _rows(where: str, params: list) -> list[tuple]:
    db = CheckinEntry._meta.database
    sql = (
        'SELECT "id", "checkin_id", "day", "sealed", "venue_id", "placed_ms" FROM "checkin"'
        f" WHERE {where}"
    )
    return [tuple(row) for row in db.execute_sql(sql, params).fetchall()]


def _open(keys: DayKeys, rows: list[tuple]) -> tuple[list[Scan], int]:
    opened = keys.open_many([(bytes(r[1]), r[2], bytes(r[3])) for r in rows])
    scans = []
    for row, wire in zip(rows, opened, strict=True):
        if isinstance(wire, VaultError):
            continue
        try:
            door, credential_id, code_type = visit_fields(wire)
        except ProtocolError:
            continue
        scans.append(Scan(row[0], row[4], row[5], door, credential_id, code_type))
    return scans, len(rows) - len(scans)


def reference_exposures(
    credential_ids: Sequence[bytes],
    start_ms: int,
    end_ms: int,
    *,
    vault: Vault,
    settings: TraceSettings,
) -> Reference:
    """The former ``find_exposures``, every row opened."""
    ids = _check_request(credential_ids, start_ms, end_ms, settings)
    reach = settings.max_stay_ms
    first_day = day_of(start_ms - reach - _SKEW_MS)
    last_day = day_of(end_ms + reach) + settings.max_outbox_age_days
    keys = vault.day_keys(list(range(first_day, last_day + 1)))
    tags = keys.tags(ids)
    if not tags:
        return Reference((), (), 0)
    p = CheckinEntry._meta.database.param
    rows = _rows(
        f"visit_tag IN ({', '.join([p] * len(tags))}) AND placed_ms >= {p}"
        f" AND placed_ms < {p} AND venue_id IS NOT NULL",
        [*tags, start_ms - reach, end_ms + reach],
    )
    scans, unreadable = _open(keys, rows)
    case_ids = set(ids)
    scans = [scan for scan in scans if scan.credential_id in case_ids]
    case_stays = tuple(_clip(stays_of(scans, settings), start_ms, end_ms))
    if not case_stays:
        return Reference((), (), unreadable)
    seen = {scan.row_id for scan in scans}
    venue_rows = []
    for venue, low, high in _windows(case_stays, reach):
        venue_rows += _rows(
            f"venue_id = {p} AND placed_ms >= {p} AND placed_ms < {p}", [venue, low, high]
        )
    candidates = [row for row in venue_rows if row[0] not in seen]
    others, more = _open(keys, candidates)
    other_stays = stays_of([s for s in others if s.credential_id not in case_ids], settings)
    found = []
    for case in case_stays:
        for other in other_stays:
            if other.venue_id != case.venue_id:
                continue
            shared = overlap_ms(case, other)
            if shared <= 0 or shared < settings.min_overlap_ms:
                continue
            found.append(
                Listed(
                    case.venue_id,
                    case.start_ms,
                    case.end_ms,
                    other.start_ms,
                    other.end_ms,
                    shared / 1000,
                    _code_name(other.scan.code_type),
                    other.scan.credential_id.hex(),
                    other.by_exit,
                )
            )
    return Reference(case_stays, tuple(found), unreadable + more)
