"""Fleet status from kiosk heartbeats (the retained status topic, stored per kiosk)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from protocol.status import Heartbeat

from ..db import KioskEntry


@dataclass(frozen=True)
class KioskStatus:
    """What the last heartbeat said, and whether it is recent enough to call the kiosk online."""

    kiosk_id: str
    venue_id: str
    online: bool
    state: str | None
    last_seen_ms: int | None
    queue: int | None
    oldest_unsent_ms: int | None
    clock_synced: bool | None
    firmware: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_heartbeat(stored: str | None) -> Heartbeat:
    """The stored status: a JSON object (full heartbeat) or a bare state string."""
    if not stored:
        return Heartbeat()
    text = stored.strip()
    if not text.startswith("{"):
        return Heartbeat.from_fields({"state": text})
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return Heartbeat()
    return Heartbeat.from_fields(value) if isinstance(value, dict) else Heartbeat()


def is_online(beat: Heartbeat, seen_ms: int | None, now_ms: int, offline_after_ms: int) -> bool:
    """The one rule: a heartbeat at most ``offline_after_ms`` old whose state is online."""
    recent = seen_ms is not None and now_ms - seen_ms <= offline_after_ms
    return bool(recent and beat.state == "online")


def kiosk_status(kiosk: KioskEntry, now_ms: int, offline_after_ms: int) -> KioskStatus:
    """One kiosk's status; online means a recent heartbeat whose state is online."""
    beat = parse_heartbeat(kiosk.last_status)
    seen = kiosk.last_status_ms
    return KioskStatus(
        kiosk_id=kiosk.kiosk_id,
        venue_id=kiosk.venue_id,
        online=is_online(beat, seen, now_ms, offline_after_ms),
        state=beat.state,
        last_seen_ms=seen,
        queue=beat.queue,
        oldest_unsent_ms=beat.oldest_unsent_ms,
        clock_synced=beat.clock_synced,
        firmware=beat.firmware,
    )


def fleet(now_ms: int, offline_after_ms: int) -> list[KioskStatus]:
    """Every enrolled, not retired kiosk's status, by kiosk id."""
    rows = KioskEntry.select().where(KioskEntry.retired == False)  # noqa: E712
    return [kiosk_status(k, now_ms, offline_after_ms) for k in rows.order_by(KioskEntry.kiosk_id)]
