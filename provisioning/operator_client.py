"""The aggregator's operator API as provisioning uses it (standard-library HTTP, JSON)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .errors import StepFailed

MAX_ANSWER = 1 << 20


@dataclass(frozen=True)
class OperatorClient:
    """Calls ``/v1/operator/...`` and the fleet views with a bearer operator token."""

    base_url: str
    token: str
    timeout: float = 15.0

    def _call(self, method: str, path: str, step: str, body: dict[str, Any] | None = None) -> Any:
        url = self.base_url.rstrip("/") + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Fleet views may be operator-only too; the token only ever goes to this aggregator.
        request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read(MAX_ANSWER))
        except urllib.error.HTTPError as exc:
            raise StepFailed(step, _refusal(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StepFailed(step, f"cannot reach the aggregator at {url}: {reason}") from exc
        except json.JSONDecodeError as exc:
            raise StepFailed(step, f"the aggregator at {url} did not answer JSON") from exc

    def site(self) -> dict[str, Any]:
        """Check the token; the keys kiosks trust and the broker address."""
        return self._call("GET", "/v1/operator/site", "aggregator")

    def enrol(self, device_key: str, venue: str, kiosk_id: str | None = None) -> dict[str, Any]:
        """Register a device key; kiosk id, MQTT credentials, issuer and ledger keys."""
        body: dict[str, Any] = {"device_key": device_key, "venue_id": venue}
        if kiosk_id:
            body["kiosk_id"] = kiosk_id
        return self._call("POST", "/v1/operator/kiosks", "register", body)

    def retire(self, kiosk_id: str) -> dict[str, Any]:
        """Refuse the kiosk's key from now on and remove its broker account."""
        quoted = urllib.parse.quote(kiosk_id, safe="")
        return self._call("POST", f"/v1/operator/kiosks/{quoted}/retire", "retire", {})

    def registry(self) -> list[dict[str, Any]]:
        """Every kiosk the aggregator knows (public: ids, venues, device keys, retired)."""
        return list(self._call("GET", "/v1/kiosks", "registry")["kiosks"])

    def fleet(self) -> list[dict[str, Any]]:
        """Heartbeat status of every active kiosk."""
        return list(self._call("GET", "/v1/kiosks/status", "heartbeat")["kiosks"])


def _refusal(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(MAX_ANSWER))
        detail = f"{body.get('error')}: {body.get('message')}"
    except (json.JSONDecodeError, OSError, AttributeError):
        detail = exc.reason
    hint = " (check the operator token: SAFECODE_OPERATOR_TOKEN)" if exc.code == 401 else ""
    return f"the aggregator refused with HTTP {exc.code} {detail}{hint}"
