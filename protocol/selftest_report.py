"""The selftest report: written by ``safecode kiosk selftest --json``, read by provisioning.

One JSON object on one line: ``kiosk`` (its id), ``ok`` (no check failed) and
``checks``, each ``{"name", "status" (PASS, WARN or FAIL), "detail", "seconds"}`` in
the order they ran. Read strictly: unknown or missing fields, a wrong ``ok`` or an
oversize report are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .errors import MalformedError, OversizeError
from .ids import check_kiosk_id

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
STATUSES = (PASS, WARN, FAIL)
MAX_BYTES = 512 * 1024
MAX_CHECKS = 64
MAX_DETAIL = 4000
"""A longer detail is cut to this many characters when written."""
_CHECK_FIELDS = ("name", "status", "detail", "seconds")


@dataclass(frozen=True)
class CheckResult:
    """One check's row: its name, PASS/WARN/FAIL, what it found and how long it took."""

    name: str
    status: str
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail[:MAX_DETAIL],
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_dict(cls, value: Any) -> CheckResult:
        if not isinstance(value, dict) or set(value) != set(_CHECK_FIELDS):
            raise MalformedError(f"a selftest check has exactly the fields {_CHECK_FIELDS}")
        name, status, detail, seconds = (value[k] for k in _CHECK_FIELDS)
        if not isinstance(name, str) or not 0 < len(name) <= 40:
            raise MalformedError("a selftest check's name is text of 1-40 characters")
        if status not in STATUSES or not isinstance(status, str):
            raise MalformedError(f"a selftest check's status is one of {', '.join(STATUSES)}")
        if not isinstance(detail, str) or len(detail) > MAX_DETAIL:
            raise MalformedError(f"a selftest check's detail is text of at most {MAX_DETAIL}")
        if type(seconds) not in (int, float) or not math.isfinite(seconds) or seconds < 0:
            raise MalformedError("a selftest check's seconds is a non-negative number")
        return cls(name, status, detail, float(seconds))


@dataclass(frozen=True)
class SelftestReport:
    """Every check of one selftest run of one kiosk."""

    kiosk: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings pass)."""
        return all(check.status != FAIL for check in self.checks)

    def failed(self) -> list[CheckResult]:
        """The checks that failed, in order."""
        return [check for check in self.checks if check.status == FAIL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kiosk": self.kiosk,
            "ok": self.ok,
            "checks": [check.to_dict() for check in self.checks],
        }

    def to_json(self) -> str:
        """The one-line report ``--json`` prints."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, value: Any) -> SelftestReport:
        """Check a decoded report strictly; MalformedError naming the first fault."""
        if not isinstance(value, dict) or set(value) != {"kiosk", "ok", "checks"}:
            raise MalformedError("a selftest report has exactly the fields kiosk, ok, checks")
        checks = value["checks"]
        if not isinstance(checks, list) or len(checks) > MAX_CHECKS:
            raise MalformedError(f"a selftest report's checks are a list of at most {MAX_CHECKS}")
        report = cls(check_kiosk_id(value["kiosk"]), tuple(map(CheckResult.from_dict, checks)))
        if value["ok"] is not report.ok:
            raise MalformedError("a selftest report's ok does not match its checks")
        return report


def parse_report(text: str | bytes) -> SelftestReport:
    """Parse a report's JSON text; OversizeError or MalformedError."""
    if not isinstance(text, str | bytes):
        raise MalformedError("a selftest report is text")
    if len(text) > MAX_BYTES:
        raise OversizeError(f"selftest report over {MAX_BYTES} bytes")
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedError(f"selftest report is not JSON: {str(exc)[:80]}") from exc
    return SelftestReport.from_dict(value)
