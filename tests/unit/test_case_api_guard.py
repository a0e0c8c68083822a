"""The case API refuses: no login, other roles, a cookie without its CSRF header, another
official's case, bad periods and bodies, unknown handles; the tool login's lockout.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import counters
from aggregator.accounts.login import LoginPolicy
from aggregator.accounts.sessions import start_session
from aggregator.accounts.tables import StaffUser
from aggregator.accounts.users import Account, account_of
from tests.unit.case_site import (
    CASE_PHONE,
    END_MS,
    PASSWORD,
    START_MS,
    Site,
    login_token,
    opened,
    page_login,
)
from tests.unit.trace_town import T0

OPEN = {"reason": "case 7", "start_ms": START_MS, "end_ms": END_MS, "phone": CASE_PHONE}
ZERO_CASE = "00" * 16


@pytest.fixture
def app(case_site: Site) -> Flask:
    phone = case_site.phone(CASE_PHONE)
    case_site.town.visit(phone.days[0], "cafe-in", T0)
    return case_site.app()


def account(name: str) -> Account:
    return account_of(StaffUser.get(StaffUser.name == name))


def bearer(name: str) -> dict[str, str]:
    """A bearer token of any account (the login API gives officials only)."""
    sid = start_session(account(name), int(time.time() * 1000))
    return {"Authorization": f"Bearer {sid}"}


def page_csrf(client: FlaskClient, name: str) -> str:
    """Log in through the staff page; the session's CSRF token for the header."""
    page_login(client, name)
    home = client.get("/staff").get_data(as_text=True)
    return re.search(r'csrf_token" type="hidden" value="([^"]+)"', home).group(1)


def new_case(client: FlaskClient, headers: dict[str, str]) -> str:
    return opened(client, headers, OPEN)["case"]


def endpoints(case: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route of the case API with a well-formed body."""
    return [
        ("POST", "/v1/cases", OPEN),
        ("POST", f"/v1/cases/{case}/opening", {}),
        ("POST", f"/v1/cases/{case}/batches", {"enrolments": ["A" * 22]}),
        ("POST", f"/v1/cases/{case}/exposures", {"credentials": ["00" * 8]}),
        ("POST", f"/v1/cases/{case}/contacts", {"enrolments": ["A" * 22]}),
        ("POST", f"/v1/cases/{case}/audit", {"action": "export", "counts": {"rows": 1}}),
        ("GET", f"/v1/cases/{case}", None),
    ]


def call(client: FlaskClient, method: str, path: str, body: Any, **kw: Any) -> Any:
    if method == "GET":
        return client.get(path, **kw)
    return client.post(path, json=body, **kw)


def refused(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.get_json()["error"] == reason


def refusal_counts() -> dict[str, int]:
    return counters.totals().get("api_refused", {})


def test_every_route_needs_a_login(app: Flask) -> None:
    client = app.test_client()
    case = new_case(client, login_token(client))
    other = app.test_client()
    for method, path, body in endpoints(case):
        refused(call(other, method, path, body), 401, "login_required")
        refused(
            call(other, method, path, body, headers={"Authorization": "Bearer x"}), 401, "bad_token"
        )
        refused(
            call(other, method, path, body, headers={"Authorization": "Basic a"}), 401, "bad_token"
        )
    assert refusal_counts()["login_required"] == len(endpoints(case))


@pytest.mark.parametrize("name", ["park", "lee", "choi"])
def test_every_other_role_is_refused_by_token_and_by_cookie(app: Flask, name: str) -> None:
    client = app.test_client()
    case = new_case(client, login_token(client))
    browser = app.test_client()
    csrf = page_csrf(browser, name)
    for method, path, body in endpoints(case):
        refused(call(client, method, path, body, headers=bearer(name)), 403, "role_refused")
        refused(
            call(browser, method, path, body, headers={"X-CSRFToken": csrf}), 403, "role_refused"
        )
    refused(
        client.post("/v1/staff/login", json={"user": name, "password": PASSWORD}),
        403,
        "role_refused",
    )


def test_a_cookie_needs_its_csrf_header(app: Flask) -> None:
    browser = app.test_client()
    csrf = page_csrf(browser, "kim")
    case = new_case(browser, {"X-CSRFToken": csrf})
    for method, path, body in endpoints(case):  # reads too: the header comes with every call
        refused(call(browser, method, path, body), 400, "csrf_refused")
        refused(
            call(browser, method, path, body, headers={"X-CSRFToken": "forged"}),
            400,
            "csrf_refused",
        )
    stranger = app.test_client()
    other_csrf = page_csrf(stranger, "han")  # a valid token, of another session
    refused(
        browser.post("/v1/cases", json=OPEN, headers={"X-CSRFToken": other_csrf}),
        400,
        "csrf_refused",
    )
    assert refusal_counts()["csrf_refused"] >= 2 * len(endpoints(case)) + 1
    assert browser.get(f"/v1/cases/{case}", headers={"X-CSRFToken": csrf}).status_code == 200


def test_another_officials_case_is_404_like_a_missing_one(app: Flask) -> None:
    client = app.test_client()
    case = new_case(client, login_token(client, "kim"))
    han = login_token(client, "han")
    for target in (case, ZERO_CASE, "XYZ", case.upper(), case + "00"):
        for method, path, body in endpoints(target)[1:]:
            answer = call(client, method, path, body, headers=han)
            refused(answer, 404, "no_such_case")
            assert answer.get_json()["message"] == "no such case"


@pytest.mark.parametrize(
    "start, end, reason",
    [
        (END_MS, START_MS, "bad_period"),
        (START_MS, START_MS, "bad_period"),
        (START_MS, START_MS + 29 * 86_400_000, "bad_period"),
        (0, 2**62, "bad_period"),
        (-1, END_MS, "bad_period"),
        (float(START_MS), END_MS, "bad_period"),
        (True, END_MS, "bad_period"),
        ("1", END_MS, "bad_period"),
    ],
)
def test_bad_periods_are_refused(app: Flask, start: Any, end: Any, reason: str) -> None:
    client = app.test_client()
    body = {**OPEN, "start_ms": start, "end_ms": end}
    refused(client.post("/v1/cases", json=body, headers=login_token(client)), 400, reason)


def test_an_unknown_phone_answers_the_same_shape(app: Flask) -> None:
    client = app.test_client()
    auth = login_token(client)
    known = client.post("/v1/cases", json=OPEN, headers=auth)
    unknown = client.post("/v1/cases", json={**OPEN, "phone": "+821099990000"}, headers=auth)
    assert known.status_code == unknown.status_code == 201
    assert set(known.get_json()) == set(unknown.get_json())
    assert known.get_json()["batches"]
    assert unknown.get_json()["batches"] == unknown.get_json()["owners"] == []
    assert unknown.get_json()["credentials"] == []


@pytest.mark.parametrize(
    "data, content_type, status, reason",
    [
        (b"{", "application/json", 400, "bad_json"),
        (b"[]", "application/json", 400, "bad_json"),
        (b"\xff\xfe", "application/json", 400, "bad_json"),
        (b"[" * 100 + b"]" * 100, "application/json", 400, "bad_json"),
        (json.dumps(OPEN).encode(), "text/plain", 415, "not_json"),
        (json.dumps(OPEN).encode(), "application/x-www-form-urlencoded", 415, "not_json"),
        (json.dumps({**OPEN, "x": 1}).encode(), "application/json", 400, "unknown_field"),
        (json.dumps({**OPEN, "code": "SC1:"}).encode(), "application/json", 400, "bad_case"),
        (json.dumps({"reason": "x"}).encode(), "application/json", 400, "missing_field"),
        (json.dumps({**OPEN, "reason": ""}).encode(), "application/json", 400, "bad_reason"),
        (
            json.dumps({**OPEN, "reason": "a\u202eb"}).encode(),
            "application/json",
            400,
            "bad_reason",
        ),
        (json.dumps({**OPEN, "reason": "r" * 501}).encode(), "application/json", 400, "bad_reason"),
        (
            json.dumps({**OPEN, "phone": "=1+2"}).encode(),
            "application/json",
            400,
            "bad_phone_number",
        ),
        (
            json.dumps({**OPEN, "phone": 821011112222}).encode(),
            "application/json",
            400,
            "bad_phone",
        ),
    ],
)
def test_malformed_bodies_are_refused(
    app: Flask, data: bytes, content_type: str, status: int, reason: str
) -> None:
    client = app.test_client()
    answer = client.post(
        "/v1/cases", data=data, content_type=content_type, headers=login_token(client)
    )
    refused(answer, status, reason)


def test_oversized_bodies_are_refused(app: Flask) -> None:
    client = app.test_client()
    auth = login_token(client)
    huge = json.dumps({**OPEN, "reason": "r" * 70_000}).encode()
    answer = client.post("/v1/cases", data=huge, content_type="application/json", headers=auth)
    assert answer.status_code == 413
    case = new_case(client, auth)
    handles = [f"{i:016x}" for i in range(501)]
    refused(
        client.post(f"/v1/cases/{case}/contacts", json={"handles": handles}, headers=auth),
        400,
        "bad_handles",
    )


def test_a_bad_diagnostic_code_is_refused(app: Flask) -> None:
    client = app.test_client()
    auth = login_token(client)
    for code in ("SC1:", "hello", "SC1:" + "A" * 600):
        body = {k: v for k, v in OPEN.items() if k != "phone"} | {"code": code}
        answer = client.post("/v1/cases", json=body, headers=auth)
        assert answer.status_code == 400, answer.get_json()


def test_contacts_only_for_handles_of_this_case(app: Flask) -> None:
    client = app.test_client()
    auth = login_token(client)
    case = new_case(client, auth)
    other = new_case(client, auth)
    listed = client.post(
        f"/v1/cases/{case}/exposures", json={"credentials": ["00" * 8]}, headers=auth
    )
    assert listed.status_code == 200
    for handles in (["00" * 8], ["zz"], ["00" * 8, "11" * 8]):
        for target in (case, other):
            refused(
                client.post(
                    f"/v1/cases/{target}/contacts", json={"handles": handles}, headers=auth
                ),
                404,
                "unknown_handle",
            )
    refused(client.post(f"/v1/cases/{case}/contacts", json={}, headers=auth), 400, "bad_contacts")
    body = {"handles": ["a"], "enrolments": ["A" * 22]}
    refused(client.post(f"/v1/cases/{case}/contacts", json=body, headers=auth), 400, "bad_contacts")


def test_audit_route_takes_only_the_clients_actions(app: Flask) -> None:
    client = app.test_client()
    auth = login_token(client)
    case = new_case(client, auth)
    for body in (
        {"action": "case-opened"},
        {"action": "notice"},
        {"action": "export", "counts": {"Rows": 1}},
        {"action": "export", "counts": {"rows": -1}},
        {"action": "export", "counts": {"rows": True}},
        {"action": "export", "counts": {f"c{i}": 1 for i in range(9)}},
    ):
        answer = client.post(f"/v1/cases/{case}/audit", json=body, headers=auth)
        assert answer.status_code == 400, (body, answer.get_json())


def test_the_tool_login_locks_out_and_logs_out(app: Flask) -> None:
    client = app.test_client()
    wrong = client.post("/v1/staff/login", json={"user": "kim", "password": "wrong password!"})
    unknown = client.post("/v1/staff/login", json={"user": "nobody", "password": "wrong password!"})
    assert wrong.get_json() == unknown.get_json()
    refused(wrong, 401, "login_failed")
    for _ in range(2):
        client.post("/v1/staff/login", json={"user": "kim", "password": "wrong password!"})
    locked = client.post("/v1/staff/login", json={"user": "kim", "password": PASSWORD})
    assert locked.get_json() == wrong.get_json()  # locked looks like wrong
    auth = login_token(client, "han")
    assert client.get(f"/v1/cases/{ZERO_CASE}", headers=auth).status_code == 404
    assert client.post("/v1/staff/logout", headers=auth).status_code == 204
    refused(client.get(f"/v1/cases/{ZERO_CASE}", headers=auth), 401, "bad_token")
    refused(client.post("/v1/staff/login", data="x", content_type="text/plain"), 415, "not_json")
    refused(client.post("/v1/staff/login", json={"user": "kim"}), 400, "missing_field")
    counts = refusal_counts()
    assert counts["login_failed"] >= 4 and counts["login_locked"] >= 1


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "reason",
    "start_ms",
    "end_ms",
    "phone",
    "code",
    "enrolments",
    "credentials",
    "handles",
    "action",
    "counts",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(["", "/opening", "/batches", "/exposures", "/contacts", "/audit"]),
    body=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSONISH, max_size=5),
)
def test_fuzzed_bodies_never_break_the_parsers(
    app: Flask, route: str, body: dict[str, Any]
) -> None:
    client = app.test_client()
    auth = fuzz_auth(app)
    path = "/v1/cases" if not route else f"/v1/cases/{fuzz_case(app)}{route}"
    answer = client.post(path, json=body, headers=auth)
    assert answer.status_code in (200, 201, 400, 404, 413), answer.data[:300]
    assert answer.is_json


def fuzz_auth(app: Flask) -> dict[str, str]:
    if "fuzz_auth" not in app.config:
        app.config["fuzz_auth"] = bearer("kim")
    return app.config["fuzz_auth"]


def fuzz_case(app: Flask) -> str:
    if "fuzz_case" not in app.config:
        app.config["fuzz_case"] = new_case(app.test_client(), fuzz_auth(app))
    return app.config["fuzz_case"]


def test_the_tool_login_throttles_an_address(app: Flask) -> None:
    app.config["LOGIN_POLICY"] = LoginPolicy(max_failures=100, address_failures=3)
    client = app.test_client()
    for _ in range(3):
        refused(
            client.post("/v1/staff/login", json={"user": "x", "password": "y" * 12}),
            401,
            "login_failed",
        )
    refused(
        client.post("/v1/staff/login", json={"user": "kim", "password": PASSWORD}),
        429,
        "login_throttled",
    )
