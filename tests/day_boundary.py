"""Keep a test's day credentials inside one day: wait out a midnight that is about to pass.

Day credentials end at the site's midnight. A test that enrols phones, shows their
codes and scans them a minute later fails for the wrong reason when that minute holds
midnight (the kiosk rightly refuses yesterday's code). Such a test calls
:func:`clear_of_midnight` first.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def seconds_to_midnight(zone: ZoneInfo, now: float | None = None) -> float:
    """Seconds from ``now`` (default: the clock) to the next midnight in ``zone``."""
    at = datetime.fromtimestamp(time.time() if now is None else now, zone)
    midnight = datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), zone)
    return (midnight - at).total_seconds()


def clear_of_midnight(zone: ZoneInfo, need_s: float) -> float:
    """Sleep past the next midnight in ``zone`` if it comes within ``need_s``; seconds slept."""
    left = seconds_to_midnight(zone)
    if left > need_s:
        return 0.0
    time.sleep(left + 2)
    return left + 2
