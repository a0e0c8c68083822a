"""The aggregator's operator API as provisioning uses it (standard-library HTTP, JSON)."""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from protocol.enrolment import EnrolAnswer, SiteAnswer
from protocol.errors import ProtocolError

from .errors import OutcomeUnknown, StepFailed

MAX_ANSWER = 1 << 20
LOOPBACK_NAMES = ("localhost",)


def check_aggregator_url(url: str) -> str:
    """``url`` if it is https://, or http:// to a loopback host; else ValueError."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{url[:80]!r} is not an https:// URL of the aggregator")
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError(
            f"{url[:80]!r} is plain http to another machine: the operator token would "
            "cross the network in clear; use https:// (http:// only for 127.0.0.1, ::1, "
            "localhost)"
        )
    return url


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Redirected(Exception):
    """The aggregator answered with a redirect, which is never followed."""

    def __init__(self, code: int, location: str) -> None:
        super().__init__(code, location)
        self.code = code
        self.location = location


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would resend the Authorization header to it."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        raise _Redirected(code, newurl)


_OPENER = urllib.request.build_opener(_RefuseRedirects)


@dataclass(frozen=True)
class OperatorClient:
    """Calls ``/v1/operator/...`` and the fleet views with a bearer operator token."""

    base_url: str
    token: str
    timeout: float = 15.0

    def __post_init__(self) -> None:
        check_aggregator_url(self.base_url)

    def _call(
        self,
        method: str,
        path: str,
        step: str,
        body: dict[str, Any] | None = None,
        *,
        missing_ok: bool = False,
    ) -> Any:
        url = self.base_url.rstrip("/") + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Fleet views may be operator-only too; the token only ever goes to this aggregator.
        request.add_header("Authorization", f"Bearer {self.token}")
        # A change (POST) that may have been made is reported as OutcomeUnknown, not undone.
        unsure = OutcomeUnknown if method != "GET" else StepFailed
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                return json.loads(answer.read(MAX_ANSWER))
        except _Redirected as exc:
            raise StepFailed(
                step,
                f"the aggregator at {url} redirected (HTTP {exc.code}) to "
                f"{exc.location[:120]!r}: refused, the operator token is only sent to "
                "--aggregator; give the final address",
            ) from exc
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            failed = unsure if exc.code >= 500 else StepFailed
            raise failed(step, _refusal(exc)) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            never_sent = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
            failed = StepFailed if never_sent else unsure
            raise failed(step, f"cannot reach the aggregator at {url}: {reason}") from exc
        except OSError as exc:  # a timeout or reset while reading the answer
            raise unsure(step, f"no answer from the aggregator at {url}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise unsure(step, f"the aggregator at {url} did not answer JSON") from exc

    def site(self) -> SiteAnswer:
        """Check the token; the keys kiosks trust and the broker address."""
        answer = self._call("GET", "/v1/operator/site", "aggregator")
        try:
            return SiteAnswer.from_dict(answer)
        except ProtocolError as exc:
            raise StepFailed(
                "aggregator", f"the aggregator's site answer is invalid: {exc}"
            ) from exc

    def enrol(
        self, device_key: str, venue: str, kiosk_id: str | None = None, region: str | None = None
    ) -> EnrolAnswer:
        """Register a device key; kiosk id, MQTT credentials, issuer and ledger keys.

        With ``region`` the kiosk is homed on that regional broker (its account is made
        there and the answer's broker address is that broker's)."""
        body: dict[str, Any] = {"device_key": device_key, "venue_id": venue}
        if kiosk_id:
            body["kiosk_id"] = kiosk_id
        if region:
            body["region"] = region
        answer = self._call("POST", "/v1/operator/kiosks", "register", body)
        try:
            return EnrolAnswer.from_dict(answer)
        except ProtocolError as exc:
            # The aggregator did register something: what it was is not known.
            raise OutcomeUnknown("register", f"the aggregator's answer is invalid: {exc}") from exc

    def retire(self, kiosk_id: str) -> dict[str, Any]:
        """Refuse the kiosk's key from now on and remove its broker account."""
        quoted = urllib.parse.quote(kiosk_id, safe="")
        return self._call("POST", f"/v1/operator/kiosks/{quoted}/retire", "retire", {})

    def kiosks_with_key(self, did: str) -> list[dict[str, Any]]:
        """Registry entries enrolled with device key ``did``: ids, venues, retired (operators')."""
        query = urllib.parse.urlencode({"device_key": did})
        return list(self._call("GET", f"/v1/operator/kiosks?{query}", "registry")["kiosks"])

    def kiosk(self, kiosk_id: str) -> dict[str, Any] | None:
        """One kiosk's public registry entry (id, device key, retired); None if unknown."""
        quoted = urllib.parse.quote(kiosk_id, safe="")
        return self._call("GET", f"/v1/kiosks/{quoted}", "registry", missing_ok=True)

    def kiosk_status(self, kiosk_id: str) -> dict[str, Any] | None:
        """One kiosk's heartbeat status (``/v1/kiosks/<id>/status``); None if not enrolled."""
        quoted = urllib.parse.quote(kiosk_id, safe="")
        return self._call("GET", f"/v1/kiosks/{quoted}/status", "heartbeat", missing_ok=True)


def _refusal(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(MAX_ANSWER))
        detail = f"{body.get('error')}: {body.get('message')}"
    except (json.JSONDecodeError, OSError, AttributeError):
        detail = exc.reason
    hint = " (check the operator token: SAFECODE_OPERATOR_TOKEN)" if exc.code == 401 else ""
    return f"the aggregator refused with HTTP {exc.code} {detail}{hint}"
