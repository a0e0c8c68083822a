"""The kiosk clock (kiosk.clock): kernel sync state through adjtimex, caching, boot id."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

from kiosk import clock as clock_module
from kiosk.clock import KioskClock, kernel_clock_synced, read_boot_id, system_clock_synced


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex is Linux-only")
def test_adjtimex_reads_the_kernel_clock() -> None:
    timex = clock_module._Timex()
    state = clock_module._ADJTIMEX(ctypes.byref(timex))
    assert 0 <= state <= 5
    assert timex.tick > 0 and timex.maxerror >= 0
    # the struct layout is right: the kernel's time field is the wall clock now
    import time

    assert abs(timex.time.tv_sec - time.time()) < 5
    expected = state != clock_module.TIME_ERROR and timex.maxerror < clock_module.MAX_ERROR_US
    assert kernel_clock_synced() is expected
    assert system_clock_synced() is expected


def test_without_adjtimex_the_timesyncd_flag_decides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(clock_module, "_ADJTIMEX", None)
    flag = tmp_path / "synchronized"
    monkeypatch.setattr(clock_module, "TIMESYNC_FLAG", flag)
    assert kernel_clock_synced() is None
    assert system_clock_synced() is False
    flag.touch()
    assert system_clock_synced() is True


def test_sync_answer_is_cached_for_a_few_seconds() -> None:
    answers = [True, False]
    calls: list[int] = []
    mono = [100.0]

    def synced() -> bool:
        calls.append(1)
        return answers[len(calls) - 1]

    clock = KioskClock(synced=synced, monotonic=lambda: mono[0])
    assert clock.state().synced is True
    mono[0] += KioskClock.SYNC_CACHE_S - 0.1
    assert clock.synced() is True
    mono[0] += 0.1
    assert clock.state().synced is False
    assert len(calls) == 2
    assert clock.state().monotonic_ms == int(mono[0] * 1000)


def test_boot_id(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0f0e0d0c-0b0a-0908-0706-050403020100\n")
    assert read_boot_id(path) == bytes.fromhex("0f0e0d0c0b0a09080706050403020100")
    assert len(read_boot_id(tmp_path / "missing")) == 16
