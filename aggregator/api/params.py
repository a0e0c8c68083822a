"""Strict parsing of path and query parameters: anything odd is a 400 with a reason."""

from __future__ import annotations

import re

from flask import request

from protocol.checkin import CHECKIN_ID_SIZE

from .errors import bad_request

MAX_INT = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_ID = re.compile(rf"[0-9a-f]{{{2 * CHECKIN_ID_SIZE}}}")


def decimal(text: str, name: str, *, low: int = 0, high: int = MAX_INT) -> int:
    """A canonical decimal from ``low`` to ``high``."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text) or not low <= int(text) <= high:
        bad_request(f"bad_{name}", f"{name} must be a decimal integer from {low} to {high}")
    return int(text)


def query_int(name: str, default: int | None, *, low: int = 0, high: int = MAX_INT) -> int | None:
    """An optional integer query parameter; given twice or out of range is refused."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        bad_request(f"bad_{name}", f"{name} given more than once")
    return decimal(values[0], name, low=low, high=high)


def only_params(*allowed: str) -> None:
    """Refuse query parameters this endpoint does not know (a typo must not be ignored)."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        bad_request("unknown_parameter", f"unknown query parameter {unknown[0][:40]!r}")


def checkin_id(text: str) -> bytes:
    """A check-in id: exactly 32 lowercase hex digits."""
    if not isinstance(text, str) or not _HEX_ID.fullmatch(text):
        bad_request(
            "bad_checkin_id", f"a check-in id is {2 * CHECKIN_ID_SIZE} lowercase hex digits"
        )
    return bytes.fromhex(text)
