"""No trace without its audit leaf: every case route that hands out data writes its audit
entry first, answers nothing when it cannot, and the entries verify in the sealed ledger.

The audit table is made to refuse inserts with a real trigger (SQLite and PostgreSQL);
every route of the case blueprint is then called with a body that would yield data. A
route added to the blueprint without an entry in DATA_CALLS (or UNAUDITED_ROUTES) fails
``test_every_route_is_covered``.
"""

from __future__ import annotations

import datetime
from typing import Any

import click
import peewee
import pytest
from click.testing import CliRunner
from flask import Flask

from aggregator import audit_log
from aggregator.audit_log import AuditLogEntry
from aggregator.cases.api import UNAUDITED_ROUTES
from aggregator.cases.tables import CaseEntry, CaseHandle
from aggregator.models_base import concrete_database
from aggregator.notices import NoticeEntry
from auditor.cli import ledger_group
from protocol.issuance import open_batch_list
from protocol.note import NoteVerifier
from protocol.notice import new_notice_id
from tests.unit.case_site import (
    CASE_PHONE,
    END_MS,
    HA,
    NEAR_PHONE,
    START_MS,
    Site,
    b64,
    login_token,
    opened,
    unb64,
)
from tests.unit.ledger_site import LEDGER, ORIGIN, sequencer
from tests.unit.trace_town import MINUTE, T0

OPEN = {"reason": "case 9", "start_ms": START_MS, "end_ms": END_MS, "phone": CASE_PHONE}
VKEY = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key()).to_string()


class Traced:
    """A case opened and listed, with everything a further call needs."""

    def __init__(self, app: Flask, enrolment: bytes) -> None:
        self.client = app.test_client()
        self.auth = login_token(self.client)
        answer = opened(self.client, self.auth, OPEN)
        self.case = answer["case"]
        blobs = answer["batches"]
        self.credentials = [c.hex() for b in blobs for c in open_batch_list(HA, unb64(b))]
        listed = self.post(f"/v1/cases/{self.case}/exposures", {"credentials": self.credentials})
        self.handles = [e["handle"] for e in listed.get_json()["exposures"]]
        assert self.handles
        self.enrolment = b64(enrolment)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.auth)


#: Per route of the case blueprint: the calls that would yield data.
DATA_CALLS: dict[str, list[tuple[str, Any]]] = {
    "cases.open_case": [("", lambda t: OPEN)],
    "cases.resume_case": [("/opening", lambda t: {})],
    "cases.batches": [("/batches", lambda t: {"enrolments": [t.enrolment]})],
    "cases.exposures": [("/exposures", lambda t: {"credentials": t.credentials})],
    "cases.contacts": [
        ("/contacts", lambda t: {"handles": t.handles}),
        ("/contacts", lambda t: {"enrolments": [t.enrolment]}),
    ],
    "cases.audit": [("/audit", lambda t: {"action": "export", "counts": {"rows": 3}})],
    "cases.notices": [("/notices", lambda t: notice_body())],
}


def notice_body() -> dict[str, Any]:
    today = datetime.datetime.now(datetime.UTC).date()
    return {
        "notice": new_notice_id().hex(),
        "tags": [b64(bytes([i]) * 16) for i in range(3)],
        "from_day": (today - datetime.timedelta(days=3)).isoformat(),
        "to_day": today.isoformat(),
        "guidance": {"ko": "검사를 받으세요", "en": "Please get tested"},
    }


@pytest.fixture
def traced(case_site: Site) -> Traced:
    case, near = case_site.phone(CASE_PHONE), case_site.phone(NEAR_PHONE)
    case_site.town.visit(case.days[0], "cafe-in", T0)
    case_site.town.visit(near.days[0], "cafe-in", T0 + 10 * MINUTE)
    return Traced(case_site.app(), near.enrolment)


def refuse_audit_inserts() -> None:
    """A trigger that makes every insert into the audit table fail."""
    db = concrete_database(AuditLogEntry._meta.database)
    table = AuditLogEntry._meta.table_name
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql(
            f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
        return
    db.execute_sql(
        "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql"
    )
    db.execute_sql(
        f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    )


def path_of(traced: Traced, endpoint: str, tail: str) -> str:
    return "/v1/cases" if endpoint == "cases.open_case" else f"/v1/cases/{traced.case}{tail}"


def test_every_route_is_covered(traced: Traced) -> None:
    app = traced.client.application
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("cases.")
    }
    assert endpoints == set(DATA_CALLS) | UNAUDITED_ROUTES, "a new case route needs an audit test"


def test_every_data_call_answers_with_its_audit_entry(traced: Traced) -> None:
    for endpoint, calls in DATA_CALLS.items():
        for tail, body in calls:
            before = AuditLogEntry.select().count()
            answer = traced.post(path_of(traced, endpoint, tail), body(traced))
            assert answer.status_code in (200, 201), (endpoint, answer.get_json())
            assert AuditLogEntry.select().count() == before + 1, endpoint


def test_no_audit_no_answer(traced: Traced) -> None:
    cases = CaseEntry.select().count()
    handles = CaseHandle.select().count()
    refuse_audit_inserts()
    for endpoint, calls in DATA_CALLS.items():
        for tail, body in calls:
            answer = traced.post(path_of(traced, endpoint, tail), body(traced))
            assert answer.status_code == 503, (endpoint, answer.data[:200])
            assert answer.get_json() == {
                "error": "audit_unavailable",
                "message": "the audit entry cannot be written: nothing is shown",
            }
    assert CaseEntry.select().count() == cases  # no case opened without its entry
    assert CaseHandle.select().count() == handles
    assert NoticeEntry.select().count() == 0  # no notice published without its entry


def test_the_audit_entries_verify_in_the_sealed_ledger(traced: Traced, db_url: str) -> None:
    traced.post(f"/v1/cases/{traced.case}/contacts", {"handles": traced.handles})
    traced.post(f"/v1/cases/{traced.case}/audit", {"action": "export", "counts": {"rows": 1}})
    assert traced.post(f"/v1/cases/{traced.case}/opening", {}).status_code == 200
    assert sequencer(now=T0 + 3600).seal() is not None
    rows = audit_log.for_case(bytes.fromhex(traced.case))
    assert [r.action for r in rows] == [
        "case-opened",
        "exposure-list",
        "contacts-decrypted",
        "export",
        "case-resumed",
    ]
    assert all(r.leaf_index is not None for r in rows)
    summary = traced.client.get(f"/v1/cases/{traced.case}", headers=traced.auth).get_json()
    assert [a["leaf_index"] for a in summary["audit"]] == [r.leaf_index for r in rows]
    entry = audit_log.entry_json(rows[0])
    assert (entry["actor"], entry["role"], entry["reason"]) == ("kim", "official", "case 9")
    assert entry["counts"] == {"batches": 1, "cards": 0, "enrolments": 1, "owners": 0}
    assert audit_log.entry_json(rows[-1])["counts"] == {}  # the server cannot count a sealed blob
    cli = click.Group(commands={"ledger": ledger_group})
    result = CliRunner().invoke(cli, ["ledger", "verify", "--db", db_url, "--vkey", VKEY])
    assert result.exit_code == 0, result.output
    assert "audit entries: 5 signed and matching their leaves" in result.output
