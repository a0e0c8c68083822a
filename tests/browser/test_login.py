"""Staff login in headless Chromium: Korean by default, wrong password, lockout, CSRF, logout.

Keyboard only for the login itself (Tab between the labelled fields, Enter submits).
The login page's screenshot is kept as ``login.png`` in the test's tmp_path (and, with
``SAFECODE_SCREENSHOTS=DIR``, copied there to look at).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aggregator.accounts import users
from aggregator.accounts.login import LoginPolicy
from aggregator.db import database_proxy, open_database

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveAggregator

PASSWORD = "correct horse battery"
POLICY = LoginPolicy(max_failures=3, lock_s=900, address_failures=50)


@pytest.fixture
def aggregator_settings(tmp_path: Path) -> dict[str, Any]:
    """The app on loopback: cookies without Secure (plain HTTP), a small lockout."""
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite",
        "COOKIE_SECURE": False,
        "SECRET_KEY_FILE": tmp_path / "web-secret.key",
        "LOGIN_POLICY": POLICY,
    }


@pytest.fixture
def site(live_aggregator: LiveAggregator) -> Iterator[LiveAggregator]:
    """The live aggregator with an official and a venue owner."""
    database = open_database(live_aggregator.database_url)
    users.add_user("kim", "official", PASSWORD)
    users.add_user("park", "venue", PASSWORD, ["cafe-1"])
    database.close()
    if not database_proxy.is_closed():
        database_proxy.close()
    yield live_aggregator


def log_in(page: Page, url: str, name: str, password: str) -> None:
    """Type a login with the keyboard only."""
    page.goto(f"{url}/staff/login")
    page.focus("#name")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_login_wrong_password_lockout_csrf_logout(
    site: LiveAggregator, page: Page, tmp_path: Path
) -> None:
    url = site.url
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{url}/staff/login")
    assert page.get_attribute("html", "lang") == "ko"  # the context's locale is ko-KR
    assert page.inner_text("label[for=name]") == "이름"
    shot = tmp_path / "login.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SAFECODE_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["SAFECODE_SCREENSHOTS"]) / "login.png")

    log_in(page, url, "kim", "wrong password!!")  # a wrong password
    assert page.is_visible("#login-error")
    assert page.url.endswith("/staff/login")

    log_in(page, url, "kim", PASSWORD)  # the home page of the role
    assert page.url == f"{url}/staff"
    assert page.inner_text("#account-name") == "kim"
    assert page.inner_text("#account-role") == "역학조사관"
    assert "확진자 사례" in page.inner_text("#role-links")
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    if os.environ.get("SAFECODE_SCREENSHOTS"):
        shutil.copy(tmp_path / "home.png", Path(os.environ["SAFECODE_SCREENSHOTS"]) / "home.png")

    with page.expect_navigation():
        page.click("button[value=en]")  # the language switch
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#account-role") == "Health official"

    # A POST without the CSRF token, with the session cookie: refused, still logged in.
    forged = page.context.request.post(f"{url}/staff/logout", form={"logout-everywhere": "y"})
    assert forged.status == 400
    page.goto(f"{url}/staff")
    assert page.inner_text("#account-name") == "kim"

    with page.expect_navigation():
        page.click("#logout")  # logout
    assert "/staff/login" in page.url and "bye=1" in page.url
    page.goto(f"{url}/staff")
    assert "/staff/login" in page.url  # the session is gone

    for _ in range(POLICY.max_failures):  # lockout after repeated failures
        log_in(page, url, "park", "wrong password!!")
        assert page.is_visible("#login-error")
    log_in(page, url, "park", PASSWORD)
    assert page.is_visible("#login-error") and "/staff/login" in page.url
    log_in(page, url, "kim", PASSWORD)  # another account is not locked
    assert page.url == f"{url}/staff"

    assert requests and all(r.startswith(url + "/") for r in requests)  # nothing third-party
