"""What crosses a regional broker's bridge, and what it refuses (real Mosquitto 2.0).

A central broker with the aggregator's account and a regional one laid out by
``aggregator.broker_regions`` (its bridge account made on the central broker), raw MQTT
clients on both: the retained config published centrally reaches a kiosk on the
regional broker, the kiosk's retained status and its last will reach the central
broker retained, check-ins go up and receipts come down; the kiosk still cannot touch
another kiosk's topics, and the bridge's account cannot publish receipts.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER, dynsec_document, new_password
from aggregator.broker_admin import BrokerAdmin
from aggregator.broker_regions import bridge_user, central_account_commands, init_region_dir
from aggregator.db import open_database
from aggregator.dynsec import DynsecAccounts
from aggregator.kiosk_trust import KioskTrust
from aggregator.operators import create_token
from aggregator.region_homes import RegionHome, home_of
from aggregator.web import create_app
from protocol import keys, topics
from simulator.broker import LocalBroker, free_port
from support.private_files import write_private_text
from tests.unit.wire_checks import seeded
from transport.settings import MqttSettings

pytestmark = pytest.mark.integration


@dataclass
class Brokers:
    central: LocalBroker
    region: LocalBroker
    aggregator_password: str
    kiosk_password: str
    bridge_password: str
    region_admin: str


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Brokers]:
    admin, aggregator = new_password(), new_password()
    dynsec = tmp_path / "central.json"
    write_private_text(dynsec, json.dumps(dynsec_document(admin, aggregator)))
    central = LocalBroker(workdir=tmp_path / "central", dynsec_file=dynsec).start()
    port = free_port()
    folder = tmp_path / "north"
    _, bridge_password = init_region_dir(
        folder, "north", port=port, bind="127.0.0.1", central_host="127.0.0.1",
        central_port=central.port,
    )  # fmt: skip
    DynsecAccounts(MqttSettings(port=central.port, username=ADMIN_USER, password=admin)).run(
        central_account_commands("north", bridge_password)
    )
    region = LocalBroker(
        port,
        workdir=folder / "run",
        dynsec_file=folder / "dynamic-security.json",
        extra_lines=(f"include_dir {(folder / 'conf.d').resolve()}",),
    )
    try:
        region.start()
        region_admin = (folder / "broker-admin.password").read_text().strip()
        kiosk = DynsecAccounts(
            MqttSettings(port=port, username=ADMIN_USER, password=region_admin)
        ).ensure_kiosk("kiosk-1")
        DynsecAccounts(
            MqttSettings(port=port, username=ADMIN_USER, password=region_admin)
        ).ensure_kiosk("kiosk-2")
        yield Brokers(central, region, aggregator, kiosk.password, bridge_password, region_admin)
    finally:
        region.stop()
        central.stop()


class Seen:
    """A connected client and the (topic, payload, retain) of every message it got."""

    def __init__(self, port: int, user: str, password: str, *, will: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
        self.client.username_pw_set(user, password)
        if will:
            status = topics.topic(user, topics.STATUS)
            self.client.will_set(status, b"offline", qos=1, retain=True)
        self.client.on_message = self._keep
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()

    def _keep(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def got(self, topic: str, payload: bytes, timeout: float = 10.0) -> tuple[str, bytes, bool]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for seen in self.messages:
                    if seen[0] == topic and seen[1] == payload:
                        return seen
            time.sleep(0.05)
        raise AssertionError(f"no {payload!r} on {topic}; got {self.messages}")

    def never(self, topic: str, wait: float = 1.5) -> None:
        time.sleep(wait)
        with self.lock:
            assert not [m for m in self.messages if m[0] == topic], self.messages

    def subscribe(self, *filters: str) -> None:
        for name in filters:
            self.client.subscribe(name, 1)
        time.sleep(0.5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _bridge_up() -> None:
    """Give the bridge time to connect and subscribe (its restart_timeout starts at 1 s)."""
    time.sleep(2.0)


def _publish_v5(port: int, user: str, password: str, topic: str) -> int:
    """Publish once as MQTT 5 (QoS 1); the PUBACK's reason code (135: not authorised)."""
    acked = threading.Event()
    codes: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)

    def on_publish(c: mqtt.Client, u: object, mid: int, reason: object, props: object) -> None:
        codes.append(int(getattr(reason, "value", reason)))  # type: ignore[call-overload]
        acked.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    try:
        client.publish(topic, b"forged", qos=1)
        assert acked.wait(10), "no PUBACK"
    finally:
        client.loop_stop()
        client.disconnect()
    return codes[0]


def _connack(port: int, user: str, password: str) -> int:
    """Log in once as MQTT 5; the CONNACK's reason code (0: accepted, 135: not authorised)."""
    answered = threading.Event()
    codes: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)

    def on_connect(c: mqtt.Client, u: object, flags: object, reason: object, props: object):
        codes.append(int(getattr(reason, "value", reason)))  # type: ignore[call-overload]
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.loop_stop()
        client.disconnect()
    return codes[0]


def test_retained_config_status_and_will_cross_the_bridge(brokers: Brokers) -> None:
    _bridge_up()
    aggregator = Seen(brokers.central.port, AGGREGATOR_USER, brokers.aggregator_password)
    aggregator.subscribe(topics.ALL_CHECKINS, topics.ALL_STATUS)
    config = topics.topic("kiosk-1", topics.CONFIG)
    aggregator.client.publish(config, b"config-1", qos=1, retain=True)
    time.sleep(1.0)  # retained centrally before the kiosk is there

    kiosk = Seen(brokers.region.port, "kiosk-1", brokers.kiosk_password, will=True)
    kiosk.subscribe(topics.topic("kiosk-1", topics.RECEIPT), config)
    assert kiosk.got(config, b"config-1")[2], "the config reached the region not retained"
    status = topics.topic("kiosk-1", topics.STATUS)
    kiosk.client.publish(status, b"online", qos=1, retain=True)
    kiosk.client.publish(topics.topic("kiosk-1", topics.CHECKIN), b"checkin-1", qos=1)
    aggregator.got(status, b"online")
    aggregator.got(topics.topic("kiosk-1", topics.CHECKIN), b"checkin-1")
    aggregator.client.publish(topics.topic("kiosk-1", topics.RECEIPT), b"receipt-1", qos=1)
    kiosk.got(topics.topic("kiosk-1", topics.RECEIPT), b"receipt-1")

    # The kiosk vanishes without a goodbye: its will crosses, and stays retained centrally.
    kiosk.client.loop_stop()
    sock = kiosk.client.socket()
    assert sock is not None
    sock.close()
    aggregator.got(status, b"offline", timeout=60)
    later = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="later")
    later.username_pw_set(AGGREGATOR_USER, brokers.aggregator_password)
    retained: list[tuple[bytes, bool]] = []
    later.on_message = lambda c, u, m: retained.append((bytes(m.payload), bool(m.retain)))
    later.connect("127.0.0.1", brokers.central.port, 30)
    later.loop_start()
    later.subscribe(status, 1)
    deadline = time.monotonic() + 10
    while not retained and time.monotonic() < deadline:
        time.sleep(0.05)
    later.loop_stop()
    later.disconnect()
    assert retained == [(b"offline", True)]
    aggregator.stop()


def test_kiosks_and_the_bridge_stay_in_their_lanes(brokers: Brokers) -> None:
    _bridge_up()
    aggregator = Seen(brokers.central.port, AGGREGATOR_USER, brokers.aggregator_password)
    aggregator.subscribe(topics.ALL_CHECKINS, topics.ALL_STATUS)
    # A kiosk's account on its home broker still names only its own topics.
    own = topics.topic("kiosk-1", topics.CHECKIN)
    assert _publish_v5(brokers.region.port, "kiosk-1", brokers.kiosk_password, own) == 0
    aggregator.got(own, b"forged")  # its own topic crosses (the aggregator would refuse it)
    other = topics.topic("kiosk-2", topics.CHECKIN)
    code = _publish_v5(brokers.region.port, "kiosk-1", brokers.kiosk_password, other)
    assert code == 135
    aggregator.never(other)
    # The bridge's account on the central broker cannot answer for the aggregator.
    receipt = topics.topic("kiosk-1", topics.RECEIPT)
    user = bridge_user("north")
    assert _publish_v5(brokers.central.port, user, brokers.bridge_password, receipt) == 135
    config = topics.topic("kiosk-1", topics.CONFIG)
    assert _publish_v5(brokers.central.port, user, brokers.bridge_password, config) == 135
    aggregator.stop()


def test_the_operator_api_enrols_a_kiosk_on_its_region_and_retires_it_there(
    brokers: Brokers, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    admin = MqttSettings(port=brokers.region.port, username=ADMIN_USER)
    north = RegionHome(
        "north",
        "127.0.0.1",
        brokers.region.port,
        False,
        BrokerAdmin(dataclasses.replace(admin, password=brokers.region_admin)),
    )
    trust = KioskTrust(
        issuer_keys=(keys.did_key(seeded("issuer")),),
        ledger_key=keys.did_key(seeded("ledger")),
        mqtt_host="127.0.0.1",
        mqtt_port=brokers.central.port,
        mqtt_tls=False,
    )
    app = create_app(
        {"DATABASE_URL": url, "TESTING": True, "KIOSK_TRUST": trust, "REGIONS": {"north": north}}
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {create_token('alice technician')}"}
    body = {"device_key": keys.did_key(seeded("north-device")), "venue_id": "cafe-1"}
    unknown = client.post("/v1/operator/kiosks", json={**body, "region": "mars"}, headers=headers)
    assert (unknown.status_code, unknown.get_json()["error"]) == (400, "unknown_region")
    made = client.post("/v1/operator/kiosks", json={**body, "region": "north"}, headers=headers)
    assert made.status_code == 201, made.get_json()
    answer = made.get_json()
    kiosk_id, login = answer["kiosk_id"], answer["mqtt"]
    assert (login["host"], login["port"]) == ("127.0.0.1", brokers.region.port)
    assert home_of(kiosk_id) == "north"
    moved = client.post("/v1/operator/kiosks", json=body, headers=headers)  # to the centre
    assert (moved.status_code, moved.get_json()["error"]) == (409, "conflict")

    _bridge_up()
    aggregator = Seen(brokers.central.port, AGGREGATOR_USER, brokers.aggregator_password)
    aggregator.subscribe(topics.ALL_CHECKINS)
    checkin = topics.topic(kiosk_id, topics.CHECKIN)
    assert _publish_v5(brokers.region.port, kiosk_id, login["password"], checkin) == 0
    aggregator.got(checkin, b"forged")  # its account lives on its home broker
    aggregator.stop()

    retired = client.post(f"/v1/operator/kiosks/{kiosk_id}/retire", headers=headers)
    assert retired.status_code == 200, retired.get_json()
    assert _connack(brokers.region.port, kiosk_id, login["password"]) == 135  # gone
    database.close()
