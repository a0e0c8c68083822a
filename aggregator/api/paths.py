"""One spelling per resource: a request target not in canonical origin form is a 404.

``//v1/kiosks`` reaches gunicorn's and Werkzeug's routing as ``/v1/kiosks`` (the request
line is read as a URL whose host is empty), so the check reads the raw target the server
passes on (``RAW_URI``, or ``REQUEST_URI``), before any route matches.
Refused: a target that does not start with one ``/`` (absolute or authority form), a
fragment, an empty segment (``//``, a trailing ``/``), a ``.`` or ``..`` segment, and a
percent-escape of a character that needs none (unreserved, or an escaped ``/``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask, request

from .errors import ApiError

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_NEEDS_NO_ESCAPE = re.compile(r"[A-Za-z0-9._~/-]")


def non_canonical(target: str) -> str | None:
    """Why the request target ``target`` (path and query) is not canonical; None if it is."""
    path = target.split("?", 1)[0]
    if not path.startswith("/"):
        return "the request target must be a path starting with /"
    if "#" in target:
        return "a request target has no fragment"
    if path != "/" and any(s in ("", ".", "..") for s in path[1:].split("/")):
        return "the path has an empty, . or .. segment"
    if any(_NEEDS_NO_ESCAPE.fullmatch(unquote(e)) for e in _ESCAPE.findall(path)):
        return "the path escapes a character that needs no escape"
    return None


def register_canonical_paths(app: Flask) -> None:
    """Refuse every non-canonical request target with 404, before routing and views."""

    @app.before_request
    def _canonical_target() -> None:
        environ = request.environ
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
        reason = non_canonical(target)
        if reason is not None:
            raise ApiError(404, "not_found", f"{reason}: no such resource")
