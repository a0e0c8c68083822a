"""The kiosk's sense of time: wall clock, monotonic clock, boot id, sync state.

Whether the wall clock is synchronised is asked of the kernel, the way
``timedatectl show -p NTPSynchronized`` (systemd's ``ntp_synced``) does it: one
``adjtimex(2)`` call that changes nothing, and the clock counts as synchronised while
the kernel's maximum error estimate is under 16 s. Whatever NTP client runs
(systemd-timesyncd, chrony, ntpd) keeps that estimate small; without network it grows
and the kiosk notices. No process is started and no network is needed. Where
``adjtimex`` is not available, systemd-timesyncd's flag file is the fallback. The
answer is cached for a few seconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from protocol.checkin import ClockState

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
MAX_ERROR_US = 16_000_000
"""systemd's threshold: a maximum error of 16 s or more is "not synchronised"."""
TIME_ERROR = 5
"""adjtimex's return value when the clock is not synchronised."""


def read_boot_id(path: Path = BOOT_ID_FILE) -> bytes:
    """This boot's id (16 bytes); a random one where the kernel does not offer it."""
    try:
        return uuid.UUID(path.read_text().strip()).bytes
    except (OSError, ValueError):
        return uuid.uuid4().bytes


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """Linux ``struct timex`` (see adjtimex(2)); ``modes = 0`` only reads."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def _load_adjtimex() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.adjtimex
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.POINTER(_Timex)]
    function.restype = ctypes.c_int
    return function


_ADJTIMEX = _load_adjtimex()


def kernel_clock_synced() -> bool | None:
    """The kernel's view (as timedatectl's NTPSynchronized); None if it cannot be asked."""
    if _ADJTIMEX is None:
        return None
    timex = _Timex()  # modes = 0: read only, needs no privilege
    state = _ADJTIMEX(ctypes.byref(timex))
    if state < 0:
        return None
    return state != TIME_ERROR and timex.maxerror < MAX_ERROR_US


def system_clock_synced() -> bool:
    """Whether the wall clock is synchronised: the kernel's answer, else timesyncd's flag."""
    kernel = kernel_clock_synced()
    if kernel is not None:
        return kernel
    return TIMESYNC_FLAG.exists()


class KioskClock:
    """Wall and monotonic time plus whether the wall clock is synchronised."""

    SYNC_CACHE_S = 5.0

    def __init__(
        self,
        *,
        synced: Callable[[], bool] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._synced = synced or system_clock_synced
        self._wall = wall
        self._monotonic = monotonic
        self.boot_id = read_boot_id()
        self._sync_checked_at: float | None = None
        self._sync_answer = False

    def now(self) -> float:
        """Wall-clock time in seconds."""
        return self._wall()

    def monotonic(self) -> float:
        """Monotonic time in seconds (since boot on Linux)."""
        return self._monotonic()

    def synced(self) -> bool:
        """Whether the wall clock is synchronised (asked at most every few seconds)."""
        now = self._monotonic()
        if self._sync_checked_at is None or now - self._sync_checked_at >= self.SYNC_CACHE_S:
            self._sync_answer = bool(self._synced())
            self._sync_checked_at = now
        return self._sync_answer

    def state(self) -> ClockState:
        """The clock state to sign into a check-in record."""
        return ClockState(
            synced=self.synced(),
            boot_id=self.boot_id,
            monotonic_ms=int(self._monotonic() * 1000),
        )
