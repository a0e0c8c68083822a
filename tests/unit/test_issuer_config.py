"""The [issuer] table in the aggregator config and the web app it configures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.config import load_config
from aggregator.issuer.settings import check_issuer_table, parse_issuer_table
from aggregator.web import create_app, create_app_from_config
from protocol import keys
from protocol.authority_key import format_public_key
from support.config_file import ConfigError

HA = X25519PrivateKey.from_private_bytes(bytes(range(32)))


def write_site(folder: Path, issuer: str | None) -> Path:
    keys.save_private(keys.generate(), folder / "ledger.key")
    keys.save_private(keys.generate(), folder / "issuer.key")
    (folder / "ha.pub").write_text(format_public_key(HA) + "\n", encoding="ascii")
    pepper = folder / "pepper"
    pepper.write_bytes(os.urandom(32))
    pepper.chmod(0o600)
    text = """\
[aggregator]
origin = "ledger.example/issuer"
database_url = "sqlite:///ledger.sqlite"
ledger_key = "ledger.key"
issuer_key = "issuer.key"
window_s = 20
skew_s = 3
"""
    if issuer is not None:
        text += "\n[issuer]\n" + issuer
    path = folder / "aggregator.toml"
    path.write_text(text, encoding="utf-8")
    return path


ISSUER_TABLE = 'authority_public_key = "ha.pub"\npepper_file = "pepper"\n'


def test_config_without_issuer(tmp_path: Path) -> None:
    config = load_config(write_site(tmp_path, None))
    assert config.issuer is None
    app = create_app_from_config(tmp_path / "aggregator.toml")
    assert app.test_client().get("/v1/wallet/info").status_code == 503


def test_config_with_issuer_makes_the_app_issue(tmp_path: Path) -> None:
    path = write_site(tmp_path, ISSUER_TABLE + 'time_zone = "Europe/Berlin"\ndays_ahead = 5\n')
    config = load_config(path)
    assert config.issuer is not None
    assert Path(config.issuer["pepper_file"]) == (tmp_path / "pepper").absolute()
    assert create_app_from_config(path).test_client().get("/v1/wallet/info").status_code == 503
    app = create_app_from_config(path, issuer=True)  # only the issuer process issues
    info = app.test_client().get("/v1/wallet/info").get_json()
    assert info == {
        "authority_key": format_public_key(HA),
        "tz": "Europe/Berlin",
        "days_ahead": 5,
        "skew_s": 3,
        "window_s": 20,
    }


def test_loading_the_config_reads_no_issuer_file(tmp_path: Path) -> None:
    """Ingest and the sequencer load the same config: they never open the pepper."""
    path = write_site(tmp_path, ISSUER_TABLE)
    (tmp_path / "pepper").chmod(0o000)
    (tmp_path / "ha.pub").unlink()
    assert load_config(path).issuer is not None
    create_app_from_config(path)  # the read API opens no issuer file
    with pytest.raises(ConfigError):
        create_app_from_config(path, issuer=True)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"pepper_file": "p"}, "authority_public_key"),
        ({"authority_public_key": "a"}, "pepper_file"),
        ({"authority_public_key": "", "pepper_file": "p"}, "file path"),
        ({"authority_public_key": "a", "pepper_file": "p", "other": 1}, "unknown"),
        ({"authority_public_key": "a", "pepper_file": "p", "time_zone": "Mars/Base"}, "zone"),
        ({"authority_public_key": "a", "pepper_file": "p", "days_ahead": 15}, "days_ahead"),
        ({"authority_public_key": "a", "pepper_file": "p", "requests_per_minute": 0}, "requests"),
        ({"authority_public_key": "a", "pepper_file": "p", "enrolments_per_phone": True}, "phone"),
        ("table", "table"),
    ],
)
def test_bad_issuer_tables(table: Any, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=words):
        check_issuer_table(table, base=tmp_path)


def test_limits_are_read(tmp_path: Path) -> None:
    write_site(tmp_path, None)
    table = {
        "authority_public_key": "ha.pub",
        "pepper_file": "pepper",
        "requests_per_minute": 7,
        "enrolments_per_minute": 9,
        "enrolments_per_phone": 2,
    }
    settings = parse_issuer_table(check_issuer_table(table, base=tmp_path), base=Path("/"))
    assert (settings.requests_per_minute, settings.enrolments_per_minute) == (7, 9)
    assert settings.enrolments_per_phone == 2


def test_test_config_keys_are_checked(tmp_path: Path) -> None:
    write_site(tmp_path, None)
    settings = parse_issuer_table(
        {"authority_public_key": "ha.pub", "pepper_file": "pepper"}, base=tmp_path
    )
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    with pytest.raises(ConfigError, match="ISSUER_KEY"):
        create_app({"DATABASE_URL": url, "ISSUER": settings})
    with pytest.raises(ConfigError, match="ISSUER must"):
        create_app({"DATABASE_URL": url, "ISSUER": "yes", "ISSUER_KEY": keys.generate()})
