"""Check-ins counted per venue and time window, from the ``(venue_id, placed_ms)`` index alone.

The venue owner's charts (aggregator/pages/venues.py) need counts per hour and per day,
and nothing else: one grouped query per page reads the index the tracing engine added
(aggregator/trace/schema.py) and never a visit. Nothing is decrypted and no column that
could say who came (the sealed record, the visit tag, the presentation hash) is read.

Windows follow the site's calendar, so they need not be whole UTC hours (half-hour time
zones, daylight saving). The query counts per quarter hour from the first boundary
(every time zone's offset is a multiple of 15 minutes), and the quarters are added up
into the windows here.

Rows whose where and when retention has forgotten (``placed_ms`` NULL) are never counted.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import peewee
from peewee import SQL, fn

from .tables import CheckinEntry

QUARTER_MS = 15 * 60_000
HOUR_MS = 4 * QUARTER_MS
MAX_WINDOWS = 1000
"""At most this many windows per query (14 days of quarter hours is 1,344 groups)."""


class WindowError(ValueError):
    """Window boundaries that are not increasing or not on quarter hours."""


def quarter_counts(
    venue_ids: Sequence[str], start_ms: int, end_ms: int
) -> dict[str, dict[int, int]]:
    """Check-ins placed at each venue from ``start_ms`` to ``end_ms``, per quarter hour.

    Keys are the quarters' starts (``start_ms`` plus whole quarter hours); quarters with
    nothing are left out. Every venue of ``venue_ids`` gets a dict. One grouped query
    over the ``(venue_id, placed_ms)`` index for all of them.
    """
    venues = sorted(set(venue_ids))
    counts: dict[str, dict[int, int]] = {venue: {} for venue in venues}
    if not venues or end_ms <= start_ms:
        return counts
    rows = quarter_query(venues, start_ms, end_ms).tuples()
    for venue, quarter_index, number in rows:
        counts[venue][start_ms + int(quarter_index) * QUARTER_MS] = int(number)
    return counts


def quarter_query(venues: Sequence[str], start_ms: int, end_ms: int) -> peewee.ModelSelect:
    """The one grouped query: (venue, quarter number from ``start_ms``, check-ins) rows.

    Only ``venue_id`` and ``placed_ms`` are read: on SQLite the index covers the query,
    on PostgreSQL it is an index (only) scan.
    """
    quarter = (CheckinEntry.placed_ms - start_ms) / QUARTER_MS
    return (
        CheckinEntry.select(CheckinEntry.venue_id, quarter.alias("quarter"), fn.COUNT(SQL("*")))
        .where(
            CheckinEntry.venue_id.in_(list(venues))
            & (CheckinEntry.placed_ms >= start_ms)
            & (CheckinEntry.placed_ms < end_ms)
        )
        # By position: PostgreSQL may take the parameters of a repeated expression as
        # different values, and refuse "GROUP BY <the expression>".
        .group_by(SQL("1"), SQL("2"))
    )


def window_sums(quarters: Mapping[int, int], boundaries: Sequence[int], origin: int) -> list[int]:
    """Add quarter counts (keyed by start, on ``origin``'s grid) into the windows
    ``[boundaries[i], boundaries[i+1])``; quarters outside every window are left out.

    Inner boundaries must lie on the quarter-hour grid of ``origin`` (WindowError).
    """
    if len(boundaries) < 2 or len(boundaries) > MAX_WINDOWS + 1:
        raise WindowError("between 1 and 1000 windows")
    for before, after in zip(boundaries, boundaries[1:], strict=False):
        if after <= before:
            raise WindowError("window boundaries must increase")
    if any((inner - origin) % QUARTER_MS for inner in boundaries[:-1]):
        raise WindowError("window boundaries must lie on quarter hours")
    sums = [0] * (len(boundaries) - 1)
    for start, number in quarters.items():
        window = bisect.bisect_right(boundaries, start) - 1
        if 0 <= window < len(sums) and start < boundaries[-1]:
            sums[window] += number
    return sums


def counts_in_windows(venue_ids: Sequence[str], boundaries: Sequence[int]) -> dict[str, list[int]]:
    """Check-ins at each venue in each window ``[boundaries[i], boundaries[i+1])``."""
    quarters = quarter_counts(venue_ids, boundaries[0], boundaries[-1])
    return {venue: window_sums(q, boundaries, boundaries[0]) for venue, q in quarters.items()}


def hour_boundaries(now_ms: int, zone: ZoneInfo, hours: int = 24) -> list[int]:
    """The last ``hours`` whole local hours ending with the current one (``hours + 1`` times).

    Real hours: across a daylight-saving change a local hour label repeats or is skipped.
    """
    offset_ms = _offset_ms(now_ms, zone)
    this_hour = (now_ms + offset_ms) // HOUR_MS * HOUR_MS - offset_ms
    return [this_hour - (hours - 1 - i) * HOUR_MS for i in range(hours + 1)]


def day_boundaries(now_ms: int, zone: ZoneInfo, days: int = 14) -> list[int]:
    """Local midnights of the last ``days`` days (today the last), and the next midnight."""
    today = _local(now_ms, zone).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days + 1)]
    return [midnight_ms(day, zone) for day in dates]


def midnight_ms(day: date, zone: ZoneInfo) -> int:
    """The start of local ``day`` in ms since the epoch."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def local_time(ms: int, zone: ZoneInfo) -> datetime:
    """``ms`` as an aware local datetime of ``zone``."""
    return _local(ms, zone)


def _local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=zone)


def _offset_ms(ms: int, zone: ZoneInfo) -> int:
    offset = _local(ms, zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0
