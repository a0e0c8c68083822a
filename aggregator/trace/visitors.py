"""Telling the other visitors at a case's venues apart without opening their records.

The exposure list (aggregator/trace/exposure.py) needs, of each row at a case's venue
around its stays, the venue and placed time (in the clear), the kiosk's door (the
``door`` column), who made it (to group a visitor's scans into stays) and the code
type (phone or card) of the exposed stays. None of it needs the record:

- **who**: ``visit_tag`` names one credential on one storing day. Two rows with the
  same tag are the same visitor; two rows of the same storing day with different tags
  are different visitors. A key :data:`TAG` + tag stands for the visitor.
- **the door** is the kiosk's configuration, signed into every record and stored beside
  it by ingest (``door``): what any visitor standing at the kiosk sees, the same for
  everyone it scans, next to a kiosk id that is already in the clear. It tells a
  database reader nothing about a visitor that the kiosk id did not.
- **the code type** stays masked (``code_mark``, aggregator.vault): the list unmasks it
  only for the exposed stays, with the day key, one AES call per day.

What tags cannot say by comparing them: whether two tags of *different* storing days
are one credential (a stay whose entry and exit scans fall on both sides of UTC
midnight, a record that waited in a kiosk's outbox). That matters only where two such
groups could change each other's stays, which :func:`entangled` finds, and only those
groups are named by credential (key :data:`CREDENTIAL` + id): a tag is AES of the
credential id's block under its day's tag key, so that key turns it back into the id
(aggregator.vault ``credential_ids_of_tags``, one AES call per day) with no record
opened; a damaged tag, which gives no id, has one of its rows' records opened instead.

Why it is enough (aggregator/trace/stays.py's rules): a visitor's scan ``y`` depends
on their earlier scans at the venue only through the open entrance and the end of the
last stay, and only within ``default_stay`` before ``y`` for an entrance (it cuts the
open stay short), ``max(max_stay, 2 * default_stay)`` for an exit (it ends the open
stay, or a lone exit's default stay starts after the last stay). If no scan of one
group lies that close before a scan of the other, computing the two groups' stays
together gives exactly the stays of each alone; so groups never found entangled may
stay apart even when they are one credential. tests/unit/test_trace_equivalence.py
checks the whole list against the former engine, which opened every row.

Rows without the index (stored before the ``door`` and ``code_mark`` columns, or
without a tag) are opened as before.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

from .settings import TraceSettings
from .stays import EXIT, Scan

#: Visitor key prefixes: a visit tag (one credential, one storing day), a credential id.
TAG = b"t"
CREDENTIAL = b"c"


def reach_back_ms(door: str, venue_id: str, settings: TraceSettings) -> int:
    """How far back a scan at ``door`` can depend on the same visitor's earlier scans."""
    default = settings.default_stay_ms(venue_id)
    if door == EXIT:
        return max(settings.max_stay_ms, 2 * default)
    return default


def entangled(
    scans: Sequence[Scan], days: Mapping[bytes, int], settings: TraceSettings
) -> set[bytes]:
    """The tag keys among ``scans`` that might be one visitor with another group nearby.

    ``scans`` carry visitor keys in ``credential_id``; ``days`` gives each tag key its
    storing day (credential keys are absent). Two groups might be one visitor unless
    both are known credentials, or both tags of the same day: so at each venue the
    scans fall into classes (a storing day; all known credentials), and only a scan
    ``x`` of one class close before a scan ``y`` of another is looked at (two bisects
    per scan and other class; most venues hold one class and are skipped).
    """
    by_venue: dict[str, dict[int | None, list[Scan]]] = {}
    for scan in scans:
        classes = by_venue.get(scan.venue_id)
        if classes is None:
            classes = by_venue[scan.venue_id] = {}
        day = days.get(scan.credential_id)
        group = classes.get(day)
        if group is None:
            classes[day] = [scan]
        else:
            group.append(scan)
    flagged: set[bytes] = set()
    for venue_id, classes in by_venue.items():
        if len(classes) < 2:
            continue  # every pair of groups here is surely two visitors
        entrance_reach = reach_back_ms("entrance", venue_id, settings)
        exit_reach = reach_back_ms(EXIT, venue_id, settings)
        times: dict[int | None, list[int]] = {}
        for day, group in classes.items():
            group.sort(key=_placed)
            times[day] = [s.placed_ms for s in group]
        for day_y, group_y in classes.items():
            for y in group_y:
                at = y.placed_ms
                since = at - (exit_reach if y.door == EXIT else entrance_reach)
                for day_x, times_x in times.items():
                    if day_x == day_y:
                        continue
                    low = bisect_left(times_x, since)
                    high = bisect_right(times_x, at, low)
                    if low < high:
                        flagged.add(y.credential_id)
                        flagged.update(x.credential_id for x in classes[day_x][low:high])
    return {key for key in flagged if key in days}


def _placed(scan: Scan) -> int:
    return scan.placed_ms
