"""The official's case pages (/staff/cases): who may open them, their CSP, their text.

The pages run the casework script; what the script does in a browser is tested in
tests/browser/test_case_page.py. Here: role and ownership checks, the relaxed CSP on
these two pages only, the script route, and Korean for every string.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from aggregator.case_pages.strings import SCRIPT_STRINGS
from aggregator.case_pages.views import SCRIPT_POLICY
from aggregator.cases import service
from aggregator.pages import i18n
from aggregator.pages.views import CONTENT_SECURITY_POLICY
from tests.unit.case_site import Site, page_login

TEMPLATES = Path(__file__).resolve().parents[2] / "aggregator" / "case_pages" / "templates"


@pytest.fixture
def app(case_site: Site) -> Flask:
    return case_site.app()


def test_only_officials_open_the_case_pages(app: Flask) -> None:
    case = service.create_case(bytes(range(16)), "kim", "a reason", 0, 86_400_000)
    path = f"/staff/cases/{bytes(case.case_id).hex()}"
    anonymous = app.test_client()
    assert anonymous.get("/staff/cases").status_code == 302  # to the login page
    for name in ("park", "lee", "choi"):
        client = app.test_client()
        page_login(client, name)
        assert client.get("/staff/cases").status_code == 403
        assert client.get(path).status_code == 403
    kim, han = app.test_client(), app.test_client()
    page_login(kim, "kim")
    page_login(han, "han")
    listing = kim.get("/staff/cases")
    assert listing.status_code == 200
    assert path in listing.get_data(as_text=True)
    assert path not in han.get("/staff/cases").get_data(as_text=True)
    assert kim.get(path).status_code == 200
    assert han.get(path).status_code == 404  # another official's case: as if none
    assert kim.get("/staff/cases/" + "0" * 32).status_code == 404
    assert kim.get("/staff/cases/not-hex").status_code == 404


def test_only_the_case_pages_may_run_their_script(app: Flask) -> None:
    client = app.test_client()
    page_login(client, "kim")
    page = client.get("/staff/cases")
    assert page.headers["Content-Security-Policy"] == SCRIPT_POLICY
    assert "script-src 'self'" in SCRIPT_POLICY and "unsafe" not in SCRIPT_POLICY
    html = page.get_data(as_text=True)
    assert '<meta name="csrf-token" content="' in html
    assert '<script type="module" src="/staff/cases/casework.js">' in html
    assert client.get("/staff").headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_every_control_has_a_label(app: Flask) -> None:
    case = service.create_case(bytes(range(16)), "kim", "a reason", 0, 86_400_000)
    client = app.test_client()
    page_login(client, "kim")
    for path in ("/staff/cases", f"/staff/cases/{bytes(case.case_id).hex()}"):
        html = client.get(path).get_data(as_text=True)
        visible = r'<(?:input|textarea)(?![^>]*type="(?:hidden|radio)")[^>]*\bid="([^"]+)"'
        controls = re.findall(visible, html)
        assert len(controls) >= 4
        for control in controls:
            assert f'for="{control}"' in html, (path, control)


def test_the_script_is_served_or_503(app: Flask, tmp_path: Path) -> None:
    app.config["CASEWORK_DIST"] = str(tmp_path)
    client = app.test_client()
    page_login(client, "kim")
    assert client.get("/staff/cases/casework.js").status_code == 503
    (tmp_path / "casework.js").write_text("export {}\n")
    answer = client.get("/staff/cases/casework.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"


def test_every_string_has_korean() -> None:
    found: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        found |= set(re.findall(r'_\("([^"]+)"\)', template.read_text(encoding="utf-8")))
        found |= set(re.findall(r"_\('([^']+)'\)", template.read_text(encoding="utf-8")))
    assert len(found) > 30
    assert sorted(s for s in found if s not in i18n.KOREAN) == []
    assert all(en and ko and en != ko for en, ko in SCRIPT_STRINGS.values())
