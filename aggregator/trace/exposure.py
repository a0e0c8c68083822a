"""The exposure list: a case's visits, and every other visit overlapping them, by overlap.

Given the case's credential ids (its day credentials, found on the official's side)
and its infectious period ``[start_ms, end_ms)``, :func:`find_exposures`:

1. computes the visit tags of those credentials for every day that could hold their
   visits (aggregator.vault ``lookup_tags``: days whose key is destroyed give none) and
   reads the matching rows through the ``visit_tag`` index: one query;
2. opens those rows only (the vault, each day key read once) and makes the case's
   stays (aggregator/trace/stays.py), clipped to the period;
3. reads the rows at the same venues from ``max_stay`` before each case stay to
   ``max_stay`` after it through the ``(venue_id, placed_ms)`` index (one query per
   200 venue windows), opens them, and makes their visitors' stays (an exit scan in
   that window ends a stay);
4. keeps each pair (case stay, other stay) at one venue sharing at least
   ``min_overlap_minutes`` (and more than nothing: stays are half-open), ranked by
   overlap, longest first.

Each row of the list names the venue, both stays, the overlap in seconds, the code
type (``checkin`` for a phone, ``card`` for a printed card) and an opaque handle: the
exposed visit's credential id in hex, which the official's side sends back to ask
for the sealed owner. Rows that cannot be opened (a destroyed or missing day key, a
bad ciphertext) are counted in ``unreadable``, never guessed at. Rows stored before
the tracing columns existed (aggregator/trace/schema.py) have neither tag nor venue
and are not found.

Bad requests (no credential id, too many, not bytes, an empty, reversed or too long
period) raise :class:`TraceRequestError` before any query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import peewee

from protocol.credential import CREDENTIAL_ID_SIZE
from protocol.errors import ProtocolError
from protocol.presentation import CodeType

from ..tables import CheckinEntry
from ..vault import DAY_MS, DayKeys, Vault, VaultError, day_of
from .records import visit_fields
from .settings import TraceSettings
from .stays import Scan, Stay, overlap_ms, stays_of

#: Most credential ids one request may name (a case's day credentials, with room).
MAX_CREDENTIALS = 256
#: Venue windows per candidate query (each adds three parameters).
WINDOWS_PER_QUERY = 200
#: A scan may be placed this long after its storing day begins (kiosk clock skew).
_SKEW_MS = 60_000


class TraceRequestError(ProtocolError):
    """A trace request that cannot be answered: what is wrong is in the message."""

    reason = "bad_trace_request"


@dataclass(frozen=True)
class Exposure:
    """One case stay and one other visitor's stay at the same venue, and their overlap."""

    venue_id: str
    case_start_ms: int
    case_end_ms: int
    exposed_start_ms: int
    exposed_end_ms: int
    overlap_s: float
    #: ``checkin`` (a phone's code) or ``card`` (a printed card).
    code_type: str
    #: The exposed visit's credential id (hex): the official's side asks for its owner.
    handle: str
    #: True when an exit scan ended the exposed stay (else the venue's default stay).
    exposed_by_exit: bool


@dataclass(frozen=True)
class ExposureList:
    """The answer: the case's stays, the ranked exposures, and what was read."""

    case_stays: tuple[Stay, ...]
    exposures: tuple[Exposure, ...]
    #: Rows read from the database (case and candidates) and opened with the vault.
    rows_opened: int = 0
    #: Rows that could not be opened (destroyed or missing day key, bad ciphertext).
    unreadable: int = 0
    venues: tuple[str, ...] = field(default=())
    #: Seconds spent in the database (day keys and the two indexed queries), and in
    #: opening and reading records plus making stays and pairs: where the time goes.
    query_s: float = 0.0
    work_s: float = 0.0


def _check_request(
    credential_ids: Sequence[bytes], start_ms: int, end_ms: int, settings: TraceSettings
) -> list[bytes]:
    if isinstance(credential_ids, bytes | str):
        raise TraceRequestError("credential ids come as a list of ids, not one string")
    ids = list(dict.fromkeys(credential_ids))
    if not ids:
        raise TraceRequestError("no credential id: nothing to trace")
    if len(ids) > MAX_CREDENTIALS:
        raise TraceRequestError(f"{len(ids)} credential ids: at most {MAX_CREDENTIALS}")
    for cid in ids:
        if not isinstance(cid, bytes) or len(cid) != CREDENTIAL_ID_SIZE:
            raise TraceRequestError(f"a credential id is {CREDENTIAL_ID_SIZE} bytes")
    for name, value in (("start", start_ms), ("end", end_ms)):
        if type(value) is not int or not 0 <= value < 2**62:
            raise TraceRequestError(f"the period's {name} must be a time in ms")
    if end_ms <= start_ms:
        raise TraceRequestError("the period ends before it starts")
    if end_ms - start_ms > settings.max_period_days * DAY_MS:
        raise TraceRequestError(f"the period is longer than {settings.max_period_days} days")
    return ids


def find_exposures(
    credential_ids: Sequence[bytes],
    start_ms: int,
    end_ms: int,
    *,
    vault: Vault,
    settings: TraceSettings | None = None,
) -> ExposureList:
    """The case's stays in ``[start_ms, end_ms)`` and every overlapping visit, ranked."""
    settings = settings if settings is not None else TraceSettings()
    ids = _check_request(credential_ids, start_ms, end_ms, settings)
    clock = _Clock()
    reach = settings.max_stay_ms
    first_day = day_of(start_ms - reach - _SKEW_MS)
    last_day = day_of(end_ms + reach) + settings.max_outbox_age_days
    with clock.query():
        keys = vault.day_keys(list(range(first_day, last_day + 1)))  # read once, now
    tags = keys.tags(ids)
    if not tags:
        return ExposureList((), ())
    with clock.query():
        rows = _case_rows(list(tags), start_ms - reach, end_ms + reach)
    scans, unreadable = _open(keys, rows)
    case_ids = set(ids)
    scans = [scan for scan in scans if scan.credential_id in case_ids]
    case_stays = tuple(_clip(stays_of(scans, settings), start_ms, end_ms))
    if not case_stays:
        return ExposureList((), (), len(rows), unreadable, (), *clock.split())
    windows = _windows(case_stays, reach)
    seen = {scan.row_id for scan in scans}
    with clock.query():
        venue_rows = _venue_rows(windows)
    candidates = [row for row in venue_rows if row[0] not in seen]
    others, more_unreadable = _open(keys, candidates)
    other_stays = stays_of([s for s in others if s.credential_id not in case_ids], settings)
    exposures = _pairs(case_stays, other_stays, settings.min_overlap_ms)
    venues = tuple(sorted({stay.venue_id for stay in case_stays}))
    return ExposureList(
        case_stays,
        tuple(exposures),
        len(rows) + len(candidates),
        unreadable + more_unreadable,
        venues,
        *clock.split(),
    )


class _Clock:
    """Time in the database vs the rest of one call."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.in_query = 0.0

    @contextlib.contextmanager
    def query(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.in_query += time.perf_counter() - began

    def split(self) -> tuple[float, float]:
        total = time.perf_counter() - self.began
        return self.in_query, total - self.in_query


_Row = tuple[int, bytes, int, bytes, str, int]


def _select(db: peewee.Database) -> str:
    """The start of each query: the columns tracing reads, from the check-in table."""
    c = CheckinEntry._meta
    q = db.quote
    names = ", ".join(
        q[0] + c.fields[name].column_name + q[1]
        for name in ("id", "checkin_id", "day", "sealed", "venue_id", "placed_ms")
    )
    return f"SELECT {names} FROM {q[0]}{c.table_name}{q[1]} WHERE "


def _case_rows(tags: list[bytes], low_ms: int, high_ms: int) -> list[_Row]:
    """The rows carrying any of ``tags`` placed in ``[low_ms, high_ms)``: one indexed query.

    Hand-written SQL (as in aggregator/ingest.py): peewee would spend longer building
    the statement than the database spends answering it.
    """
    db = CheckinEntry._meta.database
    p = db.param
    sql = (
        _select(db)
        + f"visit_tag IN ({', '.join([p] * len(tags))}) AND placed_ms >= {p}"
        + f" AND placed_ms < {p} AND venue_id IS NOT NULL"
    )
    return [tuple(row) for row in db.execute_sql(sql, [*tags, low_ms, high_ms]).fetchall()]


def _windows(case_stays: Sequence[Stay], reach: int) -> list[tuple[str, int, int]]:
    """Per venue, the merged spans ``[start - reach, end + reach)`` around its case stays."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for stay in case_stays:
        spans.setdefault(stay.venue_id, []).append((stay.start_ms - reach, stay.end_ms + reach))
    merged: list[tuple[str, int, int]] = []
    for venue, items in sorted(spans.items()):
        items.sort()
        low, high = items[0]
        for a, b in items[1:]:
            if a <= high:
                high = max(high, b)
            else:
                merged.append((venue, low, high))
                low, high = a, b
        merged.append((venue, low, high))
    return merged


def _venue_rows(windows: list[tuple[str, int, int]]) -> list[_Row]:
    """The rows at each venue placed in its windows, through the (venue, placed) index."""
    db = CheckinEntry._meta.database
    p = db.param
    one = f"(venue_id = {p} AND placed_ms >= {p} AND placed_ms < {p})"
    rows: list[_Row] = []
    for at in range(0, len(windows), WINDOWS_PER_QUERY):
        part = windows[at : at + WINDOWS_PER_QUERY]
        sql = _select(db) + " OR ".join([one] * len(part))
        params = [value for window in part for value in window]
        rows.extend(tuple(row) for row in db.execute_sql(sql, params).fetchall())
    return rows


def _open(keys: DayKeys, rows: list[_Row]) -> tuple[list[Scan], int]:
    """The scans of ``rows`` whose records open; and how many did not."""
    opened = keys.open_many([(bytes(r[1]), r[2], bytes(r[3])) for r in rows])
    scans: list[Scan] = []
    for row, wire in zip(rows, opened, strict=True):
        if isinstance(wire, VaultError):
            continue
        try:
            door, credential_id, code_type = visit_fields(wire)
        except ProtocolError:
            continue
        scans.append(Scan(row[0], row[4], row[5], door, credential_id, code_type))
    return scans, len(rows) - len(scans)


def _clip(stays: list[Stay], start_ms: int, end_ms: int) -> list[Stay]:
    """The stays cut to the period; those wholly outside it dropped."""
    clipped = []
    for stay in stays:
        low, high = max(stay.start_ms, start_ms), min(stay.end_ms, end_ms)
        if high > low:
            clipped.append(Stay(stay.scan, low, high, stay.by_exit))
    return clipped


_CODE_NAMES = {int(code): code.name.lower() for code in CodeType}


def _code_name(code_type: int) -> str:
    return _CODE_NAMES.get(code_type, str(code_type))


def _pairs(case_stays: Sequence[Stay], others: list[Stay], min_ms: int) -> list[Exposure]:
    by_venue: dict[str, list[Stay]] = {}
    for stay in others:
        by_venue.setdefault(stay.venue_id, []).append(stay)
    found: list[Exposure] = []
    for case in case_stays:
        for other in by_venue.get(case.venue_id, ()):
            shared = overlap_ms(case, other)
            if shared <= 0 or shared < min_ms:
                continue
            found.append(
                Exposure(
                    venue_id=case.venue_id,
                    case_start_ms=case.start_ms,
                    case_end_ms=case.end_ms,
                    exposed_start_ms=other.start_ms,
                    exposed_end_ms=other.end_ms,
                    overlap_s=shared / 1000,
                    code_type=_code_name(other.scan.code_type),
                    handle=other.scan.credential_id.hex(),
                    exposed_by_exit=other.by_exit,
                )
            )
    found.sort(key=lambda e: (-e.overlap_s, e.exposed_start_ms, e.venue_id, e.handle))
    return found
