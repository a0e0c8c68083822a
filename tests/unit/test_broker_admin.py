"""The [broker_admin] table, the dynsec ACLs and document, and ``aggregator broker-init``."""

from __future__ import annotations

import base64
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from aggregator.broker_accounts import NoBrokerAccounts
from aggregator.broker_acls import (
    ADMIN_USER,
    AGGREGATOR_USER,
    aggregator_acls,
    dynsec_document,
    hashed_password,
    kiosk_acls,
    kiosk_role,
)
from aggregator.broker_admin import BrokerAdmin, broker_accounts, parse_broker_admin
from aggregator.broker_cli import broker_init_command
from aggregator.broker_init import find_dynsec_plugin
from aggregator.config import load_config
from aggregator.dynsec import DynsecAccounts
from protocol import topics
from protocol.errors import MalformedError
from protocol.ids import KIOSK_ID_PATTERN
from support.config_file import ConfigError
from transport.settings import MqttSettings

MQTT = MqttSettings(host="broker.example", port=8883, tls=True, ca_file="/etc/ca.pem")


def _secret(folder: Path, text: str = "s3cret\n", mode: int = 0o600) -> Path:
    path = folder / "admin.password"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_absent_table_means_no_accounts() -> None:
    assert parse_broker_admin(None, MQTT, base=Path(".")) is None
    assert isinstance(broker_accounts(None, MQTT), NoBrokerAccounts)


def test_password_file_and_connection_from_mqtt(tmp_path: Path) -> None:
    _secret(tmp_path)
    table = {"username": ADMIN_USER, "password_file": "admin.password", "timeout_s": 2}
    admin = parse_broker_admin(table, MQTT, base=tmp_path)
    assert admin == BrokerAdmin(
        settings=MqttSettings(
            host="broker.example",
            port=8883,
            tls=True,
            ca_file="/etc/ca.pem",
            username=ADMIN_USER,
            password="s3cret",
        ),
        timeout_s=2.0,
    )


def test_overrides_and_plain_admin_listener() -> None:
    table = {"username": "admin", "password": "pw", "host": "10.0.0.2", "port": 1884, "tls": False}
    admin = parse_broker_admin(table, MQTT, base=Path("."))
    assert admin is not None
    assert (admin.settings.host, admin.settings.port, admin.settings.tls) == (
        "10.0.0.2",
        1884,
        False,
    )
    assert admin.settings.ca_file is None


def test_pin_client_id_reaches_the_accounts() -> None:
    table = {"username": "admin", "password": "pw", "pin_client_id": True}
    admin = parse_broker_admin(table, MQTT, base=Path("."))
    assert admin is not None and admin.pin_client_id is True
    accounts = admin.accounts()
    assert isinstance(accounts, DynsecAccounts) and accounts.pin_client_id is True


def test_accounts_reserve_the_aggregator_and_admin() -> None:
    admin = parse_broker_admin({"username": "admin", "password": "pw"}, MQTT, base=Path("."))
    accounts = broker_accounts(admin, MqttSettings(username="aggregator", password="x"))
    assert isinstance(accounts, DynsecAccounts)
    assert {"admin", "aggregator", ADMIN_USER, AGGREGATOR_USER} <= accounts.reserved


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("admin", "must be a table"),
        ({"username": "a", "password": "p", "colour": 1}, "unknown key 'colour'"),
        ({"password": "p"}, "username must be"),
        ({"username": "", "password": "p"}, "username must be"),
        ({"username": 3, "password": "p"}, "username must be"),
        ({"username": "a"}, "exactly one of password and password_file"),
        ({"username": "a", "password": "p", "password_file": "f"}, "exactly one"),
        ({"username": "a", "password": ""}, "password must be a non-empty string"),
        ({"username": "a", "password": 5}, "password must be a non-empty string"),
        ({"username": "a", "password_file": "missing"}, "no such file"),
        ({"username": "a", "password": "p", "timeout_s": 0}, "timeout_s must be more than 0"),
        ({"username": "a", "password": "p", "timeout_s": 121}, "at most 120"),
        ({"username": "a", "password": "p", "timeout_s": float("nan")}, "timeout_s"),
        ({"username": "a", "password": "p", "timeout_s": True}, "number of seconds"),
        ({"username": "a", "password": "p", "timeout_s": "5"}, "number of seconds"),
        ({"username": "a", "password": "p", "port": 0}, r"\[broker_admin\]: mqtt.port"),
        ({"username": "a", "password": "p", "host": ""}, r"\[broker_admin\]: mqtt.host"),
        ({"username": "a", "password": "p", "tls": "yes"}, r"\[broker_admin\]: mqtt.tls"),
        ({"username": "a", "password": "p", "tls_insecure": True}, "unknown key"),
        ({"username": "a", "password": "p", "pin_client_id": 1}, "pin_client_id must be true"),
    ],
)
def test_bad_tables_are_refused_naming_the_field(tmp_path: Path, table: object, message: str):
    with pytest.raises(ConfigError, match=message):
        parse_broker_admin(table, MQTT, base=tmp_path)


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("s3cret", 0o644, "open to other users; chmod 600"),
        ("s3cret", 0o602, "open to other users"),
        ("\n  \n", 0o600, "is empty"),
        ("x" * 5000, 0o600, "too large"),
    ],
)
def test_bad_password_files(tmp_path: Path, text: str, mode: int, message: str) -> None:
    _secret(tmp_path, text, mode)
    table = {"username": "a", "password_file": "admin.password"}
    with pytest.raises(ConfigError, match=message):
        parse_broker_admin(table, MQTT, base=tmp_path)


def test_password_file_not_utf8_or_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "admin.password"
    path.write_bytes(b"\xff\xfe")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_broker_admin({"username": "a", "password_file": str(path)}, MQTT, base=tmp_path)
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="cannot read it"):
        parse_broker_admin({"username": "a", "password_file": "dir"}, MQTT, base=tmp_path)


def _aggregator_toml(folder: Path, extra: str) -> Path:
    path = folder / "aggregator.toml"
    path.write_text(
        '[aggregator]\norigin = "ledger.example/safecode"\n'
        'database_url = "sqlite:///ledger.sqlite"\nledger_key = "l.key"\nissuer_key = "i.key"\n'
        + extra
    )
    return path


def test_config_file_and_web_app_registration(tmp_path: Path) -> None:
    from aggregator.web import create_app_from_config

    plain = _aggregator_toml(tmp_path, "")
    assert load_config(plain).broker_admin is None
    app = create_app_from_config(plain)
    assert isinstance(app.extensions["safecode.broker_accounts"], NoBrokerAccounts)

    _secret(tmp_path)
    managed = _aggregator_toml(
        tmp_path,
        '[mqtt]\nusername = "agg"\npassword = "p"\n'
        '[broker_admin]\nusername = "safecode_admin"\npassword_file = "admin.password"\n',
    )
    config = load_config(managed)
    assert config.broker_admin is not None and config.broker_admin.settings.password == "s3cret"
    accounts = create_app_from_config(managed).extensions["safecode.broker_accounts"]
    assert isinstance(accounts, DynsecAccounts) and "agg" in accounts.reserved


def test_broker_admin_inside_the_aggregator_table_is_refused(tmp_path: Path) -> None:
    path = _aggregator_toml(tmp_path, 'broker_admin = "x"\n')
    with pytest.raises(ConfigError, match="invalid"):
        load_config(path)


def test_password_hash_matches_mosquitto_ctrl() -> None:
    # Made by ``mosquitto_ctrl dynsec init file admin s3cret`` (Mosquitto 2.0.11).
    salt = base64.b64decode("I9J2kyflms862GhZ")
    assert hashed_password("s3cret", salt) == {
        "password": "YPS/M38aPG0kxAPv/WsjruBId2ZEzHprtbwdbSNoTJwnwAXRLGvXlYRkxZqjS5g1/"
        "m437aebkYi/WLZlZ+6XUA==",
        "salt": "I9J2kyflms862GhZ",
        "iterations": 101,
    }
    assert len(base64.b64decode(hashed_password("x")["salt"])) == 12


def test_kiosk_acls_name_only_its_own_topics() -> None:
    acls = kiosk_acls("kiosk-7")
    assert all("kiosk-7" in acl["topic"] and acl["allow"] is True for acl in acls)
    assert not any("+" in acl["topic"] for acl in acls)
    sends = {acl["topic"] for acl in acls if acl["acltype"] == "publishClientSend"}
    assert sends == {
        topics.topic("kiosk-7", topics.CHECKIN),
        topics.topic("kiosk-7", topics.STATUS),
    }
    reads = {acl["topic"] for acl in acls if acl["acltype"] in ("subscribeLiteral",)}
    assert reads == {
        topics.topic("kiosk-7", topics.RECEIPT),
        topics.topic("kiosk-7", topics.CONFIG),
    }
    assert kiosk_role("kiosk-7") == "kiosk_kiosk-7"


def test_aggregator_acls_cover_shared_subscriptions() -> None:
    subscribes = {a["topic"] for a in aggregator_acls() if a["acltype"] == "subscribePattern"}
    assert f"$share/+/{topics.ALL_CHECKINS}" in subscribes and topics.ALL_STATUS in subscribes
    sends = {a["topic"] for a in aggregator_acls() if a["acltype"] == "publishClientSend"}
    assert sends == {f"{topics.PREFIX}/+/receipt", f"{topics.PREFIX}/+/config"}


def test_document_refuses_everything_not_granted() -> None:
    document = dynsec_document("admin-pass-text", "aggregator-pass-text")
    assert document["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert [c["username"] for c in document["clients"]] == [ADMIN_USER, AGGREGATOR_USER]
    assert "pass-text" not in json.dumps(document)  # stored hashed only


@given(st.text(max_size=80))
def test_malformed_kiosk_ids_make_no_acls(kiosk_id: str) -> None:
    import re

    if re.fullmatch(KIOSK_ID_PATTERN, kiosk_id):
        assert kiosk_acls(kiosk_id)
    else:
        with pytest.raises(MalformedError):
            kiosk_acls(kiosk_id)
        with pytest.raises(MalformedError):
            kiosk_role(kiosk_id)


def test_broker_init_writes_the_files_and_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "broker"
    result = CliRunner().invoke(broker_init_command, ["--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "plain MQTT" in result.output  # the warning
    conf = (folder / "mosquitto.conf").read_text()
    assert f"plugin {find_dynsec_plugin()}" in conf and "allow_anonymous false" in conf
    assert "listener 1883 0.0.0.0" in conf
    for name in ("dynamic-security.json", "broker-admin.password", "aggregator.password"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    admin_password = (folder / "broker-admin.password").read_text().strip()
    assert admin_password not in result.output
    snippet = tomllib.loads((folder / "aggregator-snippet.toml").read_text())
    assert snippet["mqtt"]["username"] == AGGREGATOR_USER
    assert snippet["mqtt"]["password"] == (folder / "aggregator.password").read_text().strip()
    admin = parse_broker_admin(
        snippet["broker_admin"], MqttSettings(**snippet["mqtt"]), base=folder
    )
    assert admin is not None and admin.settings.password == admin_password
    again = CliRunner().invoke(broker_init_command, ["--dir", str(folder)])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert (folder / "broker-admin.password").read_text().strip() == admin_password


def test_broker_init_tls_listener(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    args = ["--dir", str(tmp_path / "b"), "--cafile", str(tmp_path / "ca.pem")]
    args += ["--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")]
    result = CliRunner().invoke(broker_init_command, [*args, "--require-certificate"])
    assert result.exit_code == 0, result.output
    conf = (tmp_path / "b" / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0" in conf and "tls_version tlsv1.2" in conf
    assert "require_certificate true" in conf and f"cafile {tmp_path / 'ca.pem'}" in conf
    snippet = tomllib.loads((tmp_path / "b" / "aggregator-snippet.toml").read_text())
    assert snippet["mqtt"]["tls"] is True and snippet["mqtt"]["port"] == 8883


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cafile", "{d}/ca.pem"], "needs --cafile, --certfile and --keyfile"),
        (["--require-certificate"], "--require-certificate needs a TLS listener"),
        (["--port", "0"], "0 is not in the range"),
        (["--port", "x"], "is not a valid integer"),
        (["--plugin", "{d}/nowhere.so"], "is not a file"),
        (["--bind", "0.0.0.0\nallow_anonymous true"], "is not a host name or IP address"),
        (["--bind", "a b"], "is not a host name"),
        (["--host", "-x"], "is not a host name"),
        (["--host", ""], "is not a host name"),
        (
            ["--cafile", "{d}/no.pem", "--certfile", "{d}/no.pem", "--keyfile", "{d}/no.pem"],
            "no such file",
        ),
    ],
)
def test_broker_init_bad_arguments(tmp_path: Path, extra: list[str], message: str) -> None:
    (tmp_path / "ca.pem").write_text("x")
    args = ["--dir", str(tmp_path / "b"), *(a.format(d=tmp_path) for a in extra)]
    result = CliRunner().invoke(broker_init_command, args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "b").exists()


def test_broker_init_refuses_line_breaks_in_paths(tmp_path: Path) -> None:
    odd = tmp_path / "ca\nallow_anonymous true"
    odd.write_text("x")
    args = ["--dir", str(tmp_path / "b"), "--cafile", str(odd)]
    args += ["--certfile", str(odd), "--keyfile", str(odd)]
    result = CliRunner().invoke(broker_init_command, args)
    assert result.exit_code == 1 and "cannot go into mosquitto.conf" in result.output
    assert not (tmp_path / "b").exists()


def test_broker_init_into_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(broker_init_command, ["--dir", str(tmp_path / "f")])
    assert result.exit_code != 0


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "username",
                "password",
                "timeout_s",
                "host",
                "port",
                "tls",
                "ca_file",
                "pin_client_id",
                "x",
            ]
        ),
        _VALUES,
    )
)
def test_any_table_is_accepted_or_refused_with_config_error(table: dict) -> None:
    try:
        admin = parse_broker_admin(table, MqttSettings(), base=Path("/nonexistent"))
    except ConfigError:
        return
    assert admin is not None and admin.settings.username == table["username"]
