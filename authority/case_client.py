"""The official's HTTP client of the case API (``/v1/staff/login``, ``/v1/cases...``).

Standard library only (``urllib.request``): JSON in, JSON out, a bearer token after
login. Every refusal becomes :class:`CaseApiError` with the status, the server's reason
label and its message; a server that cannot be reached or answers something that is not
JSON is a :class:`CaseApiError` too (status 0 or the HTTP status).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 120.0
#: The largest answer read: an exposure list of thousands of rows is a few megabytes.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class CaseApiError(Exception):
    """A case API request refused or failed; ``status`` 0 when no answer came."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason


class CaseClient:
    """Requests to one aggregator, with the bearer token once logged in."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise CaseApiError(0, "bad_url", f"the server must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request; the JSON answer (None for 204)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                raw = answer.read(MAX_ANSWER_BYTES + 1)
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from exc
        except OSError as exc:
            raise CaseApiError(0, "unreachable", f"{path}: cannot reach the server: {exc}") from exc
        if status == 204:
            return None
        if len(raw) > MAX_ANSWER_BYTES:
            raise CaseApiError(status, "too_large", f"{path}: the answer is too large")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CaseApiError(status, "not_json", f"{path}: the answer is not JSON") from exc

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def login(self, user: str, password: str) -> int:
        """Log in (``POST /v1/staff/login``); keeps the token, returns its lifetime in s."""
        answer = self.post("/v1/staff/login", {"user": user, "password": password})
        if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
            raise CaseApiError(200, "bad_answer", "the login answer holds no token")
        self.token = answer["token"]
        return int(answer.get("expires_s", 0))

    def logout(self) -> None:
        """End the token's session (``POST /v1/staff/logout``)."""
        if self.token is not None:
            self.request("POST", "/v1/staff/logout")
            self.token = None


def _refusal(exc: urllib.error.HTTPError) -> CaseApiError:
    try:
        body = json.loads(exc.read(64 * 1024))
    except ValueError:
        body = None
    if isinstance(body, dict):
        return CaseApiError(exc.code, str(body.get("error")), str(body.get("message")))
    return CaseApiError(exc.code, "http_error", str(exc.reason))
