"""A kiosk's health as the staff pages show it: status figures and the alarms they raise.

Built on the fleet view's reading of the last heartbeat (aggregator/api/fleet.py:
online means a recent heartbeat whose state is ``online``). Alarms:

- ``offline``: no recent heartbeat, or its last word was ``offline`` (the last will);
- ``backlog``: at least :data:`BACKLOG_QUEUE` check-ins wait for a receipt, or the
  oldest has waited :data:`BACKLOG_AGE_MS` or more;
- ``clock``: the kiosk says its clock is not synchronised, or its clock and the
  aggregator's differ by more than :data:`CLOCK_ALARM_MS` (the clock offset is the
  heartbeat's ``clock_wall_ms`` less the time the aggregator stored it, so it also holds
  the message's delay: a rough figure, good to a second or so);
- ``disk``: the kiosk's low-disk alarm.

Only the last three need a recent heartbeat: an offline kiosk's old figures raise none.
Nothing here reads a check-in but the time of a kiosk's latest one (:func:`last_checkins`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from peewee import Tuple

from .api.fleet import is_online, parse_heartbeat
from .tables import CheckinEntry, KioskEntry

BACKLOG_QUEUE = 100
BACKLOG_AGE_MS = 5 * 60_000
CLOCK_ALARM_MS = 10_000
ALARMS: tuple[str, ...] = ("offline", "backlog", "clock", "disk")
"""Every alarm, in the order pages list them."""
_CHUNK = 500


@dataclass(frozen=True)
class KioskHealth:
    """What a staff page shows of one kiosk: no visitor, no key, no credential."""

    kiosk_id: str
    venue_id: str
    online: bool
    last_seen_ms: int | None
    queue: int | None
    oldest_unsent_ms: int | None
    clock_synced: bool | None
    clock_offset_ms: int | None
    firmware: str | None
    disk_low: bool | None
    alarms: tuple[str, ...]


class KioskFields(Protocol):
    """What :func:`kiosk_health` reads of a kiosk row (a KioskEntry, or a lean row)."""

    kiosk_id: str
    venue_id: str
    last_status: str | None
    last_status_ms: int | None


def kiosk_health(entry: KioskFields, now_ms: int, offline_after_ms: int) -> KioskHealth:
    """One kiosk's figures and alarms from its stored last heartbeat (parsed once)."""
    beat = parse_heartbeat(entry.last_status)
    online = is_online(beat, entry.last_status_ms, now_ms, offline_after_ms)
    offset = None
    if beat.clock_wall_ms is not None and entry.last_status_ms is not None:
        offset = beat.clock_wall_ms - entry.last_status_ms
    alarms: list[str] = []
    if not online:
        alarms.append("offline")
    else:
        queue, age = beat.queue or 0, beat.oldest_unsent_ms or 0
        if queue >= BACKLOG_QUEUE or age >= BACKLOG_AGE_MS:
            alarms.append("backlog")
        if beat.clock_synced is False or (offset is not None and abs(offset) > CLOCK_ALARM_MS):
            alarms.append("clock")
        if beat.disk_low:
            alarms.append("disk")
    return KioskHealth(
        kiosk_id=entry.kiosk_id,
        venue_id=entry.venue_id,
        online=online,
        last_seen_ms=entry.last_status_ms,
        queue=beat.queue,
        oldest_unsent_ms=beat.oldest_unsent_ms,
        clock_synced=beat.clock_synced,
        clock_offset_ms=offset,
        firmware=beat.firmware,
        disk_low=beat.disk_low,
        alarms=tuple(alarms),
    )


class KioskRowFields(NamedTuple):
    """The columns of a kiosk row the staff pages read (never its device key)."""

    kiosk_id: str
    venue_id: str
    last_status: str | None
    last_status_ms: int | None
    highest_seq: int


def active_kiosks(venue_ids: Iterable[str] | None = None) -> list[KioskRowFields]:
    """Enrolled, not retired kiosks (of ``venue_ids`` when given), by venue and id.

    Read straight from the cursor: these columns need no conversion, and turning tens of
    thousands of rows into models costs more than reading them.
    """
    query = KioskEntry.select(
        KioskEntry.kiosk_id,
        KioskEntry.venue_id,
        KioskEntry.last_status,
        KioskEntry.last_status_ms,
        KioskEntry.highest_seq,
    ).where(KioskEntry.retired == False)  # noqa: E712
    if venue_ids is not None:
        query = query.where(KioskEntry.venue_id.in_(sorted(set(venue_ids))))
    query = query.order_by(KioskEntry.venue_id, KioskEntry.kiosk_id)
    cursor = KioskEntry._meta.database.execute(query)
    return [KioskRowFields(*row) for row in cursor.fetchall()]


def last_checkins(entries: Sequence[Any]) -> dict[str, int]:
    """When each kiosk's latest check-in was placed (kiosks with none left out).

    The latest is the one with the kiosk's highest sequence number, found through the
    unique ``(kiosk, seq)`` index; a row retention has forgotten counts as none.
    """
    keys = [(e.kiosk_id, e.highest_seq) for e in entries if e.highest_seq]
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = (
            CheckinEntry.select(CheckinEntry.kiosk, CheckinEntry.placed_ms)
            .where(
                Tuple(CheckinEntry.kiosk, CheckinEntry.seq).in_(keys[start : start + _CHUNK])
                & CheckinEntry.placed_ms.is_null(False)
            )
            .tuples()
        )
        found.update({kiosk: int(placed) for kiosk, placed in rows})
    return found
