"""The demo's health official: one case traced through the real case API, with a notice.

An official account is made in the site's database (as ``safecode aggregator user add
--role official`` does) under a random password living only in this process; the
official logs in over HTTP, opens a case by an enrolled phone's number, decrypts with
the demo's health authority key on this side (``authority.casework``), posts the
export's audit entry and publishes one exposure notice when anyone was exposed.
Every step writes its audit entry into the ledger, which the demo then verifies.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.accounts.roles import OFFICIAL
from aggregator.accounts.users import add_user
from aggregator.db import open_database
from authority.case_client import CaseApiError, CaseClient
from authority.casework import CaseResult, CaseworkError, export_audit, publish_notices, trace_case
from provisioning.site import Site

Echo = Callable[..., None]
OFFICIAL_NAME = "demo-official"
GUIDANCE = {
    "ko": "확진자와 같은 장소에 있었습니다. 증상이 있으면 검사를 받으세요.",
    "en": "You were at a venue at the same time as a confirmed case. "
    "Get tested if you have symptoms.",
}


def _official(site: Site) -> str:
    """Make the demo's official account; its password (never written anywhere)."""
    password = secrets.token_urlsafe(18)
    db = open_database(site.database_url)
    try:
        add_user(OFFICIAL_NAME, OFFICIAL, password)
    finally:
        db.close()
    return password


def trace_demo_case(
    site: Site, key: X25519PrivateKey, phone_numbers: Sequence[str], echo: Echo
) -> dict[str, Any]:
    """Trace the first enrolled phone that visited; the figures the demo prints."""
    if not phone_numbers:
        return {"case_traced": False}
    client = CaseClient(f"http://127.0.0.1:{site.http_port}")
    figures: dict[str, Any] = {"case_traced": False}
    try:
        client.login(OFFICIAL_NAME, _official(site))
        now_ms = int(time.time() * 1000)
        result: CaseResult | None = None
        for number in phone_numbers[:3]:  # a phone the kiosks happened to scan
            result = trace_case(
                client,
                lambda: key,
                reason="demo: a visitor reported a positive test",
                start_ms=now_ms - 86_400_000,
                end_ms=now_ms + 3 * 3_600_000,  # the stays begun today run on
                phone=number,
                progress=lambda line: echo(f"trace: {line}"),
            )
            if result.case_visits:
                break
        assert result is not None
        rows = result.call_rows()
        export_audit(client, result.case, len(rows))
        contacts = [e.contact for e in result.exposed if e.contact is not None]
        notices: list[str] = []
        if contacts:
            today = datetime.now(UTC).date()
            notices = publish_notices(
                client,
                result.case,
                contacts,
                from_day=(today - timedelta(days=1)).isoformat(),
                to_day=today.isoformat(),
                guidance=GUIDANCE,
            )
        summary = _sealed_summary(client, result.case)
        figures = {
            "case_traced": True,
            "case_visits": len(result.case_visits),
            "exposures": len(result.exposed),
            "contacts_opened": len(contacts),
            "notices_published": len(notices),
            "case_audit_entries": len(summary.get("audit", [])),
            "case_audit_sealed": _all_sealed(summary),
        }
        echo(
            f"trace: case {result.case}: {figures['case_visits']} visit(s), "
            f"{figures['exposures']} exposure(s), {figures['contacts_opened']} contact(s) "
            f"opened on the official's side, {len(notices)} notice(s) published"
        )
        client.logout()
    except (CaseApiError, CaseworkError, OSError) as exc:
        echo(f"trace: failed: {exc}", err=True)
    return figures


def _all_sealed(summary: dict[str, Any]) -> bool:
    entries = summary.get("audit", [])
    return bool(entries) and all(entry.get("leaf_index") is not None for entry in entries)


def _sealed_summary(client: CaseClient, case: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """The case's summary once the sequencer has sealed its audit entries (or at timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        summary = client.request("GET", f"/v1/cases/{case}")
        if _all_sealed(summary) or time.monotonic() > deadline:
            return summary
        time.sleep(0.2)
