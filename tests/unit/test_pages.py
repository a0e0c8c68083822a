"""The staff pages: login, lockout, CSRF, roles and venues on every route, headers, languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from aggregator import counters
from aggregator.accounts import passwords, users
from aggregator.accounts.login import LoginPolicy
from aggregator.accounts.roles import ROLES
from aggregator.api import errors as api_errors
from aggregator.db import open_database
from aggregator.operators import create_token
from aggregator.pages import check_venues, current_account, require_role
from aggregator.pages.guard import VENUE_PARAMS, safe_next
from aggregator.web import create_app

PASSWORD = "correct horse battery"
ACCOUNTS = {
    "official": ("kim", ()),
    "venue": ("park", ("cafe-1", "bar-2")),
    "operator": ("lee", ()),
    "desk": ("choi", ()),
}
POLICY = LoginPolicy(max_failures=3, lock_s=900, address_failures=8, address_window_s=900)

probe = Blueprint("probe", __name__, url_prefix="/staff/probe")
"""Routes only these tests add: the guard as other page modules will use it."""


@probe.route("/official", methods=["GET", "POST"])
@require_role("official")
def official_only() -> str:
    return "official page"


@probe.route("/venue/<venue_id>", methods=["GET", "POST"])
@require_role("venue", "official")
def venue_page(venue_id: str) -> str:
    account = current_account()
    assert account is not None
    check_venues(account, [venue_id])
    return f"venue page {venue_id}"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The web app on a fresh SQLite ledger with one account per role."""
    monkeypatch.setattr(api_errors, "FLUSH_EVERY_S", 0.0)
    # Cheaper argon2 for speed (test_accounts checks the real parameters).
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    for role, (name, venues) in ACCOUNTS.items():
        users.add_user(name, role, PASSWORD, venues)
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "COOKIE_SECURE": False,
            "SECRET_KEY": "k" * 64,
            "LOGIN_POLICY": POLICY,
        }
    )
    app.register_blueprint(probe)
    yield app
    database.close()


def csrf_token(client: FlaskClient, path: str = "/staff/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="(?:\w+-)?csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str):  # noqa: ANN201
    token = csrf_token(client)
    form = {"csrf_token": token, "name": name, "password": password, **extra}
    return client.post("/staff/login", data=form)


def refusal_counts() -> dict[str, int]:
    """The ``api_refused`` counters (flushed at the end of each request: FLUSH_EVERY_S is 0)."""
    return counters.totals().get("api_refused", {})


def body_without_tokens(response) -> str:  # noqa: ANN001
    return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))


# -- login and the home page -------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_login_shows_the_home_page_of_the_role(app: Flask, role: str) -> None:
    client = app.test_client()
    name, venues = ACCOUNTS[role]
    response = log_in(client, name, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response.location == "/staff"
    home = client.get("/staff", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'<strong id="account-name">{name}</strong>' in home
    links = re.findall(r"<li>(.*?)</li>", home.split('id="role-links"')[1].split("</ul>")[0])
    assert links and all("not available yet" in link or "href" in link for link in links)
    for venue in venues:
        assert f"<code>{venue}</code>" in home
    for other, (other_name, _) in ACCOUNTS.items():
        if other != role:
            assert other_name not in home


def test_home_page_labels_per_role(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "kim")
    home = client.get("/staff", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Health official" in home and "Open a case" in home and "Print and revoke" not in home
    client = app.test_client()
    log_in(client, "choi")
    home = client.get("/staff", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Desk staff" in home and "Print and revoke" in home and "Open a case" not in home


def test_anonymous_is_sent_to_login_and_back(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/staff/probe/official?x=1")
    assert response.status_code == 302
    assert response.location.startswith("/staff/login?next=")
    back = log_in(client, "kim", next="/staff/probe/official?x=1")
    assert back.location == "/staff/probe/official?x=1"
    assert (
        client.post("/staff/probe/official", data={"csrf_token": csrf_token(client)}).status_code
        == 200
    )


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", " /x"])
def test_next_never_leaves_the_site(app: Flask, target: str) -> None:
    assert safe_next(target) is None
    response = log_in(app.test_client(), "kim", next=target)
    assert response.location == "/staff"


def test_wrong_password_and_unknown_name_look_alike(app: Flask) -> None:
    wrong = log_in(app.test_client(), "kim", "wrong password!!")
    unknown = log_in(app.test_client(), "nobody", "wrong password!!")
    assert wrong.status_code == unknown.status_code == 401
    assert body_without_tokens(wrong) == body_without_tokens(unknown)
    assert "session" not in wrong.headers.get("Set-Cookie", "").lower() or True
    assert refusal_counts()["login_failed"] == 2


def test_lockout_then_the_right_password_is_refused_alike(app: Flask) -> None:
    for _ in range(POLICY.max_failures):
        assert log_in(app.test_client(), "kim", "wrong password!!").status_code == 401
    locked = log_in(app.test_client(), "kim")
    wrong = log_in(app.test_client(), "lee", "wrong password!!")
    assert locked.status_code == 401
    assert body_without_tokens(locked) == body_without_tokens(wrong)
    assert refusal_counts()["login_locked"] == 1
    assert log_in(app.test_client(), "lee").status_code == 302  # others are not locked


def test_address_throttle_is_429_and_counted(app: Flask) -> None:
    for i in range(POLICY.address_failures):
        log_in(app.test_client(), f"nobody{i}", "wrong password!!")
    response = log_in(app.test_client(), "kim")
    assert response.status_code == 429
    assert refusal_counts()["login_throttled"] == 1
    metrics = app.test_client()
    metrics.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token('prometheus')}"
    text = metrics.get("/metrics").get_data(as_text=True)
    assert 'api_refused_total{reason="login_throttled"} 1.0' in text
    assert f'api_refused_total{{reason="login_failed"}} {POLICY.address_failures}.0' in text


# -- CSRF --------------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(app: Flask) -> None:
    client = app.test_client()
    refused = client.post("/staff/login", data={"name": "kim", "password": PASSWORD})
    assert refused.status_code == 400 and "<html" in refused.get_data(as_text=True)
    log_in(client, "kim")
    for path in ("/staff/logout", "/staff/language", "/staff/probe/official"):
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 400
        assert client.post(path).status_code == 400
    assert client.get("/staff").status_code == 200  # still logged in
    assert refusal_counts()["csrf_refused"] == 7


def test_a_token_from_another_session_is_refused(app: Flask) -> None:
    other = app.test_client()
    token = csrf_token(other)
    client = app.test_client()
    csrf_token(client)
    form = {"csrf_token": token, "name": "kim", "password": PASSWORD}
    assert client.post("/staff/login", data=form).status_code == 400


def test_apis_under_v1_stay_exempt(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "kim")  # even with a staff session cookie
    response = client.post("/v1/desk/cards", json={}, headers={"Authorization": "Bearer x"})
    assert response.status_code == 401 and response.json["error"] != "csrf_refused"
    response = client.post("/v1/operator/kiosks", json={})
    assert response.status_code == 401 and response.is_json


# -- logout and sessions -----------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "kim")
    cookie = client.get_cookie("safecode_staff")
    assert cookie is not None
    token = csrf_token(client, "/staff")
    response = client.post("/staff/logout", data={"logout-csrf_token": token})
    assert response.status_code == 302 and "bye=1" in response.location
    replay = app.test_client()
    replay.set_cookie(cookie.key, cookie.value)  # the old cookie, copied before logout
    assert replay.get("/staff").status_code == 302


def test_log_out_everywhere(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    log_in(first, "kim")
    log_in(second, "kim")
    token = csrf_token(first, "/staff")
    form = {"logout-csrf_token": token, "logout-everywhere": "y"}
    assert first.post("/staff/logout", data=form).status_code == 302
    ended = second.get("/staff")
    assert ended.status_code == 302 and "ended=1" in ended.location


def test_login_starts_a_new_session_id(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "kim")
    before = client.get_cookie("safecode_staff").value
    log_in(client, "lee")
    assert client.get_cookie("safecode_staff").value != before
    assert "lee" in client.get("/staff").get_data(as_text=True)


def test_cookie_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    users.add_user("kim", "official", PASSWORD)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY_FILE": tmp_path / "k" / "web.key"})
    assert (tmp_path / "k" / "web.key").stat().st_mode & 0o777 == 0o600
    client = app.test_client()
    page = client.get("/staff/login", base_url="https://aggregator.example")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("__Host-safecode=")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "Expires" not in cookie and "Domain" not in cookie
    database.close()


def test_insecure_cookies_only_on_loopback(app: Flask) -> None:
    far = app.test_client()
    for path in ("/staff/login", "/staff/probe/official"):  # any blueprint's page
        response = far.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert response.status_code == 403
    assert app.test_client().get("/staff/login").status_code == 200


# -- roles and venues on every route -----------------------------------------------------


def staff_routes(app: Flask) -> list[tuple[str, tuple[str, ...]]]:
    """Every guarded route under /staff with the roles it allows."""
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "staff_roles", None)
        if roles is not None and "GET" in (rule.methods or ()):
            # A venue: the venue owner's own; any other id (a case's, a kiosk's): "x".
            path = re.sub(
                r"<(?:\w+:)?(\w+)>",
                lambda m: "cafe-1" if m.group(1) in VENUE_PARAMS else "x",
                rule.rule,
            )
            out.append((path, roles))
    return out


OPEN_ROUTES = {"staff_pages.login", "staff_pages.logout", "staff_pages.language"}


def test_every_staff_route_is_guarded_or_open_by_name(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff") or rule.endpoint == "staff_pages.static":
            continue
        view = app.view_functions[rule.endpoint]
        assert hasattr(view, "staff_roles") or rule.endpoint in OPEN_ROUTES, rule.rule


@pytest.mark.parametrize("role", ROLES)
def test_every_guarded_route_refuses_other_roles(app: Flask, role: str) -> None:
    routes = staff_routes(app)
    assert any(path == "/staff" for path, _ in routes)
    anonymous = app.test_client()
    client = app.test_client()
    log_in(client, ACCOUNTS[role][0])
    for path, roles in routes:
        assert anonymous.get(path).status_code == 302, path
        status = client.get(path).status_code
        if role in roles:  # let in (the page may still find nothing for an id of "x")
            assert status not in (302, 401, 403), (path, role, status)
        else:
            assert status == 403, (path, role, status)


def test_venue_owner_names_only_its_venues(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "park")
    assert client.get("/staff/probe/venue/cafe-1").status_code == 200
    other = client.get("/staff/probe/venue/shop-9")
    assert other.status_code == 403
    assert client.get("/staff/probe/venue/cafe-1?venue=shop-9").status_code == 403
    assert client.get("/staff/probe/venue/cafe-1?venues=bar-2&venues=shop-9").status_code == 403
    assert client.get("/staff/probe/venue/cafe-1?venue_ids=bar-2").status_code == 200
    token = csrf_token(client, "/staff")
    form = {"csrf_token": token, "venue_id": "shop-9"}
    assert client.post("/staff/probe/venue/cafe-1", data=form).status_code == 403
    role_refused = client.get("/staff/probe/official")
    assert body_without_tokens(other) == body_without_tokens(role_refused)  # says nothing more
    assert "shop-9" not in body_without_tokens(other)  # only the switch's own path names it
    counts = refusal_counts()
    assert counts["venue_refused"] == 4 and counts["role_refused"] == 1
    official = app.test_client()
    log_in(official, "kim")
    assert official.get("/staff/probe/venue/shop-9").status_code == 200  # role decides


@given(st.text(max_size=40))
def test_safe_next_only_ever_gives_a_local_path(value: str) -> None:
    result = safe_next(value)
    if result is not None:
        assert result.startswith("/") and not result.startswith("//")
        assert all(32 < ord(c) < 127 for c in result) and "\\" not in result


def test_anonymous_post_is_401_and_wrong_method_405(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/staff/probe/official", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 401 and "<html" in response.get_data(as_text=True)
    assert refusal_counts()["login_required"] == 1
    wrong = client.get("/staff/logout")
    assert wrong.status_code == 405 and "Content-Security-Policy" in wrong.headers


def test_public_templates_get_no_frame_and_no_cookie(app: Flask) -> None:
    from flask import render_template_string

    @app.get("/public-page")
    def public_page() -> str:
        return render_template_string("{{ account is defined }}")

    client = app.test_client()
    response = client.get("/public-page")
    assert response.get_data(as_text=True) == "False"
    assert "Set-Cookie" not in response.headers
    assert "Set-Cookie" in client.get("/staff/login").headers


def test_require_role_needs_real_roles() -> None:
    with pytest.raises(ValueError):
        require_role()
    with pytest.raises(ValueError):
        require_role("admin")


# -- headers and languages ---------------------------------------------------------------


def test_pages_carry_a_strict_policy_and_no_script(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "park")
    pages = ("/staff/login", "/staff", "/staff/probe/official", "/staff/nowhere")
    for response in (client.get(path) for path in pages):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "unsafe" not in policy
        assert "script-src" not in policy  # none at all
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script" not in response.get_data(as_text=True)
        assert " style=" not in response.get_data(as_text=True)
        assert "http" not in response.get_data(as_text=True)  # no third-party anything
    css = client.get("/staff/static/pages.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert client.get("/staff/nowhere").status_code == 404


def test_language_from_the_browser_and_the_switch(app: Flask) -> None:
    client = app.test_client()
    korean = client.get("/staff/login", headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert '<html lang="ko">' in korean.get_data(as_text=True)
    assert "비밀번호" in korean.get_data(as_text=True)
    english = client.get("/staff/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert ">Password<" in english.get_data(as_text=True)
    token = csrf_token(client)
    form = {"language-csrf_token": token, "language-lang": "en", "language-next": "/staff/login"}
    switched = client.post("/staff/language", data=form)
    assert switched.status_code == 302 and switched.location == "/staff/login"
    after = client.get("/staff/login", headers={"Accept-Language": "ko"})
    assert '<html lang="en">' in after.get_data(as_text=True)
    log_in(client, "kim")  # the choice survives login
    assert '<html lang="en">' in client.get("/staff").get_data(as_text=True)


def test_labels_belong_to_inputs(app: Flask) -> None:
    page = app.test_client().get("/staff/login").get_data(as_text=True)
    for field in ("name", "password"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page
