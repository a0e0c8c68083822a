"""Logging for aggregator processes: rate-limited lines per reason, and JSON lines.

Hostile input must not flood the log: :class:`RateLimitedLog` writes at most
``per_interval`` lines per reason in each ``interval_s``, then one line saying
how many similar lines it suppressed. ``setup_logging(json_lines=True)`` writes
one JSON object per line (time, level, logger, message and any ``extra`` fields).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@dataclass
class _Window:
    start: float
    written: int = 0
    suppressed: int = 0


class RateLimitedLog:
    """At most ``per_interval`` lines per reason per ``interval_s``; then a summary line."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_interval: int = 5,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_interval = per_interval
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def log(self, level: int, reason: str, msg: str, *args: Any, **extra: Any) -> bool:
        """Write one line about ``reason`` unless its quota is spent; True if written."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(reason)
            if window is None or now - window.start >= self.interval_s:
                if window is not None:
                    self._summarise(reason, window, level)
                window = self._windows[reason] = _Window(now)
            if window.written >= self.per_interval:
                window.suppressed += 1
                return False
            window.written += 1
        exc_info = extra.pop("exc_info", None)
        self.logger.log(level, msg, *args, exc_info=exc_info, extra={"reason": reason, **extra})
        return True

    def warning(self, reason: str, msg: str, *args: Any, **extra: Any) -> bool:
        """``log`` at WARNING level."""
        return self.log(logging.WARNING, reason, msg, *args, **extra)

    def flush(self) -> None:
        """Write the summary of every window that has ended (call it now and then)."""
        now = self._clock()
        with self._lock:
            for reason, window in list(self._windows.items()):
                if now - window.start >= self.interval_s:
                    self._summarise(reason, window, logging.WARNING)
                    del self._windows[reason]

    def _summarise(self, reason: str, window: _Window, level: int) -> None:
        if window.suppressed:
            self.logger.log(
                level,
                "suppressed %d similar %s lines",
                window.suppressed,
                reason,
                extra={"reason": reason, "suppressed": window.suppressed},
            )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, sort_keys=True)


def setup_logging(*, json_lines: bool = False, level: int = logging.INFO) -> None:
    """Configure the root logger once for a process: plain text or JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
