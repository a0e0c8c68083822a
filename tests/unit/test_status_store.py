"""Heartbeats stored a batch at a time (aggregator/status_store.py), on both databases."""

from __future__ import annotations

import json

import peewee
import pytest

from aggregator import status_store
from aggregator.placement import KioskClockEntry, note_heartbeat
from aggregator.registry import enrol_kiosk
from aggregator.status_store import status_row, store_statuses
from aggregator.tables import KioskEntry

BOOT = "ab" * 16


def _beat(state: str, mono: int, wall: int | None = None, boot: str = BOOT) -> dict:
    beat: dict = {"v": 1, "state": state, "clock_boot": boot, "clock_mono_ms": mono}
    if wall is not None:
        beat |= {"clock_synced": True, "clock_wall_ms": wall}
    return beat


@pytest.fixture
def kiosks(db: peewee.Database) -> list[str]:
    ids = [f"kiosk-{n}" for n in range(5)]
    for kiosk_id in ids:
        enrol_kiosk(kiosk_id, "venue-a", bytes([len(kiosk_id)]) * 32)
    KioskEntry.update(retired=True).where(KioskEntry.kiosk_id == "kiosk-4").execute()
    KioskEntry.update(highest_seq=41).where(KioskEntry.kiosk_id == "kiosk-1").execute()
    return ids


def _clock(kiosk_id: str) -> tuple[bytes, int, int, str] | None:
    row = KioskClockEntry.get_or_none(KioskClockEntry.kiosk_id == kiosk_id)
    return None if row is None else (bytes(row.boot_id), row.mono_ms, row.wall_ms, row.source)


def test_a_batch_stores_each_kiosk_in_order_and_says_what_was_there(
    kiosks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_store, "CHUNK", 2)  # several statements per round
    rows = [
        status_row("kiosk-0", _beat("offline", 10), 1_000),
        status_row("kiosk-1", _beat("online", 10, wall=5_000), 1_000),
        status_row("stranger", _beat("online", 10), 1_000),
        status_row("kiosk-0", _beat("online", 20), 2_000),  # the same kiosk again
        status_row("kiosk-4", _beat("online", 10), 1_000),
        status_row("kiosk-2", {"v": 1, "state": "online"}, 3_000),  # no clock
    ]
    befores = store_statuses(rows)
    assert befores[2] is None  # not enrolled: nothing stored
    assert KioskEntry.get_or_none(KioskEntry.kiosk_id == "stranger") is None
    assert befores[0] is not None and befores[0].last_status is None
    assert befores[3] is not None and json.loads(befores[3].last_status)["state"] == "offline"
    assert befores[1] is not None and befores[1].highest_seq == 41
    assert befores[4] is not None and befores[4].retired
    stored = KioskEntry.get_by_id("kiosk-0")
    assert json.loads(stored.last_status)["state"] == "online"
    assert stored.last_status_ms == 2_000
    assert KioskEntry.get_by_id("kiosk-2").last_status_ms == 3_000
    assert KioskEntry.get_by_id("kiosk-3").last_status is None  # not in the batch
    assert _clock("kiosk-1") == (bytes.fromhex(BOOT), 10, 5_000, "kiosk")
    assert _clock("kiosk-2") is None


@pytest.mark.parametrize(
    "beats",
    [
        # (mono ms, wall ms if synchronised, received ms, boot)
        [(10, None, 1_000, BOOT), (20, None, 1_500, BOOT)],  # a later arrival: kept the first
        [(10, None, 1_000, BOOT), (20, None, 900, BOOT)],  # a smaller offset: taken
        [(10, None, 1_000, BOOT), (20, 4_000, 9_000, BOOT)],  # the kiosk's own clock: taken
        [(10, 4_000, 9_000, BOOT), (20, None, 100, "cd" * 16)],  # a new boot: taken
    ],
)
def test_clocks_follow_the_one_by_one_rule(kiosks: list[str], beats: list[tuple]) -> None:
    for mono, wall, received, boot in beats:
        note_heartbeat("kiosk-0", _beat("online", mono, wall, boot), received)
        store_statuses([status_row("kiosk-1", _beat("online", mono, wall, boot), received)])
    one_by_one, batched = _clock("kiosk-0"), _clock("kiosk-1")
    assert one_by_one is not None and batched == one_by_one
