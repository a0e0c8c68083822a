"""Operator tokens and the enrol / retire endpoints; refusals are JSON and counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import counters
from aggregator.api import errors as api_errors
from aggregator.broker_accounts import BrokerAccountError, MqttCredentials
from aggregator.db import KioskEntry, open_database
from aggregator.kiosk_trust import KioskTrust
from aggregator.operators import OperatorToken, TokenError, authenticate, create_token, revoke_token
from aggregator.web import create_app
from aggregator.web_cli import token_group
from protocol import keys
from tests.unit.ledger_builder import write_config
from tests.unit.wire_checks import seeded

DEVICE = seeded("operator-device")


TRUST = KioskTrust(
    issuer_keys=(keys.did_key(seeded("issuer")),),
    ledger_key=keys.did_key(seeded("ledger")),
    mqtt_host="broker.example",
    mqtt_port=8883,
    mqtt_tls=True,
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    yield create_app({"DATABASE_URL": url, "TESTING": True, "KIOSK_TRUST": TRUST})
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(app: Flask) -> str:
    return create_token("alice technician")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused() -> dict[str, int]:
    """The API refusal counters, after flushing this process's pending counts."""
    return counters.totals().get("api_refused", {})


def test_token_is_random_hashed_and_authenticates(token: str) -> None:
    assert token.startswith("sco_")
    assert authenticate(token).name == "alice technician"
    row = OperatorToken.get()
    secret = token.split("_", 2)[2]  # sco_<id>_<secret>; the secret may hold "_" itself
    assert secret.encode() not in bytes(row.secret_hash)
    assert secret not in json.dumps([str(v) for v in row.__data__.values()])
    other = create_token("bob")
    assert other != token
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token + "x",
        "",
        "sco_",
        other[:22],
    ):
        with pytest.raises(TokenError):
            authenticate(bad)
    revoke_token("alice technician")
    with pytest.raises(TokenError):
        authenticate(token)
    with pytest.raises(TokenError):
        create_token("bob")  # one active token per name
    assert create_token("alice technician") != token  # the name is free again


def test_enrol_and_retire_with_a_token(client: FlaskClient, token: str) -> None:
    did = keys.did_key(DEVICE)
    response = client.post(
        "/v1/operator/kiosks", json={"device_key": did, "venue_id": "cafe-1"}, headers=bearer(token)
    )
    assert response.status_code == 201, response.data
    kiosk_id = response.get_json()["kiosk_id"]
    assert kiosk_id.startswith("k-")
    entry = KioskEntry.get_by_id(kiosk_id)
    assert (entry.venue_id, bytes(entry.device_key)) == ("cafe-1", keys.public_bytes(DEVICE))
    again = client.post(
        "/v1/operator/kiosks", json={"device_key": did, "venue_id": "cafe-1"}, headers=bearer(token)
    )
    assert again.get_json()["kiosk_id"] == kiosk_id  # idempotent
    moved = client.post(
        "/v1/operator/kiosks",
        json={"device_key": did, "venue_id": "cafe-2", "kiosk_id": kiosk_id},
        headers=bearer(token),
    )
    assert (moved.status_code, moved.get_json()["error"]) == (409, "conflict")
    reserved = client.post(
        "/v1/operator/kiosks",
        json={"device_key": keys.did_key(seeded("y")), "venue_id": "cafe-2", "kiosk_id": "status"},
        headers=bearer(token),
    )
    assert reserved.status_code == 409 and "reserved" in reserved.get_json()["message"]
    named = client.post(
        "/v1/operator/kiosks",
        json={"device_key": keys.did_key(seeded("x")), "venue_id": "cafe-2", "kiosk_id": "door-7"},
        headers=bearer(token),
    )
    assert named.get_json()["kiosk_id"] == "door-7"
    retired = client.post(f"/v1/operator/kiosks/{kiosk_id}/retire", headers=bearer(token))
    assert retired.get_json() == {"kiosk_id": kiosk_id, "retired": True}
    assert KioskEntry.get_by_id(kiosk_id).retired
    unknown = client.post("/v1/operator/kiosks/nobody/retire", headers=bearer(token))
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "unknown_kiosk")
    bad = client.post("/v1/operator/kiosks/Bad_Id/retire", headers=bearer(token))
    assert (bad.status_code, bad.get_json()["error"]) == (400, "bad_kiosk_id")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no_token"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "bad_token"),
        ({"Authorization": "Bearer"}, "bad_token"),
        ({"Authorization": "Bearer sco_0000000000000000_" + "A" * 43}, "bad_token"),
        ({"Authorization": "Bearer nonsense"}, "bad_token"),
    ],
)
def test_missing_or_bad_token_is_401_and_counted(
    client: FlaskClient, token: str, headers: dict[str, str], reason: str
) -> None:
    before = client.get("/metrics", headers=bearer(token)) and refused().get(reason, 0)
    did = keys.did_key(DEVICE)
    for response in (
        client.post(
            "/v1/operator/kiosks", json={"device_key": did, "venue_id": "v"}, headers=headers
        ),
        client.post("/v1/operator/kiosks/kiosk-a/retire", headers=headers),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"] == reason
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert KioskEntry.select().count() == 0
    client.get("/metrics", headers=bearer(token))  # flushes this worker's pending counts
    assert refused().get(reason, 0) == before + 2
    metrics = client.get("/metrics", headers=bearer(token)).get_data(as_text=True)
    assert f'safecode_api_refused_total{{reason="{reason}"}}' in metrics


def test_a_wrong_secret_with_a_real_token_id_is_refused(client: FlaskClient, token: str) -> None:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.post("/v1/operator/kiosks/kiosk-a/retire", headers=bearer(forged))
    assert (response.status_code, response.get_json()["error"]) == (401, "bad_token")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "bad_json"),
        ([1, 2], "bad_json"),
        ({"device_key": "did:key:z6Mk", "venue_id": "v"}, "bad_device_key"),
        ({"device_key": 5, "venue_id": "v"}, "bad_device_key"),
        ({"venue_id": "v"}, "bad_device_key"),
        ({"device_key": "DID", "venue_id": "Not A Venue"}, "bad_venue_id"),
        ({"device_key": "DID", "venue_id": "v", "kiosk_id": "UPPER"}, "bad_kiosk_id"),
        ({"device_key": "DID", "venue_id": "v", "kiosk_id": 7}, "bad_kiosk_id"),
        ({"device_key": "DID", "venue_id": "v", "admin": True}, "unknown_field"),
    ],
)
def test_bad_enrolment_is_400(client: FlaskClient, token: str, body: object, reason: str) -> None:
    if isinstance(body, dict) and body.get("device_key") == "DID":
        body = {**body, "device_key": keys.did_key(DEVICE)}
    if isinstance(body, str):
        response = client.post(
            "/v1/operator/kiosks", data=body, headers=bearer(token), content_type="application/json"
        )
    else:
        response = client.post("/v1/operator/kiosks", json=body, headers=bearer(token))
    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == reason
    assert KioskEntry.select().count() == 0


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(["device_key", "venue_id", "kiosk_id", "x"]), JSONISH, max_size=4
    )
)
def test_fuzzed_enrolment_never_500(client: FlaskClient, token: str, body: dict) -> None:
    response = client.post("/v1/operator/kiosks", json=body, headers=bearer(token))
    assert response.status_code in (201, 400, 409), response.data
    assert response.mimetype == "application/json"


def test_refusal_logs_are_rate_limited(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="aggregator.api"):
        for _ in range(20):
            client.get("/v1/blocks/x")
    lines = [r for r in caplog.records if "bad_height" in r.getMessage()]
    assert len(lines) == 1
    assert api_errors.LOG_EVERY_S >= 1


def test_token_cli_prints_the_token_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    config = write_config(tmp_path / "site", f"sqlite:///{tmp_path}/cli.sqlite")
    runner = CliRunner()
    group = click.Group(commands={"token": token_group})
    made = runner.invoke(group, ["token", "create", "--config", str(config), "--name", "carol"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert authenticate(token).name == "carol"
    listed = runner.invoke(group, ["token", "list", "--config", str(config)])
    assert json.loads(listed.stdout)["name"] == "carol"
    assert token.split("_", 2)[2] not in listed.stdout
    twice = runner.invoke(group, ["token", "create", "--config", str(config), "--name", "carol"])
    assert twice.exit_code != 0 and "already has a token" in twice.output
    revoked = runner.invoke(group, ["token", "revoke", "--config", str(config), "--name", "carol"])
    assert revoked.exit_code == 0
    with pytest.raises(TokenError):
        authenticate(token)
    assert time.time() > 0


def test_gunicorn_command_line_serves_the_wsgi_app_without_an_access_log(tmp_path: Path) -> None:
    from aggregator.web_cli import gunicorn_argv

    argv = gunicorn_argv(tmp_path / "a.toml", "127.0.0.1:9000", 3)
    assert argv[1:3] == ["-m", "gunicorn"] and argv[-1] == "aggregator.wsgi:app"
    assert "--access-logfile" not in argv
    assert f"SAFECODE_CONFIG={(tmp_path / 'a.toml').resolve()}" in argv
    assert argv[argv.index("--workers") + 1] == "3"


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"witnesses": "w"}, "must be a list"),
        ({"witnesses": ["not+a+key"]}, "web.witnesses"),
        ({"offline_after_s": 0}, "offline_after_s"),
        ({"offline_after_s": True}, "offline_after_s"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_bad_web_config_is_refused_before_serving(tmp_path: Path, web: dict, message: str) -> None:
    from aggregator.config import ConfigError
    from aggregator.web import create_app_from_config
    from aggregator.web_cli import web_command

    config = write_config(tmp_path / "site", f"sqlite:///{tmp_path}/w.sqlite", web)
    with pytest.raises(ConfigError, match=message):
        create_app_from_config(config)
    result = CliRunner().invoke(web_command, ["--config", str(config)])
    assert result.exit_code == 1 and message.split()[0] in result.output


class MemoryAccounts:
    """An in-memory broker-accounts back end: the interface the real ones implement."""

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}
        self.fail = False

    def ensure_kiosk(self, kiosk_id: str) -> MqttCredentials | None:
        if self.fail:
            raise BrokerAccountError("broker admin unreachable")
        self.accounts[kiosk_id] = f"pw-{len(self.accounts)}-{kiosk_id}"
        return MqttCredentials(kiosk_id, self.accounts[kiosk_id])

    def remove_kiosk(self, kiosk_id: str) -> None:
        if self.fail:
            raise BrokerAccountError("broker admin unreachable")
        self.accounts.pop(kiosk_id, None)


def test_site_tells_the_operator_what_kiosks_trust(client: FlaskClient, token: str) -> None:
    response = client.get("/v1/operator/site", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == {"operator": "alice technician", **TRUST.to_json()}
    assert client.get("/v1/operator/site").status_code == 401


def test_enrolment_hands_out_trust_and_broker_credentials(
    app: Flask, client: FlaskClient, token: str
) -> None:
    did = keys.did_key(DEVICE)
    body = {"device_key": did, "venue_id": "cafe-1"}
    plain = client.post("/v1/operator/kiosks", json=body, headers=bearer(token)).get_json()
    assert plain["mqtt"] == {**TRUST.to_json()["mqtt"], "username": None, "password": None}
    assert (plain["issuer_keys"], plain["ledger_key"]) == (
        list(TRUST.issuer_keys),
        TRUST.ledger_key,
    )
    accounts = MemoryAccounts()
    app.extensions["safecode.broker_accounts"] = accounts
    made = client.post("/v1/operator/kiosks", json=body, headers=bearer(token))
    kiosk_id = made.get_json()["kiosk_id"]
    assert made.get_json()["mqtt"]["password"] == accounts.accounts[kiosk_id]
    assert made.headers["Cache-Control"] == "no-store"
    accounts.fail = True
    broken = client.post(f"/v1/operator/kiosks/{kiosk_id}/retire", headers=bearer(token))
    assert (broken.status_code, broken.get_json()["error"]) == (502, "broker_error")
    assert KioskEntry.get_by_id(kiosk_id).retired  # the key is refused already
    accounts.fail = False
    again = client.post(f"/v1/operator/kiosks/{kiosk_id}/retire", headers=bearer(token))
    assert again.status_code == 200 and kiosk_id not in accounts.accounts


def test_enrolment_without_trust_keys_is_503_and_registers_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bare.sqlite"
    database = open_database(url)
    try:
        client = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
        token = create_token("dave")
        body = {"device_key": keys.did_key(DEVICE), "venue_id": "cafe-1"}
        response = client.post("/v1/operator/kiosks", json=body, headers=bearer(token))
        assert (response.status_code, response.get_json()["error"]) == (
            503,
            "enrolment_unavailable",
        )
        assert KioskEntry.select().count() == 0
    finally:
        database.close()


def test_app_from_config_reads_the_public_keys(tmp_path: Path) -> None:
    from aggregator.web import create_app_from_config
    from simulator.site import init_simulated_site

    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1, mqtt_port=18830)
    app = create_app_from_config(site.aggregator_config)
    trust = app.config["KIOSK_TRUST"]
    assert trust.mqtt_port == 18830 and trust.ledger_key.startswith("did:key:")
    # Only the public halves are read: the web process needs no signing key.
    site.keys.ledger.unlink()
    site.keys.issuer.unlink()
    assert create_app_from_config(site.aggregator_config).config["KIOSK_TRUST"] == trust
    site.keys.ledger_public.unlink()
    assert create_app_from_config(site.aggregator_config).config["KIOSK_TRUST"] is None
