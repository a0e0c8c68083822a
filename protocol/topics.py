"""MQTT topic names under ``safecode/v1/kiosk/<kiosk-id>/``."""

from __future__ import annotations

from .errors import MalformedError
from .ids import check_kiosk_id

PREFIX = "safecode/v1/kiosk"
CHECKIN = "checkin"
RECEIPT = "receipt"
STATUS = "status"
CONFIG = "config"
LEAVES = (CHECKIN, RECEIPT, STATUS, CONFIG)

#: What the aggregator subscribes to.
ALL_CHECKINS = f"{PREFIX}/+/{CHECKIN}"
ALL_STATUS = f"{PREFIX}/+/{STATUS}"


def topic(kiosk_id: str, leaf: str) -> str:
    """The topic ``leaf`` of one kiosk."""
    if leaf not in LEAVES:
        raise ValueError(f"unknown topic leaf {leaf!r}")
    return f"{PREFIX}/{check_kiosk_id(kiosk_id)}/{leaf}"


def parse_topic(name: str) -> tuple[str, str]:
    """Split a kiosk topic into (kiosk id, leaf), refusing anything else."""
    if not isinstance(name, str) or len(name) > 128:
        raise MalformedError("topic name too long or not text")
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PREFIX or parts[4] not in LEAVES:
        raise MalformedError(f"not a safecode kiosk topic: {name[:80]!r}")
    return check_kiosk_id(parts[3]), parts[4]
