"""Free space where the outbox lives: low (alarm, amber light) and full (refuse, never drop).

``low`` raises the alarm on the status topic and the amber light while scanning goes on.
``full`` means the next commit may not fit: the visitor is refused (the FAULT path)
rather than shown green for a row that might not be on disk. The free-space function
is injectable (it returns what :func:`shutil.disk_usage` returns), so tests never fill
a disk. The answer is cached for ``cache_s`` seconds: one ``statvfs`` per second at most.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class DiskState:
    """Free space at one moment and what it means."""

    free_mb: float
    free_fraction: float
    low: bool
    full: bool


class DiskMonitor:
    """Answers "is the disk low / full?" for one path, cheaply."""

    def __init__(
        self,
        path: Path,
        *,
        low_free_mb: float = 50.0,
        low_free_percent: float = 5.0,
        reserve_mb: float = 5.0,
        usage: Callable[[str], Any] = shutil.disk_usage,
        monotonic: Callable[[], float] = time.monotonic,
        cache_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.low_free_mb = low_free_mb
        self.low_free_percent = low_free_percent
        self.reserve_mb = reserve_mb
        self._usage = usage
        self._monotonic = monotonic
        self._cache_s = cache_s
        self._checked_at = 0.0
        self._state: DiskState | None = None

    def _where(self) -> str:
        """The nearest existing folder of ``path`` (the outbox folder may not exist yet)."""
        path = self.path
        while not path.exists() and path != path.parent:
            path = path.parent
        return str(path)

    def state(self) -> DiskState:
        """Free space now (at most ``cache_s`` old); an unreadable disk counts as full."""
        now = self._monotonic()
        if self._state is not None and now - self._checked_at < self._cache_s:
            return self._state
        try:
            usage = self._usage(self._where())
            total, free = int(usage.total), int(usage.free)
        except OSError:
            total, free = 0, 0
        free_mb = free / MB
        fraction = free / total if total > 0 else 0.0
        self._state = DiskState(
            free_mb=round(free_mb, 1),
            free_fraction=fraction,
            low=free_mb < self.low_free_mb or fraction * 100 < self.low_free_percent,
            full=free_mb < self.reserve_mb,
        )
        self._checked_at = now
        return self._state


SQLITE_FULL = 13
"""SQLite's primary result code for "database or disk is full"."""
SQLITE_FULL_MESSAGE = "database or disk is full"


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc``, or any error it was raised from or during, says the disk is full.

    SQLite's SQLITE_FULL, a full ``max_page_count`` or an ``ENOSPC`` ``OSError`` all
    count. The chain matters: after SQLITE_FULL SQLite may roll the transaction back
    itself, and the rollback that follows then fails with "cannot rollback - no
    transaction is active", the full disk being only that error's context.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == SQLITE_FULL:  # extended codes too
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if SQLITE_FULL_MESSAGE in str(current).lower():
            return True
        todo += [current.__cause__, current.__context__]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]
    return False
