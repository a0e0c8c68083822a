"""Provisioning's operator client enrols a kiosk on a region through the real API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from aggregator.db import open_database
from aggregator.kiosk_trust import KioskTrust
from aggregator.operators import create_token
from aggregator.region_homes import RegionHome, home_of
from aggregator.web import create_app
from protocol import keys
from provisioning.errors import StepFailed
from provisioning.operator_client import OperatorClient
from tests.unit.wire_checks import seeded

TRUST = KioskTrust(
    issuer_keys=(keys.did_key(seeded("issuer")),),
    ledger_key=keys.did_key(seeded("ledger")),
    mqtt_host="mqtt.example",
    mqtt_port=8883,
    mqtt_tls=True,
)
NORTH = RegionHome("north", "mqtt-north.example", 18883, True, None)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[OperatorClient]:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    app = create_app(
        {"DATABASE_URL": url, "TESTING": True, "KIOSK_TRUST": TRUST, "REGIONS": {"north": NORTH}}
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OperatorClient(f"http://127.0.0.1:{server.port}", create_token("alice"))
    finally:
        server.shutdown()
        thread.join(5)
        database.close()


def test_enrol_on_a_region_gets_that_brokers_address(client: OperatorClient) -> None:
    did = keys.did_key(seeded("north-kiosk"))
    answer = client.enrol(did, "cafe-1", None, "north")
    mqtt = answer.mqtt()
    assert (mqtt["host"], mqtt["port"], mqtt["tls"]) == ("mqtt-north.example", 18883, True)
    assert home_of(answer.kiosk_id) == "north"
    central = client.enrol(keys.did_key(seeded("central-kiosk")), "cafe-1")
    assert central.mqtt()["host"] == "mqtt.example" and home_of(central.kiosk_id) is None


def test_an_unknown_region_is_refused_and_registers_nothing(client: OperatorClient) -> None:
    did = keys.did_key(seeded("lost-kiosk"))
    with pytest.raises(StepFailed, match="unknown_region|region must name"):
        client.enrol(did, "cafe-1", None, "mars")
    assert client.kiosks_with_key(did) == []
