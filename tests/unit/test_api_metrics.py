"""/metrics (checked with prometheus_client's own parser), /healthz, /readyz, fleet status."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from aggregator import counters
from aggregator.db import CheckinEntry, KioskEntry, database_proxy, open_database
from aggregator.operators import create_token
from aggregator.web import create_app
from protocol.status import encode_status
from tests.unit.ledger_builder import LedgerBuilder


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    url = db_url  # SQLite, then PostgreSQL
    database = open_database(url)
    yield create_app({"DATABASE_URL": url, "TESTING": True, "OFFLINE_AFTER_S": 60})
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that sends an operator token: /metrics and fleet status need one."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token('prometheus')}"
    return client


@pytest.mark.parametrize("path", ["/metrics", "/v1/kiosks/status", "/v1/operator/kiosks"])
def test_metrics_and_fleet_status_need_an_operator_token(app: Flask, path: str) -> None:
    anonymous = app.test_client()
    for headers in ({}, {"Authorization": "Bearer sco_0000000000000000_" + "A" * 43}):
        response = anonymous.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"safecode_" not in response.data and b"kiosk" not in response.data
    # What stays public: liveness, readiness and the registry of device keys (verifiers).
    for public in ("/healthz", "/readyz", "/v1/kiosks"):
        assert anonymous.get(public).status_code == 200


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def heartbeat(kiosk: str, stored: str | None, age_s: float) -> None:
    KioskEntry.update(last_status=stored, last_status_ms=int((time.time() - age_s) * 1000)).where(
        KioskEntry.kiosk_id == kiosk
    ).execute()


def test_metrics_reflect_the_ledger_counters_and_kiosks(client: FlaskClient) -> None:
    builder = LedgerBuilder(("kiosk-a", "kiosk-b", "kiosk-c", "kiosk-d"))
    builder.block(3)
    builder.block(2, "kiosk-b")
    builder.scan("kiosk-c")
    builder.scan("kiosk-c")
    CheckinEntry.update(received_ms=int(time.time() * 1000) - 7000).where(
        CheckinEntry.leaf_index.is_null()
    ).execute()
    # A process's own count of ingested check-ins is not taken: the rows are counted.
    counters.add({("ingested", ""): 70, ("refused", "bad_signature"): 2, ("refused", "expired"): 1})
    counters.add({("gaps", "kiosk-a"): 3})
    full = encode_status("online", queue=4, oldest_unsent_ms=9000, clock_synced=False).decode()
    heartbeat("kiosk-a", full, 5)  # JSON heartbeat, recent
    heartbeat("kiosk-b", "online", 10)  # bare state string, recent
    heartbeat("kiosk-c", "online", 600)  # too old: offline
    heartbeat("kiosk-d", encode_status("offline").decode(), 1)
    got = samples(client)
    assert got[("safecode_ingested_total", ())] == 7
    assert got[("safecode_sealed_total", ())] == 5
    assert got[("safecode_refused_total", (("reason", "bad_signature"),))] == 2
    assert got[("safecode_refused_total", (("reason", "expired"),))] == 1
    assert got[("safecode_gaps_total", (("kiosk", "kiosk-a"),))] == 3
    assert got[("safecode_tree_size", ())] == 5
    assert got[("safecode_blocks", ())] == 2
    assert got[("safecode_unsealed_checkins", ())] == 2
    assert 6 <= got[("safecode_oldest_unsealed_age_seconds", ())] < 60
    assert got[("safecode_kiosks", (("state", "online"),))] == 2
    assert got[("safecode_kiosks", (("state", "offline"),))] == 2
    assert got[("safecode_kiosks", (("state", "retired"),))] == 0
    assert got[("safecode_kiosk_queue", (("kiosk", "kiosk-a"),))] == 4
    assert got[("safecode_kiosk_oldest_unsent_seconds", (("kiosk", "kiosk-a"),))] == 9
    assert ("safecode_kiosk_queue", (("kiosk", "kiosk-b"),)) not in got
    assert 590 < got[("safecode_kiosk_last_seen_seconds", (("kiosk", "kiosk-c"),))] < 700
    # Counting more shows up at the next scrape: counters only grow.
    builder.scan("kiosk-c")
    counters.add({("refused", "expired"): 1})
    again = samples(client)
    assert again[("safecode_ingested_total", ())] == 8
    assert again[("safecode_refused_total", (("reason", "expired"),))] == 2


def test_metrics_help_says_which_counters_are_exact(client: FlaskClient) -> None:
    counters.add({("refused", "expired"): 1})
    text = client.get("/metrics").get_data(as_text=True)
    helps = dict(line.split(" ", 3)[2:] for line in text.splitlines() if line.startswith("# HELP"))
    assert "exact: counted from the ledger's rows" in helps["safecode_ingested_total"]
    assert "exact: counted from the ledger's rows" in helps["safecode_sealed_total"]
    assert "best effort" in helps["safecode_refused_total"]


def test_metrics_on_an_empty_ledger_parse(client: FlaskClient) -> None:
    got = samples(client)
    assert got[("safecode_tree_size", ())] == 0
    assert got[("safecode_oldest_unsealed_age_seconds", ())] == 0


def test_fleet_status_reads_json_and_bare_state_heartbeats(client: FlaskClient) -> None:
    LedgerBuilder(("kiosk-a", "kiosk-b", "kiosk-c", "kiosk-e"))
    beat = encode_status(
        "online", queue=2, oldest_unsent_ms=1500, clock_synced=True, firmware="1.2.3"
    ).decode()
    heartbeat("kiosk-a", beat, 1)
    heartbeat("kiosk-b", "online", 1)
    heartbeat(
        "kiosk-c", json.dumps({"state": "online", "queue": "lots", "clock_synced": True}), 200
    )
    heartbeat("kiosk-e", "{not json", 1)
    body = client.get("/v1/kiosks/status").get_json()
    assert body["online"] == 2
    by_id = {k["kiosk_id"]: k for k in body["kiosks"]}
    assert by_id["kiosk-a"] == {
        "kiosk_id": "kiosk-a",
        "venue_id": "venue-a",
        "online": True,
        "state": "online",
        "last_seen_ms": by_id["kiosk-a"]["last_seen_ms"],
        "queue": 2,
        "oldest_unsent_ms": 1500,
        "clock_synced": True,
        "firmware": "1.2.3",
    }
    assert by_id["kiosk-b"]["online"] and by_id["kiosk-b"]["queue"] is None
    assert not by_id["kiosk-c"]["online"]  # 200 s old, offline after 60 s
    assert by_id["kiosk-c"]["queue"] is None and by_id["kiosk-c"]["clock_synced"] is True
    assert by_id["kiosk-e"]["state"] is None and not by_id["kiosk-e"]["online"]
    registry = client.get("/v1/operator/kiosks").get_json()["kiosks"]
    assert {k["kiosk_id"]: k["status"] for k in registry}["kiosk-a"] == "online"
    public = client.get("/v1/kiosks").get_json()["kiosks"]
    assert all(set(k) == {"kiosk_id", "device_key", "retired"} for k in public)


def test_healthz_and_readyz(client: FlaskClient, app: Flask) -> None:
    assert client.get("/healthz").get_json()["ok"] is True
    assert client.get("/readyz").get_json() == {"ok": True}


def test_readyz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    url = f"sqlite:///{folder}/ledger.sqlite"
    open_database(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    database_proxy.close()
    (folder / "ledger.sqlite").unlink()
    folder.rmdir()  # SQLite cannot even create a new file there
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "database_unavailable"


def test_one_kiosks_status_for_operators(client: FlaskClient, app: Flask) -> None:
    LedgerBuilder(("kiosk-a", "kiosk-b"))
    heartbeat("kiosk-a", encode_status("online", queue=3, clock_synced=True).decode(), 1)
    KioskEntry.update(retired=True).where(KioskEntry.kiosk_id == "kiosk-b").execute()
    body = client.get("/v1/kiosks/kiosk-a/status").get_json()
    assert body["kiosk_id"] == "kiosk-a" and body["online"] is True and body["queue"] == 3
    assert body["retired"] is False
    assert client.get("/v1/kiosks/kiosk-b/status").get_json()["retired"] is True
    missing = client.get("/v1/kiosks/kiosk-z/status")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "unknown_kiosk")
    bad = client.get("/v1/kiosks/Not%20A%20Kiosk/status")
    assert (bad.status_code, bad.get_json()["error"]) == (400, "bad_kiosk_id")
    assert client.get("/v1/kiosks/kiosk-a/status?x=1").status_code == 400
    assert app.test_client().get("/v1/kiosks/kiosk-a/status").status_code == 401


def test_registry_lookups_by_id_and_by_device_key(app: Flask) -> None:
    from protocol import keys

    builder = LedgerBuilder(("kiosk-a", "kiosk-b"))
    public = app.test_client()  # the registry is public, like the device keys in it
    did = keys.did_key(builder.devices["kiosk-a"])
    one = public.get("/v1/kiosks/kiosk-a").get_json()
    assert one["kiosk_id"] == "kiosk-a" and one["device_key"] == did and one["retired"] is False
    assert public.get("/v1/kiosks/kiosk-z").status_code == 404
    assert public.get("/v1/kiosks/BAD ID").get_json()["error"] == "bad_kiosk_id"
    found = public.get(f"/v1/kiosks?device_key={did}").get_json()["kiosks"]
    assert [k["kiosk_id"] for k in found] == ["kiosk-a"]
    bad = public.get("/v1/kiosks?device_key=did:key:nonsense")
    assert (bad.status_code, bad.get_json()["error"]) == (400, "bad_device_key")
    assert len(public.get("/v1/kiosks").get_json()["kiosks"]) == 2


def test_the_public_registry_shows_no_venue_or_state(client: FlaskClient, app: Flask) -> None:
    """Anyone gets ids, device keys and retired; venues and states need an operator token."""
    builder = LedgerBuilder(("kiosk-a", "kiosk-b"))
    heartbeat("kiosk-a", encode_status("online", queue=3).decode(), 1)
    KioskEntry.update(retired=True).where(KioskEntry.kiosk_id == "kiosk-b").execute()
    anonymous = app.test_client()
    from protocol import keys

    did = keys.did_key(builder.devices["kiosk-a"])
    public = {"kiosk_id": "kiosk-a", "device_key": did, "retired": False}
    for path in ("/v1/kiosks", f"/v1/kiosks?device_key={did}", "/v1/kiosks/kiosk-a"):
        body = anonymous.get(path).get_data(as_text=True)
        assert "venue" not in body and "online" not in body and "status" not in body, path
    assert anonymous.get("/v1/kiosks/kiosk-a").get_json() == public
    assert anonymous.get("/v1/kiosks").get_json()["kiosks"][1]["retired"] is True
    assert anonymous.get(f"/v1/operator/kiosks?device_key={did}").status_code == 401
    found = client.get(f"/v1/operator/kiosks?device_key={did}").get_json()["kiosks"]
    assert found == [{**public, "venue_id": "venue-a", "status": "online"}]
    assert len(client.get("/v1/operator/kiosks").get_json()["kiosks"]) == 2
    bad = client.get("/v1/operator/kiosks?device_key=did:key:nonsense")
    assert (bad.status_code, bad.get_json()["error"]) == (400, "bad_device_key")
    assert client.get("/v1/operator/kiosks?venue=x").status_code == 400
