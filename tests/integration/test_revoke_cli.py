"""``safecode aggregator revoke`` through a real Mosquitto, and configs sent on reconnect."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from protocol import keys, topics
from protocol.kiosk_config import parse_kiosk_config
from provisioning.site import Site
from safecode.cli import cli
from simulator.broker import LocalBroker
from simulator.site import init_simulated_site

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, own_broker: LocalBroker) -> Site:
    return init_simulated_site(tmp_path / "site", kiosks=2, visitors=1, mqtt_port=own_broker.port)


def retained_config(port: int, kiosk_id: str) -> bytes:
    """The retained message on a kiosk's config topic, read as a newcomer would."""
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"reader-{kiosk_id}")

    def on_message(c, userdata, message) -> None:  # noqa: ANN001
        got.append(bytes(message.payload))
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.topic(kiosk_id, topics.CONFIG))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no retained config"
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0]


def test_revoke_reaches_every_kiosk_signed_and_retained(
    site: Site, own_broker: LocalBroker
) -> None:
    credential = "00112233445566ff"
    result = CliRunner().invoke(
        cli, ["aggregator", "revoke", "--config", str(site.aggregator_config), credential]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert report == {"added": 1, "revoked": 1, "kiosks": ["kiosk-1", "kiosk-2"]}
    ledger = keys.load_private(site.keys.ledger)
    for kiosk_id in ("kiosk-1", "kiosk-2"):
        config = parse_kiosk_config(retained_config(own_broker.port, kiosk_id))
        config.verify(ledger.public_key())
        assert config.kiosk_id == kiosk_id
        assert config.revoked == frozenset({bytes.fromhex(credential)})
        assert config.next_seq_floor == 1
    again = CliRunner().invoke(
        cli, ["aggregator", "revoke", "--config", str(site.aggregator_config), credential.upper()]
    )
    assert json.loads(again.output.splitlines()[-1])["added"] == 0


@pytest.mark.parametrize("bad", ["0011", "zz112233445566ff", "00112233445566ff00", ""])
def test_a_bad_credential_id_is_refused_before_anything_is_stored(site: Site, bad: str) -> None:
    result = CliRunner().invoke(
        cli, ["aggregator", "revoke", "--config", str(site.aggregator_config), bad]
    )
    assert result.exit_code == 2 and "credential id" in result.output
