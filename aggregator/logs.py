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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from support.quota import WindowedQuota

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


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
        self._quota = WindowedQuota(per_interval, interval_s, clock)

    def log(self, level: int, reason: str, msg: str, *args: Any, **extra: Any) -> bool:
        """Write one line about ``reason`` unless its quota is spent; True if written."""
        allowed, held = self._quota.take(reason)
        self._summarise(reason, held, level)
        if not allowed:
            return False
        exc_info = extra.pop("exc_info", None)
        self.logger.log(level, msg, *args, exc_info=exc_info, extra={"reason": reason, **extra})
        return True

    def warning(self, reason: str, msg: str, *args: Any, **extra: Any) -> bool:
        """``log`` at WARNING level."""
        return self.log(logging.WARNING, reason, msg, *args, **extra)

    def flush(self) -> None:
        """Write the summary of every window that has ended (call it now and then)."""
        for reason, held in self._quota.ended():
            self._summarise(reason, held, logging.WARNING)

    def _summarise(self, reason: str, suppressed: int, level: int) -> None:
        if suppressed:
            self.logger.log(
                level,
                "suppressed %d similar %s lines",
                suppressed,
                reason,
                extra={"reason": reason, "suppressed": suppressed},
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
