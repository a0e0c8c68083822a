"""``safecode aggregator user ...``: passwords asked twice or read from a file, never argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.accounts.tables import StaffSession, StaffUser
from aggregator.cli import aggregator_group
from aggregator.db import database_proxy, open_database
from tests.unit.ledger_builder import write_config

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "site", f"sqlite:///{tmp_path}/ledger.sqlite")


def run(config: Path, *args: str, input: str | None = None) -> tuple[int, str]:  # noqa: A002
    result = CliRunner().invoke(
        aggregator_group, ["user", args[0], "--config", str(config), *args[1:]], input=input
    )
    if not database_proxy.is_closed():
        database_proxy.close()
    return result.exit_code, result.output


def test_add_asks_twice_and_lists(config: Path) -> None:
    code, out = run(config, "add", "kim", "--role", "official", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out
    code, out = run(config, "add", "lee", "--role", "desk", input=f"{PASSWORD}\nother password!!\n")
    assert code != 0  # the two did not match (click asks again, then input runs out)
    code, out = run(config, "list")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["name"], r["role"]) for r in rows] == [("kim", "official")]
    assert "argon2" not in out


def test_add_from_a_password_file_with_venues(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    args = ["add", "park", "--role", "venue", "--venue", "cafe-1", "--venue", "bar-2"]
    code, out = run(config, *args, "--password-file", str(secret))
    assert code == 0, out
    code, out = run(config, "venues", "park", "--venue", "shop-3")
    assert code == 0 and "shop-3" in out
    code, out = run(config, "list")
    assert json.loads(out)["venues"] == ["shop-3"]
    code, out = run(config, "add", "bad", "--role", "venue", "--password-file", str(secret))
    assert code != 0 and "--venue" in out


def test_short_password_is_refused(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text("too short\n")
    code, out = run(config, "add", "kim", "--role", "desk", "--password-file", str(secret))
    assert code != 0 and "12 characters" in out


def test_no_password_option_on_the_command_line(config: Path) -> None:
    code, out = run(config, "add", "kim", "--role", "desk", "--password", PASSWORD)
    assert code != 0 and "No such option" in out


def test_disable_passwd_and_logout_end_sessions(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    assert run(config, "add", "kim", "--role", "operator", "--password-file", str(secret))[0] == 0

    def sessions() -> int:
        database = open_database(f"sqlite:///{tmp_path}/ledger.sqlite")
        try:
            return StaffSession.select().count()
        finally:
            database.close()

    def make_session() -> None:
        database = open_database(f"sqlite:///{tmp_path}/ledger.sqlite")
        StaffSession.create(sid_hash=b"x" * 32, user=StaffUser.get().id, created_ms=1, seen_ms=1)
        database.close()

    make_session()
    code, out = run(config, "logout", "kim")
    assert code == 0 and "ended 1 session" in out and sessions() == 0
    make_session()
    assert run(config, "disable", "kim")[0] == 0 and sessions() == 0
    make_session()
    code, out = run(config, "passwd", "kim", input="a new password 1\na new password 1\n")
    assert code == 0 and sessions() == 0
    assert run(config, "disable", "kim", "--enable")[0] == 0
    assert run(config, "disable", "nobody")[0] != 0
