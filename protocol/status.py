"""Kiosk status (heartbeat) messages: small JSON objects on the retained status topic.

JSON so that an operator can read them with ``mosquitto_sub``. ``state`` is
``online`` or ``offline`` (the retained last will). Parsed strictly: a JSON object of
at most 4096 bytes, version 1, scalar values only, and every documented field below,
when present, of its documented type. Unknown scalar fields are allowed, so a newer
kiosk can add figures an older aggregator ignores.

Heartbeat fields (all optional; a last will carries only ``v`` and ``state``):

| field | type | meaning |
| --- | --- | --- |
| ``firmware`` | text | firmware version |
| ``queue`` | int | check-ins waiting for a receipt |
| ``oldest_unsent_ms`` | int or null | age of the oldest waiting check-in |
| ``in_flight`` | int | check-ins sent and waiting for a receipt within the resend timeout |
| ``last_receipt_age_ms`` | int or null | time since the last verified receipt (null: never) |
| ``fps`` | number | frames per second over the last interval |
| ``decode_ms`` | number or null | median decode time of recent frames |
| ``clock_synced`` | bool | whether the wall clock is synchronised |
| ``clock_boot`` | text | boot id, 32 lowercase hex digits |
| ``clock_mono_ms`` | int | monotonic clock (ms since boot) when the status was made |
| ``clock_wall_ms`` | int | wall clock (Unix ms) at the same instant |
| ``disk_free_mb`` | number | free space where the outbox lives |
| ``disk_low`` | bool | the low-disk alarm |
| ``config_serial`` | int or null | serial of the kiosk config message in force |
| ``outbox_recoveries`` | int | times a damaged outbox was moved aside and a fresh one begun |
| each name in :data:`COUNTERS` | int | counters since the kiosk started |

Integers are bounded: counts (``queue``, ``in_flight``, ``outbox_recoveries`` and the
counters) from 0 to 2**53, milliseconds (``*_ms``) from 0 to the end of the year 9999,
numbers from 0 to 2**53, and any unknown integer within +-2**53 (I-JSON's safe range).
``config_serial`` echoes the aggregator's own serial (up to 2**63 - 1). A value of the
right type outside its range is refused with :class:`~protocol.errors.OutOfRangeError`.

With ``clock_boot``, ``clock_mono_ms`` and ``clock_wall_ms`` the aggregator can place a
record scanned with an unsynchronised clock: same boot, so wall time at the scan is
the heartbeat's wall time minus the monotonic difference.

:class:`Heartbeat` is the one definition of these names: readers (the fleet view,
clock placement) take its attributes, never raw keys, and there are no aliases.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import MalformedError, OutOfRangeError, OversizeError, UnsupportedVersionError
from .schema import KIOSK_INT_MAX, TIME_MS_MAX, UINT_MAX

VERSION = 1
MAX_BYTES = 4096
STATES = ("online", "offline")
COUNTERS = (
    "scanned",
    "accepted",
    "already",
    "refused",
    "faults",
    "delivered",
    "rejected",
    "bad_receipts",
    "bad_configs",
    "disk_full",
)


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= KIOSK_INT_MAX


def _ms(value: Any) -> bool:
    return type(value) is int and 0 <= value <= TIME_MS_MAX


def _serial(value: Any) -> bool:
    return type(value) is int and 0 <= value <= UINT_MAX


def _number(value: Any) -> bool:
    # Compared, never converted: math.isfinite(10**400) raises OverflowError.
    if type(value) is float and not math.isfinite(value):
        return False
    return type(value) in (int, float) and 0 <= value <= KIOSK_INT_MAX


def _nullable(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _hex32(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) is not None


def _firmware(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32


def _flag(value: Any) -> bool:
    return type(value) is bool


def _figure(check: Callable[[Any], bool]) -> Any:
    """A heartbeat figure: None when absent, and the check its value must pass."""
    return field(default=None, metadata={"check": check})


@dataclass(frozen=True)
class Heartbeat:
    """One status message's documented figures: the single definition of each name.

    A figure absent (or, read leniently, invalid) is None; ``counters`` holds those of
    :data:`COUNTERS` present. Unknown fields are not kept.
    """

    state: str | None = _figure(lambda v: v in STATES)
    firmware: str | None = _figure(_firmware)
    queue: int | None = _figure(_count)
    oldest_unsent_ms: int | None = _figure(_nullable(_ms))
    in_flight: int | None = _figure(_count)
    last_receipt_age_ms: int | None = _figure(_nullable(_ms))
    fps: float | None = _figure(_number)
    decode_ms: float | None = _figure(_nullable(_number))
    clock_synced: bool | None = _figure(_flag)
    clock_boot: str | None = _figure(_hex32)
    clock_mono_ms: int | None = _figure(_ms)
    clock_wall_ms: int | None = _figure(_ms)
    disk_free_mb: float | None = _figure(_number)
    disk_low: bool | None = _figure(_flag)
    config_serial: int | None = _figure(_nullable(_serial))
    outbox_recoveries: int | None = _figure(_count)
    counters: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, value: Mapping[str, Any]) -> Heartbeat:
        """The documented figures of a status object, each kept only if it passes its check.

        Lenient on purpose, for statuses stored earlier: a figure of the wrong type
        reads as None. :func:`parse_status` is the strict reader of the wire.
        """
        figures = {
            name: value.get(name)
            for name, check in _FIGURE_CHECKS.items()
            if name in value and check(value.get(name))
        }
        counters = {name: value[name] for name in COUNTERS if _count(value.get(name))}
        return cls(**figures, counters=counters)


_FIGURE_CHECKS: dict[str, Callable[[Any], bool]] = {
    f.name: f.metadata["check"] for f in fields(Heartbeat) if "check" in f.metadata
}

FIELDS: dict[str, Callable[[Any], bool]] = {
    **{name: check for name, check in _FIGURE_CHECKS.items() if name != "state"},
    **dict.fromkeys(COUNTERS, _count),
}
"""Documented heartbeat fields and the check each value must pass."""


def encode_status(state: str, **fields: Any) -> bytes:
    """A status message: version, state and scalar figures (documented ones type-checked)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    for key, value in fields.items():
        if key in FIELDS and not FIELDS[key](value):
            raise ValueError(f"status.{key} = {value!r} is not a valid value")
    return json.dumps({"v": VERSION, "state": state, **fields}, sort_keys=True).encode()


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedError("status holds a number out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise MalformedError(f"status holds {name}, which is not a number")


def parse_status(data: bytes) -> dict[str, Any]:
    """Parse a status message, refusing oversize, non-object or unknown-version input."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedError("a status message is bytes")
    if len(data) > MAX_BYTES:
        raise OversizeError(f"status message over {MAX_BYTES} bytes")
    try:
        value = json.loads(
            data.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError(f"status is not JSON: {str(exc)[:80]}") from exc
    if not isinstance(value, dict):
        raise MalformedError("status must be a JSON object")
    version = value.get("v")
    if type(version) is not int or version != VERSION:
        raise UnsupportedVersionError(f"status version {str(version)[:20]!r} is not supported")
    if value.get("state") not in STATES:
        raise MalformedError("status.state must be online or offline")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool | type(None)):
            raise MalformedError(f"status.{key[:40]} must be a scalar")
        _check_value(key, item)
    return value


def _check_value(key: str, item: Any) -> None:
    """Refuse a documented figure that fails its check, or an unknown integer beyond 2**53."""
    check = FIELDS.get(key)
    if check is None:
        if type(item) is int and not -KIOSK_INT_MAX <= item <= KIOSK_INT_MAX:
            raise OutOfRangeError(f"status.{key[:40]} is an integer beyond +-2**53")
        return
    if check(item):
        return
    # A number of a type the field takes (zero of that type passes), but out of range.
    if type(item) in (int, float) and check(type(item)(0)):
        raise OutOfRangeError(f"status.{key} is out of range")
    raise MalformedError(f"status.{key} has a value of the wrong type")
