"""The case API (/v1/cases) end to end in-process, on SQLite and PostgreSQL.

Real enrolments through the issuer, real check-ins through ingest, a real desk card;
the official's side is played here with the health authority's private key.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

import pytest
from flask import Flask

from aggregator import audit_log
from protocol.contact import open_contact
from protocol.issuance import open_batch_list, open_owner
from protocol.notice import new_notice_id, notice_tag
from protocol.presentation import Presentation
from tests.unit.case_site import (
    CARD_PHONE,
    CASE_PHONE,
    END_MS,
    FAR_PHONE,
    HA,
    NEAR_PHONE,
    START_MS,
    Phone,
    Site,
    login_token,
    opened,
    unb64,
)
from tests.unit.trace_town import MINUTE, T0

OPEN = {"reason": "confirmed case 12", "start_ms": START_MS, "end_ms": END_MS}


@dataclass
class World:
    site: Site
    app: Flask
    case: Phone
    near: Phone
    far: Phone
    card: Presentation


@pytest.fixture
def world(case_site: Site) -> World:
    site = case_site
    case, near, far = (
        site.phone(CASE_PHONE, "Case Kim"),
        site.phone(NEAR_PHONE),
        site.phone(FAR_PHONE),
    )
    card = site.card(CARD_PHONE)
    town = site.town
    town.visit(case.days[0], "cafe-in", T0)  # case at the cafe [T0, T0 + 60 min)
    town.visit(near.days[0], "cafe-in", T0 + 10 * MINUTE)  # 50 min together
    town.visit(card, "cafe-in", T0 + 30 * MINUTE)  # 30 min together
    town.visit(far.days[0], "cafe-in", T0 + 55 * MINUTE)  # 5 min: under the minimum
    return World(site, site.app(), case, near, far, card)


def test_a_whole_case_by_phone(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    answer = opened(client, auth, OPEN, phone="010-1111-2222")
    assert set(answer) == {"case", "start_ms", "end_ms", "batches", "owners", "credentials"}
    assert answer["owners"] == [] and answer["credentials"] == []
    ids = [cid for blob in answer["batches"] for cid in open_batch_list(HA, unb64(blob))]
    assert world.case.days[0].credential.credential_id in ids
    case = answer["case"]
    listed = client.post(
        f"/v1/cases/{case}/exposures", json={"credentials": [c.hex() for c in ids]}, headers=auth
    )
    assert listed.status_code == 200, listed.get_json()
    found = listed.get_json()
    assert [v["venue"] for v in found["case_visits"]] == ["cafe-1"]
    assert [(e["overlap_s"], e["code_type"]) for e in found["exposures"]] == [
        (3000.0, "checkin"),
        (1800.0, "card"),
    ]
    handles = [e["handle"] for e in found["exposures"]]
    held = client.post(f"/v1/cases/{case}/contacts", json={"handles": handles}, headers=auth)
    assert held.status_code == 200, held.get_json()
    held = held.get_json()
    assert [o["handle"] for o in held["owners"]] == [handles[0]]
    assert [c["handle"] for c in held["contacts"]] == [handles[1]]
    assert open_contact(HA, unb64(held["contacts"][0]["contact"])).phone == CARD_PHONE
    enrolment = open_owner(HA, unb64(held["owners"][0]["owner"]))
    assert enrolment == world.near.enrolment
    blobs = client.post(
        f"/v1/cases/{case}/contacts",
        json={"enrolments": [base64.urlsafe_b64encode(enrolment).decode().rstrip("=")]},
        headers=auth,
    ).get_json()["contacts"]
    assert open_contact(HA, unb64(blobs[0]["contact"])).phone == NEAR_PHONE
    exported = client.post(
        f"/v1/cases/{case}/audit", json={"action": "export", "counts": {"rows": 2}}, headers=auth
    )
    assert exported.status_code == 201
    summary = client.get(f"/v1/cases/{case}", headers=auth).get_json()
    assert [a["action"] for a in summary["audit"]] == [
        "case-opened",
        "exposure-list",
        "contacts-decrypted",
        "contacts-decrypted",
        "export",
    ]
    assert len(audit_log.for_case(bytes.fromhex(case))) == 5


def test_a_case_by_diagnostic_code(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    world.site.clock[0] = T0 + 3600
    code = world.case.diagnostic(T0 + 3590).to_text()
    answer = opened(client, auth, OPEN, code=code)
    assert answer["batches"] == [] and answer["credentials"] == []
    enrolment = open_owner(HA, unb64(answer["owners"][0]))
    assert enrolment == world.case.enrolment
    batches = client.post(
        f"/v1/cases/{answer['case']}/batches",
        json={"enrolments": [base64.urlsafe_b64encode(enrolment).decode().rstrip("=")]},
        headers=auth,
    )
    assert batches.status_code == 200, batches.get_json()
    ids = open_batch_list(HA, unb64(batches.get_json()["batches"][0]))
    assert world.case.days[0].credential.credential_id in ids


def test_a_notice_for_the_exposed(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    case = opened(client, auth, OPEN, phone=CASE_PHONE)["case"]
    notice = new_notice_id()
    tags = [notice_tag(world.near.contact.notify_secret, notice)]
    today = datetime.datetime.now(datetime.UTC).date()
    body = {
        "notice": notice.hex(),
        "tags": [base64.urlsafe_b64encode(t).decode().rstrip("=") for t in tags],
        "from_day": (today - datetime.timedelta(days=2)).isoformat(),
        "to_day": today.isoformat(),
        "guidance": {"ko": "검사를 받으세요", "en": "Please get tested"},
    }
    published = client.post(f"/v1/cases/{case}/notices", json=body, headers=auth)
    assert published.status_code == 201, published.get_json()
    assert published.get_json() == {"notice": notice.hex()}
    listed = client.get("/v1/notices").get_json()["notices"]
    assert len(listed) == 1 and len(listed[0]["tags"]) == 16
    assert body["tags"][0] in listed[0]["tags"]
    again = client.post(f"/v1/cases/{case}/notices", json=body, headers=auth)
    assert again.status_code == 409
    many = {
        **body,
        "notice": new_notice_id().hex(),
        "tags": [
            base64.urlsafe_b64encode(i.to_bytes(16, "big")).decode().rstrip("=")
            for i in range(5000)
        ],
    }
    assert client.post(f"/v1/cases/{case}/notices", json=many, headers=auth).status_code == 201
    assert audit_log.for_case(bytes.fromhex(case))[-1].action == "notice"
    other = login_token(client, "han")
    assert client.post(f"/v1/cases/{case}/notices", json=body, headers=other).status_code == 404


def test_a_card_met_on_two_days_gives_its_contact_for_both_handles(world: World) -> None:
    """Two exposures (two storing days) lead to one card: each handle gets the contact."""
    town = world.site.town
    town.visit(world.case.days[1], "cafe-in", T0 + 86_400)
    town.visit(world.card, "cafe-in", T0 + 86_400 + 10 * MINUTE)
    client = world.app.test_client()
    auth = login_token(client)
    answer = opened(client, auth, OPEN, phone="010-1111-2222")
    ids = [cid for blob in answer["batches"] for cid in open_batch_list(HA, unb64(blob))]
    found = client.post(
        f"/v1/cases/{answer['case']}/exposures",
        json={"credentials": [c.hex() for c in ids]},
        headers=auth,
    ).get_json()
    card_handles = [e["handle"] for e in found["exposures"] if e["code_type"] == "card"]
    assert len(set(card_handles)) == 2, found["exposures"]
    held = client.post(
        f"/v1/cases/{answer['case']}/contacts", json={"handles": card_handles}, headers=auth
    ).get_json()
    assert sorted(c["handle"] for c in held["contacts"]) == sorted(card_handles)
    phones = {open_contact(HA, unb64(c["contact"])).phone for c in held["contacts"]}
    assert phones == {CARD_PHONE}
