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
    """One check-in as tracing sees it: from the index columns, or its opened record.

    ``credential_id`` names the visitor: the credential id, or for other visitors in
    the exposure engine a key standing for one (aggregator/trace/visitors.py);
    ``code_type`` is -1 while it is still masked.
    """

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


#: Makes a Stay without the named tuple's Python-level ``__new__`` (tracing makes hundreds).
_new = tuple.__new__


def stays_of(scans: Iterable[Scan], settings: TraceSettings) -> list[Stay]:
    """Every stay made by ``scans`` (any visitors, any venues), by start time."""
    first: dict[tuple[bytes, str], Scan] = {}
    more: dict[tuple[bytes, str], list[Scan]] = {}
    for scan in scans:
        key = (scan[4], scan[1])  # (credential_id, venue_id)
        if key not in first:
            first[key] = scan
        elif key in more:
            more[key].append(scan)
        else:
            more[key] = [first[key], scan]
    ordered: list[tuple[int, int, int, Stay]] = []
    defaults: dict[str, int] = {}
    for key, scan in first.items():
        if key in more:
            for stay in stays_at_one_venue(sorted(more[key], key=_order), settings):
                ordered.append((stay.start_ms, stay.scan.row_id, len(ordered), stay))
            continue
        # most visitors: one scan, one stay of the default length
        row_id, venue_id, at, door, _, _ = scan
        default_ms = defaults.get(venue_id)
        if default_ms is None:
            default_ms = defaults[venue_id] = settings.default_stay_ms(venue_id)
        if door == EXIT:
            stay = _new(Stay, (scan, at - default_ms, at, True))
        else:
            stay = _new(Stay, (scan, at, at + default_ms, False))
        ordered.append((stay[1], row_id, len(ordered), stay))
    ordered.sort()  # by start, row id, then as made (a stable sort): stays never compared
    return [item[3] for item in ordered]


def _order(scan: Scan) -> tuple[int, int]:
    return scan.placed_ms, scan.row_id


def stays_at_one_venue(scans: list[Scan], settings: TraceSettings) -> list[Stay]:
    """One visitor's stays at one venue from its scans there, ordered by (placed, row id)."""
    stays: list[Stay] = []
    open_scan: Scan | None = None  # the entrance whose stay is not closed yet
    default_ms = settings.default_stay_ms(scans[0].venue_id)  # one venue
    max_ms = settings.max_stay_ms

    def close(end_ms: int, by_exit: bool) -> None:
        nonlocal open_scan
        if open_scan is not None:
            stays.append(Stay(open_scan, open_scan.placed_ms, end_ms, by_exit))
            open_scan = None

    for scan in scans:
        if open_scan is not None:
            default_end = open_scan.placed_ms + default_ms
            latest_exit = open_scan.placed_ms + max_ms
            if scan.door == EXIT and open_scan.placed_ms < scan.placed_ms <= latest_exit:
                close(scan.placed_ms, True)
                continue
            if scan.door != EXIT:
                close(min(default_end, scan.placed_ms), False)
            elif scan.placed_ms > latest_exit:
                close(default_end, False)
        if scan.door == EXIT:  # an exit with nothing open: it ends a default stay
            start = scan.placed_ms - default_ms
            if stays:  # ... begun no earlier than the visitor's previous stay there ended
                start = max(start, stays[-1].end_ms)
            stays.append(Stay(scan, start, scan.placed_ms, True))
        else:
            open_scan = scan
    if open_scan is not None:
        close(open_scan.placed_ms + default_ms, False)
    return [stay for stay in stays if stay.end_ms > stay.start_ms]
