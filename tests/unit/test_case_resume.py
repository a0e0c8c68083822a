"""Taking a case up again (``POST /v1/cases/<case>/opening``), on SQLite and PostgreSQL.

The kept opening is the open answer's lists sealed once more, as one fixed-size blob, to
the health authority: the server stores no card id, batch list or owner it could join to
the issuer's rows. Only the official who opened the case gets it, audited
``case-resumed``; retention deletes it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aggregator import audit_log
from aggregator.cases import resume, service
from aggregator.cases.opening import Opening
from aggregator.cases.tables import CaseEntry, CaseOpening
from aggregator.db import open_database
from aggregator.desk.cards import CardEntry
from aggregator.issuer.tables import BatchEntry, IssuedCredentialEntry
from aggregator.web import create_app
from protocol.case_opening import PADDED_SIZE, open_case_opening
from protocol.issuance import open_owner
from protocol.presentation import Presentation
from tests.unit.case_site import (
    CARD_PHONE,
    CASE_PHONE,
    END_MS,
    HA,
    START_MS,
    Phone,
    Site,
    b64,
    login_token,
    opened,
    unb64,
)
from tests.unit.ledger_builder import LedgerBuilder
from tests.unit.ledger_site import sequencer
from tests.unit.trace_town import MINUTE, T0

OPEN = {"reason": "case 21", "start_ms": START_MS, "end_ms": END_MS}
FIELDS = {"case", "start_ms", "end_ms", "sealed_opening"}


@dataclass
class World:
    site: Site
    app: Flask
    case: Phone
    card: Presentation


@pytest.fixture
def world(case_site: Site) -> World:
    site = case_site
    case = site.phone(CASE_PHONE, "Case Kim")
    card = site.card(CARD_PHONE)
    site.town.visit(case.days[0], "cafe-in", T0)
    site.town.visit(card, "cafe-in", T0 + 10 * MINUTE)
    return World(site, site.app(), case, card)


def resumed(client: FlaskClient, auth: dict[str, str], case: str) -> dict:
    answer = client.post(f"/v1/cases/{case}/opening", json={}, headers=auth)
    assert answer.status_code == 200, answer.data[:300]
    return json.loads(answer.data)  # over the app's 16 KiB bound for JSON it reads


def unsealed(answer: dict) -> dict:
    """The resumed answer as the open answer (what the official's side makes of it)."""
    kept = open_case_opening(HA, unb64(answer["sealed_opening"]))
    return {
        **{k: v for k, v in answer.items() if k != "sealed_opening"},
        "batches": [b64(b) for b in kept.batches],
        "owners": [b64(o) for o in kept.owners],
        "credentials": [c.hex() for c in kept.credentials],
    }


def stored(case: str) -> bytes:
    return bytes(CaseOpening.get(CaseOpening.case_id == bytes.fromhex(case)).sealed)


def joins_nothing(kept: bytes) -> None:
    """No issuer blob or card id of the database appears in the kept opening."""
    for row in BatchEntry.select(BatchEntry.sealed_credentials):
        assert bytes(row.sealed_credentials) not in kept
    for row in IssuedCredentialEntry.select(IssuedCredentialEntry.sealed_owner):
        assert bytes(row.sealed_owner) not in kept
    for card in CardEntry.select(CardEntry.credential_id):
        assert bytes(card.credential_id) not in kept


def test_a_case_by_phone_comes_back_the_same_from_a_new_login(world: World) -> None:
    first = opened(
        world.app.test_client(), login_token(world.app.test_client()), OPEN, phone=CASE_PHONE
    )
    other_browser = world.app.test_client()
    again = resumed(other_browser, login_token(other_browser), first["case"])
    assert set(again) == FIELDS
    assert len(unb64(again["sealed_opening"])) == 1 + 32 + PADDED_SIZE + 16
    assert unsealed(again) == first
    joins_nothing(stored(first["case"]))
    entries = audit_log.for_case(bytes.fromhex(first["case"]))
    assert [e.action for e in entries] == ["case-opened", "case-resumed"]
    assert audit_log.by_audit_id(bytes(entries[1].audit_id)) is not None


def test_a_card_case_keeps_its_card_sealed(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    first = opened(client, auth, OPEN, phone=CARD_PHONE)
    card_id = world.card.credential.credential_id
    assert first["credentials"] == [card_id.hex()] and first["batches"] == []
    kept = stored(first["case"])
    joins_nothing(kept)
    assert card_id.hex().encode() not in kept
    phone_case = opened(client, auth, OPEN, phone=CASE_PHONE)["case"]
    assert len(stored(phone_case)) == len(kept)  # one size whatever it holds
    again = unsealed(resumed(client, auth, first["case"]))
    assert again == first


def test_a_case_by_code_comes_back_with_its_owner(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    world.site.clock[0] = T0 + 3600
    first = opened(client, auth, OPEN, code=world.case.diagnostic(T0 + 3590).to_text())
    again = unsealed(resumed(client, auth, first["case"]))
    assert again == first
    assert open_owner(HA, unb64(again["owners"][0])) == world.case.enrolment
    joins_nothing(stored(first["case"]))


def test_only_the_opener_gets_it_and_bad_ids_are_404(world: World) -> None:
    client = world.app.test_client()
    case = opened(client, login_token(client), OPEN, phone=CASE_PHONE)["case"]
    han, kim = login_token(client, "han"), login_token(client)
    before = audit_log.AuditLogEntry.select().count()
    for target, auth in [
        (case, han),
        ("00" * 16, kim),
        (case.upper(), kim),
        (case[:-2], kim),
        (case + "00", kim),
        ("zz" * 16, kim),
        ("%00" * 16, kim),
    ]:
        answer = client.post(f"/v1/cases/{target}/opening", json={}, headers=auth)
        assert answer.status_code == 404, (target, answer.data[:200])
        assert answer.get_json() == {"error": "no_such_case", "message": "no such case"}
    assert audit_log.AuditLogEntry.select().count() == before  # nothing handed out


def test_bad_bodies_are_refused(world: World) -> None:
    client = world.app.test_client()
    auth = login_token(client)
    path = f"/v1/cases/{opened(client, auth, OPEN, phone=CASE_PHONE)['case']}/opening"
    assert client.post(path, json={"x": 1}, headers=auth).get_json()["error"] == "unknown_field"
    assert client.post(path, json=[], headers=auth).get_json()["error"] == "bad_json"
    answer = client.post(path, data="{}", content_type="text/plain", headers=auth)
    assert answer.status_code == 415
    assert client.get(path, headers=auth).status_code == 405


def test_a_case_without_a_kept_opening_is_gone(world: World) -> None:
    """Opened before openings were kept, or its opening deleted by retention: 410."""
    client = world.app.test_client()
    auth = login_token(client)
    service.create_case(bytes(range(16)), "kim", "old case", START_MS, END_MS)
    before = audit_log.AuditLogEntry.select().count()
    answer = client.post(f"/v1/cases/{bytes(range(16)).hex()}/opening", json={}, headers=auth)
    assert answer.status_code == 410 and answer.get_json()["error"] == "no_opening"
    assert audit_log.AuditLogEntry.select().count() == before


def test_what_cannot_be_sealed_is_not_kept() -> None:
    found = Opening(batches=[b"b" * 107], credentials=[bytes(8)], cards=1)
    assert resume.seal_opening(found, None) is None  # no HA key: nothing kept
    sealed = resume.seal_opening(found, HA.public_key())
    assert sealed is not None and open_case_opening(HA, sealed).credentials == [bytes(8)]
    huge = Opening(batches=[bytes([i]) * 107 for i in range(200)])
    assert resume.seal_opening(huge, HA.public_key()) is None  # over the fixed size


def test_retention_forgets_openings_with_old_cases_or_periods(world: World) -> None:
    now = time.time()
    day = 86_400_000
    now_ms = int(now * 1000)
    for n, (opened_days, start_days) in enumerate([(40, 45), (10, 30), (10, 12), (1, 2)]):
        service.create_case(
            bytes([n]) * 16,
            "kim",
            "r",
            now_ms - start_days * day,
            now_ms - start_days * day + day,
            now_ms - opened_days * day,
            sealed_opening=b"\xa0",
        )
    assert service.forget_case_openings(now, 28) == 2
    assert {bytes(r.case_id)[0] for r in CaseOpening.select()} == {2, 3}
    assert CaseEntry.select().count() == 4  # the cases stay, as their audit entries name them
    assert service.forget_case_openings(now, 28) == 0
    with pytest.raises(ValueError):
        service.forget_case_openings(now, 0)


def test_the_explorer_lists_a_resumed_case(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    database = open_database(url)
    try:
        builder = LedgerBuilder(tag="explorer-resume")
        builder.block(1)
        audit_id = audit_log.append_audit(
            action="case-resumed",
            actor="kim",
            role="official",
            case=bytes(range(16)),
            reason="case 21",
            counts={"batches": 2, "owners": 0},
        )
        builder.block(1)
        listed = create_app({"DATABASE_URL": url}).test_client().get("/ledger/audit?lang=en")
        html = listed.get_data(as_text=True)
        assert re.search(f'data-audit-id="{audit_id.hex()}".*?case-resumed', html, re.S)
    finally:
        database.close()


def test_a_resumed_code_case_is_opened_once(world: World) -> None:
    """Opened by the wallet's code, its batches fetched, then resumed and fetched again:
    one ``case-opened`` (the opening), one ``case-resumed``, and each hand-out of batch
    lists its own ``batch-lists`` leaf, so no answer goes without an entry."""
    client = world.app.test_client()
    auth = login_token(client)
    world.site.clock[0] = T0 + 3600
    first = opened(client, auth, OPEN, code=world.case.diagnostic(T0 + 3590).to_text())
    enrolment = b64(open_owner(HA, unb64(first["owners"][0])))
    path = f"/v1/cases/{first['case']}/batches"
    assert client.post(path, json={"enrolments": [enrolment]}, headers=auth).status_code == 200
    other_browser = world.app.test_client()
    again = login_token(other_browser)
    assert unsealed(resumed(other_browser, again, first["case"]))["owners"] == first["owners"]
    answer = other_browser.post(path, json={"enrolments": [enrolment]}, headers=again)
    assert answer.status_code == 200 and answer.get_json()["batches"]
    assert sequencer(now=T0 + 3600).seal() is not None  # the new kind signs and seals
    entries = audit_log.for_case(bytes.fromhex(first["case"]))
    actions = [e.action for e in entries]
    assert actions == ["case-opened", "batch-lists", "case-resumed", "batch-lists"]
    assert all(e.leaf_index is not None for e in entries)
    assert audit_log.entry_json(entries[-1])["counts"] == {"enrolments": 1, "batches": 1}
