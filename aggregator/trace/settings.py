"""The ``[trace]`` table of the aggregator's config: how long stays last, what counts.

Is there a check-out today? Yes, of a kind: every kiosk is configured for a door
(protocol/checkin.py ``DOORS``: ``entrance``, ``exit`` or ``both``) and signs it into
each check-in record. A visitor's scan at an ``exit`` door of the same venue ends the
stay that began at their last entrance (aggregator/trace/stays.py). Where there is no
such scan, a stay lasts a default that depends on the venue's type. The registry has
no venue type, so the type is read off the venue id: venue ids are chosen by whoever
enrols kiosks (``cafe-jeju-12``, ``gym-7``), and the config maps id *prefixes* to stay
lengths, the longest matching prefix winning. No registry field was added.

    [trace]
    default_stay_minutes = 60      # no exit scan, no matching prefix
    max_stay_minutes = 480         # the longest stay, exit-ended or not
    min_overlap_minutes = 15       # shorter overlaps are not exposures
    max_period_days = 28           # an infectious period longer than this is refused
    max_outbox_age_days = 7        # how late after its scan a visit may be stored

    [trace.stay_minutes_by_prefix]
    "cafe-" = 90
    "gym-" = 120

``max_outbox_age_days`` should match ``aggregator.max_outbox_age_days``: a visit is
tagged under the day it was *stored*, up to that many days after it happened.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from support.config_file import ConfigError, read_toml

MINUTE_MS = 60_000
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
#: Longest stay and period the config may ask for: a week's stay, a year's period.
MAX_STAY_MINUTES = 7 * 24 * 60
MAX_PERIOD_DAYS = 366
_NUMBERS = (
    "default_stay_minutes",
    "max_stay_minutes",
    "min_overlap_minutes",
    "max_period_days",
    "max_outbox_age_days",
)


@dataclass(frozen=True)
class TraceSettings:
    """Stays and thresholds of the exposure engine (see the module docstring)."""

    default_stay_minutes: float = 60.0
    max_stay_minutes: float = 480.0
    min_overlap_minutes: float = 15.0
    max_period_days: int = 28
    max_outbox_age_days: int = 7
    stay_minutes_by_prefix: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        _check(self)

    @property
    def max_stay_ms(self) -> int:
        return int(self.max_stay_minutes * MINUTE_MS)

    @property
    def min_overlap_ms(self) -> int:
        return int(self.min_overlap_minutes * MINUTE_MS)

    def default_stay_ms(self, venue_id: str) -> int:
        """The stay at ``venue_id`` without an exit scan: its longest prefix's, or the default."""
        best = ""
        for prefix in self.stay_minutes_by_prefix:
            if venue_id.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        minutes = self.stay_minutes_by_prefix[best] if best else self.default_stay_minutes
        return int(minutes * MINUTE_MS)


def _minutes(name: str, value: object, *, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"trace.{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"trace.{name} must lie between {low:g} and {high:g}, not {value}")


def _check(settings: TraceSettings) -> None:
    high = float(MAX_STAY_MINUTES)
    _minutes("max_stay_minutes", settings.max_stay_minutes, low=1, high=high)
    top = settings.max_stay_minutes
    _minutes("default_stay_minutes", settings.default_stay_minutes, low=1, high=top)
    _minutes("min_overlap_minutes", settings.min_overlap_minutes, low=0, high=top)
    for name in ("max_period_days", "max_outbox_age_days"):
        value = getattr(settings, name)
        if type(value) is not int or not 1 <= value <= MAX_PERIOD_DAYS:
            raise ConfigError(f"trace.{name} must be a whole number from 1 to {MAX_PERIOD_DAYS}")
    if not isinstance(settings.stay_minutes_by_prefix, Mapping):
        raise ConfigError("trace.stay_minutes_by_prefix must be a table")
    for prefix, minutes in settings.stay_minutes_by_prefix.items():
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise ConfigError(f"trace.stay_minutes_by_prefix: {prefix!r} is no venue id prefix")
        _minutes(f"stay_minutes_by_prefix.{prefix}", minutes, low=1, high=top)


def parse_trace_table(table: object) -> TraceSettings:
    """The settings of a config's ``[trace]`` table (None or absent: every default)."""
    if table is None:
        return TraceSettings()
    if not isinstance(table, dict):
        raise ConfigError("config [trace] must be a table")
    unknown = set(table) - set(_NUMBERS) - {"stay_minutes_by_prefix"}
    if unknown:
        raise ConfigError(f"config [trace] has unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {name: table[name] for name in _NUMBERS if name in table}
    prefixes = table.get("stay_minutes_by_prefix", {})
    if not isinstance(prefixes, dict):
        raise ConfigError("trace.stay_minutes_by_prefix must be a table")
    return TraceSettings(**values, stay_minutes_by_prefix=MappingProxyType(dict(prefixes)))


def trace_settings(config_data: Mapping[str, Any]) -> TraceSettings:
    """The trace settings of a whole parsed aggregator config (its ``[trace]`` table)."""
    return parse_trace_table(config_data.get("trace"))


def load_trace_settings(path: Path) -> TraceSettings:
    """The ``[trace]`` table of the aggregator config file at ``path`` (defaults if none)."""
    return trace_settings(read_toml(path))
