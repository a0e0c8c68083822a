"""Kiosk status (heartbeat) messages: small JSON objects on the retained status topic.

JSON so that an operator can read them with ``mosquitto_sub``. ``state`` is
``online`` or ``offline`` (the retained last will). Parsed strictly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import MalformedError, OversizeError, UnsupportedVersionError

VERSION = 1
MAX_BYTES = 4096
STATES = ("online", "offline")


def encode_status(state: str, **fields: Any) -> bytes:
    """A status message: version, state and any number of scalar figures."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
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
    return value
