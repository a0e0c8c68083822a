"""``safecode kiosk status``: the local outbox and device figures, read without writing.

For a technician at the kiosk (or over SSH) while the kiosk runs: queue depth, the
oldest unsent check-in's age, rows awaiting a receipt, refused rows, the last
sequence number and receipt, disk free, clock state and firmware version.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from .clock import KioskClock
from .config import KioskConfig
from .outbox_reader import read_outbox


def firmware_version() -> str:
    """The firmware version the kiosk reports in its heartbeat."""
    from .firmware import FIRMWARE_VERSION

    return FIRMWARE_VERSION


def gather_status(config: KioskConfig, *, clock: KioskClock | None = None) -> dict[str, Any]:
    """Every figure as a JSON-ready dict; OutboxReadError if the outbox cannot be read."""
    snapshot = read_outbox(config.outbox_path)
    clock = clock or KioskClock()
    now_ms = int(clock.now() * 1000)
    oldest = snapshot.oldest_pending_ms
    usage = shutil.disk_usage(nearest_existing(config.state_dir))
    return {
        "kiosk": config.kiosk_id,
        "venue": config.venue_id,
        "outbox": str(config.outbox_path),
        "queue_depth": snapshot.pending,
        "never_sent": snapshot.never_sent,
        "awaiting_receipt": snapshot.awaiting_receipt,
        "refused": snapshot.refused,
        "delivered_kept": snapshot.delivered,
        "oldest_unsent_age_s": None if oldest is None else max(0.0, (now_ms - oldest) / 1000),
        "last_seq": snapshot.last_seq,
        "last_receipt_ms": snapshot.last_receipt_ms,
        "last_receipt_age_s": (
            None
            if snapshot.last_receipt_ms is None
            else max(0.0, (now_ms - snapshot.last_receipt_ms) / 1000)
        ),
        "disk_free_bytes": usage.free,
        "disk_total_bytes": usage.total,
        "clock_synced": clock.state().synced,
        "wall_clock_ms": now_ms,
        "firmware": firmware_version(),
    }


def format_status(status: dict[str, Any]) -> str:
    """Two columns a person can read."""
    rows = [
        ("kiosk", f"{status['kiosk']} (venue {status['venue']})"),
        ("outbox", status["outbox"]),
        ("queue depth", f"{status['queue_depth']} waiting for a receipt"),
        ("  never sent", str(status["never_sent"])),
        ("  awaiting receipt", str(status["awaiting_receipt"])),
        ("oldest unsent", _age(status["oldest_unsent_age_s"], "none waiting")),
        ("refused", f"{status['refused']} (kept for the operator, not resent)"),
        ("last sequence", "none yet" if status["last_seq"] is None else str(status["last_seq"])),
        ("last receipt", _when(status["last_receipt_ms"], status["last_receipt_age_s"])),
        ("disk free", f"{_gb(status['disk_free_bytes'])} of {_gb(status['disk_total_bytes'])}"),
        ("clock", "synchronised" if status["clock_synced"] else "NOT synchronised"),
        ("firmware", status["firmware"]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _age(seconds: float | None, none: str) -> str:
    if seconds is None:
        return none
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _when(ms: int | None, age: float | None) -> str:
    if ms is None:
        return "none recorded"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))
    return f"{stamp} ({_age(age, '')})"


def _gb(n: int) -> str:
    return f"{n / 1024**3:.2f} GB"


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing parent (disk figures for a folder not made yet)."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
