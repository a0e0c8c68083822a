"""Request bodies: every JSON body the API reads is parsed here, bounded in size and depth.

``BoundedJSONProvider`` is the app's JSON provider, so ``request.get_json`` anywhere goes
through ``bounded_loads`` too. Python's json parser recurses once per nesting level: a
body of 50,000 ``[`` would end in a RecursionError (a 500); here it is a ValueError,
which every caller turns into a 400.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider

from .errors import bad_request

# The largest body the API takes is an enrolment: three short strings in one object.
MAX_JSON_BYTES = 16 * 1024
MAX_JSON_DEPTH = 16


class JsonBodyError(ValueError):
    """A body that is not acceptable JSON: too large, too deep or malformed."""


def nesting_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep arrays and objects nest in ``text``; stops counting just past ``limit``.

    One pass, character by character: brackets inside strings do not nest, and a
    backslash in a string escapes the next character (linear even on hostile input).
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def bounded_loads(data: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` for untrusted bodies: JsonBodyError beyond the size or depth bounds."""
    if len(data) > MAX_JSON_BYTES:
        raise JsonBodyError(f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    try:
        text = data.decode(json.detect_encoding(data)) if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JsonBodyError(f"the JSON body is not valid Unicode: {exc.reason}") from exc
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise JsonBodyError(f"JSON nests at most {MAX_JSON_DEPTH} arrays or objects deep")
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as exc:
        raise JsonBodyError(f"the body is not JSON: {exc.msg}") from exc


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with ``loads`` bounded (see ``bounded_loads``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return bounded_loads(s, **kwargs)


def json_object(allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object with only ``allowed`` keys; 400 otherwise."""
    if not request.is_json:
        bad_request("bad_json", "the request body must be a JSON object (application/json)")
    try:
        body = current_app.json.loads(request.get_data(cache=True))
    except ValueError as exc:
        bad_request("bad_json", str(exc))
    if not isinstance(body, dict):
        bad_request("bad_json", "the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        bad_request("unknown_field", f"unknown field {str(unknown[0])[:40]!r}")
    return body
