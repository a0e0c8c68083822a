"""Place scans made with an unsynchronised kiosk clock on the aggregator's time line.

A kiosk signs, with each check-in, whether its wall clock was synchronised, its
boot id and its monotonic milliseconds. A record scanned with a wrong wall clock
is placed, in order of preference, from:

- ``anchor``: a synchronised record of the same kiosk and boot (nearest in
  monotonic time): ``anchor.scanned_ms + (mono_ms - anchor.mono_ms)``;
- ``heartbeat``: a heartbeat of the same boot, whose wall time is the kiosk's own
  clock if synchronised, else the time the aggregator received it; of the latter,
  the one with the smallest offset (receive time - monotonic time) is kept, since
  a message can arrive late (queued, retained) but never early;
- ``received``: the time the aggregator received the record.

Synchronised records are placed at their own scan time (``clock``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import peewee

from protocol.checkin import ClockState
from protocol.status import Heartbeat

from .models_base import BaseModel, BlobField
from .tables import CheckinEntry

CLOCK = "clock"
ANCHOR = "anchor"
HEARTBEAT = "heartbeat"
RECEIVED = "received"

_MAX_MS = 2**62


class KioskClockEntry(BaseModel):
    """The latest heartbeat clock of a kiosk: its boot, monotonic ms and a trusted wall ms."""

    kiosk_id = peewee.CharField(primary_key=True, max_length=63)
    boot_id = BlobField()
    mono_ms = peewee.BigIntegerField()
    wall_ms = peewee.BigIntegerField()
    #: "kiosk" when the kiosk's own clock was synchronised, else "received".
    source = peewee.CharField(max_length=16)

    class Meta:
        table_name = "kiosk_clock"


@dataclass(frozen=True)
class Placement:
    """Where a scan is placed in time (ms since the epoch) and how."""

    placed_ms: int
    how: str
    boot_id: bytes
    mono_ms: int

    def columns(self) -> dict[str, Any]:
        """The CheckinEntry columns that record this placement."""
        return {
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "placed_ms": self.placed_ms,
            "placement": self.how,
        }


def _ms(value: Any) -> int | None:
    """A non-negative integer of milliseconds, or None (bools and floats refused)."""
    if type(value) is int and 0 <= value < _MAX_MS:
        return value
    return None


def heartbeat_clock(
    status: Mapping[str, Any], received_ms: int
) -> tuple[bytes, int, int, str] | None:
    """(boot id, mono ms, wall ms, source) from a parsed status message, or None if absent.

    Read through protocol.status.Heartbeat: any clock figure missing or of the wrong
    shape means no clock.
    """
    beat = Heartbeat.from_fields(status)
    mono = _ms(beat.clock_mono_ms)
    if beat.clock_boot is None or mono is None:
        return None
    boot = bytes.fromhex(beat.clock_boot)
    wall = _ms(beat.clock_wall_ms)
    if beat.clock_synced is True and wall is not None:
        return boot, mono, wall, "kiosk"
    return boot, mono, received_ms, "received"


def note_heartbeat(kiosk_id: str, status: Mapping[str, Any], received_ms: int) -> bool:
    """Keep the clock of a heartbeat from an enrolled kiosk; False if it carries none."""
    clock = heartbeat_clock(status, received_ms)
    if clock is None:
        return False
    boot, mono, wall, source = clock
    row = {"kiosk_id": kiosk_id, "boot_id": boot, "mono_ms": mono, "wall_ms": wall}
    # Within one boot, wall - mono is the kiosk's clock offset. A heartbeat can arrive
    # late (queued at the broker while the aggregator was down, or retained) but never
    # early, so a receive-time offset only ever over-estimates: keep the smallest seen.
    stored = KioskClockEntry
    new = peewee.EXCLUDED
    better = (
        (stored.boot_id != new.boot_id)
        | (new.source == "kiosk")
        | ((new.wall_ms - new.mono_ms) < (stored.wall_ms - stored.mono_ms))
    )
    KioskClockEntry.insert(**row, source=source).on_conflict(
        conflict_target=[KioskClockEntry.kiosk_id],
        update={
            KioskClockEntry.boot_id: boot,
            KioskClockEntry.mono_ms: mono,
            KioskClockEntry.wall_ms: wall,
            KioskClockEntry.source: source,
        },
        where=better,
    ).execute()
    return True


def _nearest_anchor(kiosk_id: str, boot_id: bytes, mono_ms: int) -> CheckinEntry | None:
    """The synchronised record of this kiosk and boot nearest to ``mono_ms``."""
    base = CheckinEntry.select(CheckinEntry.scanned_ms, CheckinEntry.mono_ms).where(
        (CheckinEntry.kiosk == kiosk_id)
        & (CheckinEntry.boot_id == boot_id)
        & (CheckinEntry.placement == CLOCK)
    )
    before = base.where(CheckinEntry.mono_ms <= mono_ms).order_by(CheckinEntry.mono_ms.desc())
    after = base.where(CheckinEntry.mono_ms > mono_ms).order_by(CheckinEntry.mono_ms)
    found = [row for row in (before.first(), after.first()) if row is not None]
    return min(found, key=lambda row: abs(row.mono_ms - mono_ms), default=None)


def place(kiosk_id: str, clock: ClockState, scanned_ms: int, received_ms: int) -> Placement:
    """Place one scan of ``kiosk_id`` (see the module docstring)."""

    def made(placed: int, how: str) -> Placement:
        return Placement(min(max(0, placed), _MAX_MS), how, clock.boot_id, clock.monotonic_ms)

    if clock.synced:
        return made(scanned_ms, CLOCK)
    mono = clock.monotonic_ms
    anchor = _nearest_anchor(kiosk_id, clock.boot_id, mono)
    if anchor is not None:
        return made(anchor.scanned_ms + (mono - anchor.mono_ms), ANCHOR)
    beat = KioskClockEntry.get_or_none(KioskClockEntry.kiosk_id == kiosk_id)
    if beat is not None and bytes(beat.boot_id) == clock.boot_id:
        # A scan cannot have happened after its record arrived.
        return made(min(beat.wall_ms + (mono - beat.mono_ms), received_ms), HEARTBEAT)
    return made(received_ms, RECEIVED)
