"""The case API's request bodies: JSON objects, parsed strictly, every field checked.

Bodies must be ``Content-Type: application/json`` (else 415) and a JSON object with
only the expected keys (else 400). They may be larger than the rest of the API's
(500 handles of a contacts request are over 16 KiB), up to :data:`MAX_BODY_BYTES`,
and nest no deeper than the API's bound. Binary values are unpadded base64url, case
ids and credential ids lower-case hex (the contract in docs/ARCHITECTURE.md).
Every refusal is an ``ApiError`` (counted by reason) whose message names the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from protocol.audit_entry import MAX_REASON, counts_map, plain_text
from protocol.errors import MalformedError

from ..api.bodies import MAX_JSON_DEPTH, nesting_depth
from ..api.errors import ApiError, bad_request

MAX_BODY_BYTES = 60 * 1024
#: A notice's body: up to 5000 tags of 22 characters (protocol/notice.py MAX_TAGS).
NOTICE_BODY_BYTES = 192 * 1024
#: Items one list may hold (handles or enrolments of a contacts request, at most).
MAX_ITEMS = 500
#: The latest time the API takes, in ms (year 2100).
MAX_TIME_MS = 4_102_444_800_000
_B64 = re.compile(r"[A-Za-z0-9_-]*")
_HEX = re.compile(r"[0-9a-f]*")
_check_reason = plain_text(MAX_REASON)
_check_counts = counts_map()

T = TypeVar("T")


def json_body(
    required: frozenset[str] | set[str],
    optional: frozenset[str] | set[str] = frozenset(),
    *,
    max_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """The request's JSON object: 415 unless JSON, 400 unless its keys are as expected."""
    if request.mimetype != "application/json":
        raise ApiError(415, "not_json", "send Content-Type: application/json")
    if max_bytes > MAX_BODY_BYTES:
        request.max_content_length = max_bytes  # this route's own bound (Flask 3.1)
    data = request.get_data(cache=True)
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"this case request is at most {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        bad_request("bad_json", "the body is not UTF-8")
    if nesting_depth(text) > MAX_JSON_DEPTH:
        bad_request("bad_json", f"JSON nests at most {MAX_JSON_DEPTH} deep")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        bad_request("bad_json", f"the body is not JSON: {exc.msg}")
    except RecursionError:
        bad_request("bad_json", "the body nests too deep")
    if not isinstance(body, dict):
        bad_request("bad_json", "the body must be a JSON object")
    unknown = sorted(set(body) - required - optional)
    if unknown:
        bad_request("unknown_field", f"unknown field {str(unknown[0])[:40]!r}")
    missing = sorted(required - set(body))
    if missing:
        bad_request("missing_field", f"missing field {missing[0]!r}")
    return body


def time_ms(body: dict[str, Any], name: str) -> int:
    """A time in ms since the epoch (an integer, not a bool or a float)."""
    value = body[name]
    if type(value) is not int or not 0 <= value <= MAX_TIME_MS:
        bad_request("bad_period", f"{name} must be a time in ms since the epoch")
    return value


def reason(body: dict[str, Any]) -> str:
    """The stated reason: 1 to 500 characters of one plain line (NFC, trimmed)."""
    value = body["reason"]
    if type(value) is not str:
        bad_request("bad_reason", "reason must be text")
    value = unicodedata.normalize("NFC", value).strip()
    try:
        return _check_reason(value, "reason")
    except MalformedError as exc:
        bad_request("bad_reason", str(exc))


def text_field(body: dict[str, Any], name: str, limit: int) -> str:
    """A text field of at most ``limit`` characters."""
    value = body[name]
    if type(value) is not str or not 0 < len(value) <= limit:
        bad_request(f"bad_{name}", f"{name} must be text of 1 to {limit} characters")
    return value


def b64_value(text: object, size: int | None = None) -> bytes:
    """Unpadded base64url ``text`` (of ``size`` bytes if given), else ValueError."""
    if type(text) is not str or len(text) > 4096 or not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    if size is not None and len(value) != size:
        raise ValueError(f"not {size} bytes")
    return value


def hex_value(text: object, size: int) -> bytes:
    """Lower-case hex ``text`` of ``size`` bytes, else ValueError."""
    if type(text) is not str or len(text) != 2 * size or not _HEX.fullmatch(text):
        raise ValueError(f"not {2 * size} lower-case hex digits")
    return bytes.fromhex(text)


def b64(value: bytes) -> str:
    """Unpadded base64url of ``value``."""
    return base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")


def item_list(
    body: dict[str, Any], name: str, parse: Callable[[object], T], limit: int = MAX_ITEMS
) -> list[T]:
    """A list field of 1 to ``limit`` items, each parsed by ``parse`` (duplicates dropped)."""
    value = body[name]
    if type(value) is not list or not 1 <= len(value) <= limit:
        bad_request(f"bad_{name}", f"{name} must be a list of 1 to {limit} items")
    items: list[T] = []
    for index, item in enumerate(value):
        try:
            items.append(parse(item))
        except ValueError as exc:
            bad_request(f"bad_{name}", f"{name}[{index}]: {exc}")
    return list(dict.fromkeys(items))


def counts(body: dict[str, Any]) -> dict[str, int]:
    """An audit entry's counts: at most 8 names (lower-case labels) of whole numbers."""
    value = body.get("counts", {})
    if type(value) is dict and any(type(v) is bool for v in value.values()):
        bad_request("bad_counts", "counts are whole numbers")
    try:
        return _check_counts(value, "counts")
    except MalformedError as exc:
        bad_request("bad_counts", str(exc))
