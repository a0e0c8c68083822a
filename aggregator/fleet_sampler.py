"""Writes the fleet samples (aggregator/fleet_history.py) from the processes that hear kiosks.

Every ingest process (the processes that store heartbeats, aggregator/service.py) calls
:meth:`FleetSampler.sample_if_due` from its counter-flush loop: the first call in a new
five-minute slot counts the enrolled kiosks and the online ones and stores one row for
the slot. Several ingest processes share one row per slot (the slot is the primary key;
an existing row is left alone), so the cost is one primary-key lookup per process per
slot, plus, for the process that writes the row, two counts over the kiosk table
(:func:`count_online`).

Online means what the fleet view means (aggregator/api/fleet.py): a heartbeat at most
``offline_after_ms`` old (the web's default ``offline_after_s``, 180 s) whose state is
``online``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fleet_history import KEEP_DAYS, FleetSampleEntry, prune_samples, slot_of
from .tables import KioskEntry

DEFAULT_OFFLINE_AFTER_MS = 180_000
"""A heartbeat older than this does not count as online (the web's ``offline_after_s``)."""


@dataclass(frozen=True)
class FleetCount:
    """Kiosks enrolled and not retired, and how many of them are online."""

    online: int
    kiosks: int


ONLINE_TEXT = '"state": "online"'
"""How a stored heartbeat says online: the service stores ``json.dumps(status, sort_keys=True)``
(aggregator/service.py); a bare ``online`` is the older stored form."""


def count_online(now_ms: int, offline_after_ms: int = DEFAULT_OFFLINE_AFTER_MS) -> FleetCount:
    """Count the fleet now, in the database: no status text is read into this process.

    Parsing every heartbeat (aggregator/api/fleet.py) would cost about a second per
    20,000 kiosks, in the ingest process. The text match agrees with the parse on every
    status the service stores; a kiosk that dressed an unknown field up to match could
    only make itself look online, which its ``state`` says anyway.
    """
    active = KioskEntry.select().where(KioskEntry.retired == False)  # noqa: E712
    said_online = (KioskEntry.last_status == "online") | KioskEntry.last_status.contains(
        ONLINE_TEXT
    )
    recent = KioskEntry.last_status_ms >= now_ms - offline_after_ms
    return FleetCount(online=active.where(recent & said_online).count(), kiosks=active.count())


class FleetSampler:
    """Writes at most one sample per slot; one per ingest process (not thread-safe)."""

    def __init__(
        self, offline_after_ms: int = DEFAULT_OFFLINE_AFTER_MS, keep_days: int = KEEP_DAYS
    ) -> None:
        if offline_after_ms <= 0 or keep_days < 1:
            raise ValueError("offline_after_ms and keep_days must be positive")
        self.offline_after_ms = offline_after_ms
        self.keep_days = keep_days
        self._done_slot: int | None = None

    def sample_if_due(self, now_ms: int) -> bool:
        """Sample the slot of ``now_ms`` unless it has its row; True if this call wrote it.

        A database error propagates (peewee.DatabaseError) and the slot stays due, so
        the next call tries again.
        """
        slot = slot_of(now_ms)
        if slot == self._done_slot:
            return False
        if FleetSampleEntry.get_or_none(FleetSampleEntry.slot_ms == slot) is not None:
            self._done_slot = slot  # another ingest process took this slot's sample
            return False
        count = count_online(now_ms, self.offline_after_ms)
        written = (
            FleetSampleEntry.insert(
                slot_ms=slot, online=count.online, kiosks=count.kiosks, sampled_ms=now_ms
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        prune_samples(now_ms, self.keep_days)
        self._done_slot = slot
        return bool(written)
