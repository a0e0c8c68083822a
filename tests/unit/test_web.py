"""The read API (Flask): health, checkpoint, blocks and the kiosk registry."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aggregator import vault
from aggregator.db import CheckinEntry, open_database
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk, retire_kiosk
from aggregator.sequencer import Sequencer
from aggregator.web import create_app
from protocol import keys, merkle, topics
from protocol.block import parse_block
from protocol.checkin import ClockState, parse_checkin, sign_checkin
from protocol.checkpoint import open_checkpoint
from protocol.note import NoteVerifier
from protocol.presentation import Presentation
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("web-issuer")
LEDGER = seeded("web-ledger")
DEVICES = {"kiosk-a": seeded("web-device-a"), "kiosk-b": seeded("web-device-b")}
ORIGIN = "ledger.example/web"
NOW = 1_764_000_000


@pytest.fixture
def url(db_url: str, test_vault: vault.Vault) -> Iterator[str]:
    address = db_url  # SQLite, then PostgreSQL
    database = open_database(address)
    yield address
    database.close()


@pytest.fixture
def app(url: str) -> Flask:
    return create_app({"DATABASE_URL": url, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ingestor(url: str) -> Ingestor:
    enrol_kiosk("kiosk-b", "venue-2", keys.public_bytes(DEVICES["kiosk-b"]))
    enrol_kiosk("kiosk-a", "venue-1", keys.public_bytes(DEVICES["kiosk-a"]))
    return Ingestor([ISSUER.public_key()], now=lambda: NOW)


def store(ingestor: Ingestor, kiosk: str, seq: int) -> None:
    wire = sign_checkin(
        DEVICES[kiosk],
        checkin_id=hashlib.sha256(f"web/{kiosk}/{seq}".encode()).digest()[:16],
        kiosk_id=kiosk,
        venue_id="venue-1" if kiosk == "kiosk-a" else "venue-2",
        seq=seq,
        door="entrance",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, bytes(16), seq),
        presentation=enrol_visitor(ISSUER, NOW - 3600).show(NOW).to_bytes(),
    )
    assert ingestor.handle(topics.topic(kiosk, topics.CHECKIN), wire).result is Result.STORED


def seal() -> None:
    assert Sequencer(LEDGER, ORIGIN, now=lambda: NOW + 1).seal() is not None


def test_healthz_before_and_after_sealing(client: FlaskClient, ingestor: Ingestor) -> None:
    empty = client.get("/healthz")
    assert empty.status_code == 200
    assert empty.get_json() == {"ok": True, "blocks": 0, "tree_size": 0, "unsealed": 0}
    for seq in (1, 2, 3):
        store(ingestor, "kiosk-a", seq)
    assert client.get("/healthz").get_json() == {
        "ok": True,
        "blocks": 0,
        "tree_size": 0,
        "unsealed": 3,
    }
    seal()
    store(ingestor, "kiosk-b", 1)
    assert client.get("/healthz").get_json() == {
        "ok": True,
        "blocks": 1,
        "tree_size": 3,
        "unsealed": 1,
    }
    seal()
    assert client.get("/healthz").get_json() == {
        "ok": True,
        "blocks": 2,
        "tree_size": 4,
        "unsealed": 0,
    }


def test_checkpoint_is_404_before_any_block(client: FlaskClient) -> None:
    response = client.get("/v1/checkpoint")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "no_checkpoint",
        "message": "no block has been sealed yet",
    }


def test_checkpoint_is_a_signed_note_that_verifies(client: FlaskClient, ingestor: Ingestor) -> None:
    store(ingestor, "kiosk-a", 1)
    store(ingestor, "kiosk-b", 1)
    seal()
    response = client.get("/v1/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.mimetype_params == {"charset": "utf-8"}
    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checkpoint = open_checkpoint(response.data, verifier, ORIGIN)
    leaves = [bytes(r.leaf_hash) for r in CheckinEntry.select().order_by(CheckinEntry.leaf_index)]
    assert checkpoint.size == 2
    assert checkpoint.root_hash == merkle.root(leaves)
    # The latest one after a second block.
    store(ingestor, "kiosk-a", 2)
    seal()
    latest = open_checkpoint(client.get("/v1/checkpoint").data, verifier, ORIGIN)
    assert latest.size == 3


def test_block_json(client: FlaskClient, ingestor: Ingestor) -> None:
    store(ingestor, "kiosk-a", 1)
    store(ingestor, "kiosk-b", 1)
    seal()
    response = client.get("/v1/blocks/0")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"height", "tree_size", "root", "block_hash", "header", "checkpoint"}
    header_wire = base64.b64decode(body["header"], validate=True)
    header = parse_block(header_wire)
    header.verify(LEDGER.public_key())
    assert body["height"] == header.height == 0
    assert body["tree_size"] == header.tree_size == 2
    assert body["root"] == header.root.hex()
    assert body["block_hash"] == hashlib.sha256(header_wire).hexdigest()
    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checkpoint = open_checkpoint(body["checkpoint"], verifier, ORIGIN)
    assert (checkpoint.size, checkpoint.root_hash.hex()) == (2, body["root"])
    assert body["checkpoint"] == client.get("/v1/checkpoint").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/v1/blocks/999", "/v1/blocks/1"])
def test_missing_block_is_404(client: FlaskClient, ingestor: Ingestor, path: str) -> None:
    store(ingestor, "kiosk-a", 1)
    seal()
    assert client.get("/v1/blocks/0").status_code == 200
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_block"


@pytest.mark.parametrize(
    "height", ["abc", "-1", "01", "1.0", "99999999999999999999", "9223372036854775808", " 1"]
)
def test_bad_block_height_is_400(client: FlaskClient, height: str) -> None:
    response = client.get(f"/v1/blocks/{height}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_height"


def test_kiosks_list_device_keys_and_no_visitor_data(
    client: FlaskClient, ingestor: Ingestor, test_vault: vault.Vault
) -> None:
    store(ingestor, "kiosk-a", 1)
    store(ingestor, "kiosk-b", 1)
    seal()
    store(ingestor, "kiosk-a", 2)  # one unsealed too
    retire_kiosk("kiosk-b")
    response = client.get("/v1/kiosks")
    assert response.status_code == 200
    assert response.get_json() == {
        "kiosks": [
            {
                "kiosk_id": "kiosk-a",
                "device_key": keys.did_key(DEVICES["kiosk-a"]),
                "retired": False,
            },
            {
                "kiosk_id": "kiosk-b",
                "device_key": keys.did_key(DEVICES["kiosk-b"]),
                "retired": True,
            },
        ]
    }
    text = response.get_data(as_text=True)
    assert "venue-" not in text  # where kiosks stand is the operators' business
    rows = list(CheckinEntry.select())
    assert len(rows) == 3
    for row in rows:
        record = parse_checkin(test_vault.open_entry(row))
        credential = Presentation.from_bytes(record.presentation).credential
        visitor_forms = [
            credential.credential_id.hex(),
            credential.visitor_key.hex(),
            keys.did_key(credential.visitor_key),
            base64.b64encode(credential.visitor_key).decode(),
            base64.b64encode(credential.credential_id).decode(),
            credential.issuer_signature.hex(),
            bytes(row.checkin_id).hex(),
            bytes(row.presentation_hash).hex(),
        ]
        for form in visitor_forms:
            assert form not in text
        assert record.presentation.hex()[:32] not in text


def test_kiosks_empty_registry(client: FlaskClient) -> None:
    assert client.get("/v1/kiosks").get_json() == {"kiosks": []}
