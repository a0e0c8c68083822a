"""Free-space alarm (kiosk.disk) with an injected disk_usage result: no disk is filled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kiosk.disk import MB, DiskMonitor

GB = 1024 * MB


class Usage:
    """What shutil.disk_usage returns, set by hand."""

    def __init__(self, total: int, free: int) -> None:
        self.total, self.free = total, free
        self.calls: list[str] = []

    def __call__(self, path: str):
        self.calls.append(path)
        return shutil._ntuple_diskusage(self.total, self.total - self.free, self.free)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("total", "free", "low", "full"),
    [
        (32 * GB, 10 * GB, False, False),
        (32 * GB, 49 * MB, True, False),  # under 50 MB
        (32 * GB, 51 * MB, True, False),  # over 50 MB but under 5 %
        (512 * MB, 51 * MB, False, False),  # 10 %: fine
        (32 * GB, 4 * MB, True, True),  # under the 5 MB reserve
        (0, 0, True, True),
    ],
)
def test_thresholds(tmp_path: Path, total: int, free: int, low: bool, full: bool) -> None:
    state = DiskMonitor(tmp_path, usage=Usage(total, free)).state()
    assert (state.low, state.full) == (low, full)
    assert state.free_mb == round(free / MB, 1)


def test_answer_is_cached(tmp_path: Path) -> None:
    usage, clock = Usage(32 * GB, 10 * GB), Clock()
    monitor = DiskMonitor(tmp_path, usage=usage, monotonic=clock, cache_s=1.0)
    assert not monitor.state().low
    usage.free = 1 * MB
    clock.t = 0.5
    assert not monitor.state().low  # cached
    clock.t = 1.0
    assert monitor.state().full
    assert len(usage.calls) == 2


def test_unreadable_disk_counts_as_full(tmp_path: Path) -> None:
    def broken(path: str):
        raise OSError("I/O error")

    state = DiskMonitor(tmp_path, usage=broken).state()
    assert state.low and state.full


def test_missing_folder_asks_the_nearest_existing_parent(tmp_path: Path) -> None:
    usage = Usage(GB, GB)
    DiskMonitor(tmp_path / "not" / "yet", usage=usage).state()
    assert usage.calls == [str(tmp_path)]


def test_real_disk_usage_works(tmp_path: Path) -> None:
    state = DiskMonitor(tmp_path).state()
    assert state.free_mb > 0 and 0 < state.free_fraction <= 1


def test_a_full_disk_is_recognised_through_the_failed_rollback() -> None:
    import errno
    import sqlite3

    from kiosk.disk import is_disk_full

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    try:
        try:
            raise full
        except sqlite3.OperationalError:
            raise sqlite3.OperationalError("cannot rollback - no transaction is active")  # noqa: B904
    except sqlite3.OperationalError as rollback:
        assert is_disk_full(rollback)
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EIO, "I/O error"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
