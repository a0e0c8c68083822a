"""Stays as half-open intervals ``[start, end)`` in ms, and how much two of them overlap.

A visitor's scans at one venue make their stays there (:func:`stays_of`):

- a scan at an ``entrance`` or ``both`` door opens a stay;
- the stay ends at that visitor's first later scan at an ``exit`` door of the venue
  within ``max_stay`` (a check-out), else after the venue's default stay
  (aggregator/trace/settings.py), and in any case at the visitor's next entrance scan
  there, so one visitor's stays at one venue never overlap each other;
- an exit scan with no open stay stands for a stay of the default length ending there
  (begun no earlier than the visitor's previous stay there ended).

Two stays touching end to start (``a.end == b.start``) do not overlap (half-open).
Pure functions: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .settings import TraceSettings

EXIT = "exit"


class Scan(NamedTuple):
    """One check-in as tracing sees it once its record is opened."""

    row_id: int
    venue_id: str
    placed_ms: int
    door: str
    credential_id: bytes
    code_type: int


class Stay(NamedTuple):
    """A visitor's time at a venue: ``[start_ms, end_ms)``, opened by ``scan``.

    Named tuples, not dataclasses: a case makes thousands, and these are 5x cheaper.
    """

    scan: Scan
    start_ms: int
    end_ms: int
    #: True when an exit scan ended it (or, for a lone exit scan, is its end).
    by_exit: bool

    @property
    def venue_id(self) -> str:
        return self.scan.venue_id


def overlap_ms(a: Stay, b: Stay) -> int:
    """How long two half-open stays share, in ms (0 when they only touch or miss)."""
    return max(0, min(a.end_ms, b.end_ms) - max(a.start_ms, b.start_ms))


def stays_of(scans: Iterable[Scan], settings: TraceSettings) -> list[Stay]:
    """Every stay made by ``scans`` (any visitors, any venues), by start time."""
    groups: dict[tuple[bytes, str], list[Scan]] = {}
    for scan in scans:
        groups.setdefault((scan.credential_id, scan.venue_id), []).append(scan)
    result: list[Stay] = []
    for group in groups.values():
        result.extend(_one_visitor_one_venue(sorted(group, key=_order), settings))
    return sorted(result, key=lambda stay: (stay.start_ms, stay.scan.row_id))


def _order(scan: Scan) -> tuple[int, int]:
    return scan.placed_ms, scan.row_id


def _one_visitor_one_venue(scans: list[Scan], settings: TraceSettings) -> list[Stay]:
    stays: list[Stay] = []
    open_scan: Scan | None = None  # the entrance whose stay is not closed yet

    def close(end_ms: int, by_exit: bool) -> None:
        nonlocal open_scan
        if open_scan is not None:
            stays.append(Stay(open_scan, open_scan.placed_ms, end_ms, by_exit))
            open_scan = None

    for scan in scans:
        if open_scan is not None:
            default_end = open_scan.placed_ms + settings.default_stay_ms(open_scan.venue_id)
            latest_exit = open_scan.placed_ms + settings.max_stay_ms
            if scan.door == EXIT and open_scan.placed_ms < scan.placed_ms <= latest_exit:
                close(scan.placed_ms, True)
                continue
            if scan.door != EXIT:
                close(min(default_end, scan.placed_ms), False)
            elif scan.placed_ms > latest_exit:
                close(default_end, False)
        if scan.door == EXIT:  # an exit with nothing open: it ends a default stay
            start = scan.placed_ms - settings.default_stay_ms(scan.venue_id)
            if stays:  # ... begun no earlier than the visitor's previous stay there ended
                start = max(start, stays[-1].end_ms)
            stays.append(Stay(scan, start, scan.placed_ms, True))
        else:
            open_scan = scan
    if open_scan is not None:
        close(open_scan.placed_ms + settings.default_stay_ms(open_scan.venue_id), False)
    return [stay for stay in stays if stay.end_ms > stay.start_ms]
