"""Samples of how many kiosks were online, every five minutes: the fleet chart's history.

A kiosk's status row (``kiosk.last_status``) holds only its last word, so "kiosks online
across the day" needs samples: one row per five-minute slot (:class:`FleetSampleEntry`),
written by the ingest processes (aggregator/fleet_sampler.py) and read by the operator's
fleet page (aggregator/pages/fleet.py).

Samples are counts of kiosks, nothing about visitors; still they are kept only
:data:`KEEP_DAYS` days: each new sample prunes the older ones, and so does
``safecode aggregator retention``.
"""

from __future__ import annotations

import peewee

from .models_base import BaseModel

SLOT_MS = 5 * 60_000
"""One sample per five minutes."""
KEEP_DAYS = 8
"""Days of samples kept: a week and the day it began."""
DAY_MS = 86_400_000


class FleetSampleEntry(BaseModel):
    """One five-minute slot: kiosks enrolled (not retired) and kiosks online then."""

    slot_ms = peewee.BigIntegerField(primary_key=True)
    online = peewee.IntegerField()
    kiosks = peewee.IntegerField()
    sampled_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "fleet_sample"


def slot_of(ms: int) -> int:
    """The start of the five-minute slot holding ``ms``."""
    return ms - ms % SLOT_MS


def prune_samples(now_ms: int, keep_days: int = KEEP_DAYS) -> int:
    """Delete samples older than ``keep_days``; how many went."""
    cutoff = now_ms - keep_days * DAY_MS
    return FleetSampleEntry.delete().where(FleetSampleEntry.slot_ms < cutoff).execute()


def samples_between(start_ms: int, end_ms: int) -> list[FleetSampleEntry]:
    """The samples of the slots from ``start_ms`` (inclusive) to ``end_ms`` (exclusive)."""
    return list(
        FleetSampleEntry.select()
        .where((FleetSampleEntry.slot_ms >= start_ms) & (FleetSampleEntry.slot_ms < end_ms))
        .order_by(FleetSampleEntry.slot_ms)
    )
