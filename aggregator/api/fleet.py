"""Fleet status from kiosk heartbeats (the retained status topic, stored per kiosk)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ..db import KioskEntry

# Heartbeat fields read, with the names older or newer firmware may use.
_QUEUE = ("queue", "queue_depth", "pending")
_OLDEST = ("oldest_unsent_ms", "oldest_pending_ms")
_CLOCK = ("clock_synced", "clock")


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


def parse_heartbeat(stored: str | None) -> dict[str, Any]:
    """The stored status: a JSON object (full heartbeat) or a bare state string."""
    if not stored:
        return {}
    text = stored.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}
    return {"state": text}


def _first(data: dict[str, Any], names: tuple[str, ...], kind: type) -> Any:
    for name in names:
        value = data.get(name)
        if kind is int and type(value) is int and value >= 0:
            return value
        if kind is bool and type(value) is bool:
            return value
        if kind is str and isinstance(value, str):
            return value[:40]
    return None


def kiosk_status(kiosk: KioskEntry, now_ms: int, offline_after_ms: int) -> KioskStatus:
    """One kiosk's status; online means a recent heartbeat whose state is online."""
    beat = parse_heartbeat(kiosk.last_status)
    state = beat.get("state") if isinstance(beat.get("state"), str) else None
    seen = kiosk.last_status_ms
    recent = seen is not None and now_ms - seen <= offline_after_ms
    clock = beat.get("clock")
    synced = _first(beat, _CLOCK, bool)
    if synced is None and isinstance(clock, str):
        synced = clock == "synced"
    return KioskStatus(
        kiosk_id=kiosk.kiosk_id,
        venue_id=kiosk.venue_id,
        online=bool(recent and state == "online"),
        state=None if state is None else state[:20],
        last_seen_ms=seen,
        queue=_first(beat, _QUEUE, int),
        oldest_unsent_ms=_first(beat, _OLDEST, int),
        clock_synced=synced,
        firmware=_first(beat, ("firmware",), str),
    )


def fleet(now_ms: int, offline_after_ms: int) -> list[KioskStatus]:
    """Every enrolled, not retired kiosk's status, by kiosk id."""
    rows = KioskEntry.select().where(KioskEntry.retired == False)  # noqa: E712
    return [kiosk_status(k, now_ms, offline_after_ms) for k in rows.order_by(KioskEntry.kiosk_id)]
