"""Every English string of the staff pages has its Korean; the [web] page settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aggregator.pages import i18n, nav, views
from aggregator.pages.install import page_settings
from aggregator.web import create_app_from_config
from support.config_file import ConfigError
from tests.unit.ledger_builder import write_config

TEMPLATES = Path(views.__file__).parent / "templates"


def english_strings() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        found.update(re.findall(r"""_\(\s*["']([^"']+)["']\s*\)""", template.read_text()))
    found.update(link.label for links in nav.ROLE_LINKS.values() for link in links)
    found.update(i18n.ROLE_LABELS.values())
    found.update(text for pair in views.ERROR_TEXT.values() for text in pair)
    found.update({views.WRONG_LOGIN, views.THROTTLED_LOGIN})
    found.update(re.findall(r'message = "([^"]+)"', Path(views.__file__).read_text()))
    return found


def test_every_string_has_korean() -> None:
    strings = english_strings()
    assert len(strings) > 25  # the extraction found the templates' strings
    missing = sorted(s for s in strings if s not in i18n.KOREAN)
    assert not missing
    assert all(korean.strip() for korean in i18n.KOREAN.values())


def test_page_settings(tmp_path: Path) -> None:
    web = {"cookie_secure": False, "session_idle_s": 600}
    settings = page_settings(web, tmp_path, tmp_path / "keys" / "ledger" / "ledger.key")
    assert settings == {
        "SECRET_KEY_FILE": tmp_path / "keys" / "web" / "web-secret.key",
        "COOKIE_SECURE": False,
        "SESSION_IDLE_S": 600,
    }


@pytest.mark.parametrize(
    "web",
    [
        {"cookie_secure": "no"},
        {"session_idle_s": 5},
        {"session_absolute_s": True},
        {"secret_key_file": ""},
        {"secret_key_file": 3},
    ],
)
def test_bad_page_settings(tmp_path: Path, web: dict) -> None:
    with pytest.raises(ConfigError):
        page_settings(web, tmp_path, tmp_path / "ledger.key")


def test_config_makes_the_key_file_beside_it(tmp_path: Path) -> None:
    web = {"secret_key_file": "private/web.key", "session_idle_s": 900}
    config = write_config(tmp_path / "site", f"sqlite:///{tmp_path}/ledger.sqlite", web=web)
    app = create_app_from_config(config)
    key_file = tmp_path / "site" / "private" / "web.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert app.config["SECRET_KEY"] == bytes.fromhex(key_file.read_text())
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_IDLE_S"] == 900
    again = create_app_from_config(config)
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]  # workers share it


def test_default_key_file_sits_with_the_other_keys(tmp_path: Path) -> None:
    flat = page_settings({}, tmp_path / "etc", tmp_path / "etc" / "ledger.key")
    assert flat["SECRET_KEY_FILE"] == tmp_path / "etc" / "web-secret.key"
    state = tmp_path / "var" / "lib" / "safecode" / "keys"
    units = page_settings({}, tmp_path / "etc", state / "ledger" / "ledger.key")
    assert units["SECRET_KEY_FILE"] == state / "web" / "web-secret.key"


def test_idle_longer_than_absolute_is_refused(tmp_path: Path) -> None:
    web = {"session_idle_s": 7200, "session_absolute_s": 3600}
    config = write_config(tmp_path / "site", f"sqlite:///{tmp_path}/ledger.sqlite", web=web)
    with pytest.raises(ConfigError):
        create_app_from_config(config)
