"""The kiosk's MQTT link against a real Mosquitto: TLS, credentials, config topic, resends.

The TLS material is made here with ``cryptography``: a CA, a broker certificate for
127.0.0.1 and a kiosk client certificate. Nothing is mocked: paho connects to a
Mosquitto TLS listener that requires the client certificate and a password.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aggregator.revocations import paho_publisher, publish_revocations
from kiosk.config import KioskConfig
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.frames import GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link_paho import MqttLink
from kiosk.outbox import Outbox
from protocol import keys, topics
from protocol.checkin import parse_checkin
from protocol.kiosk_config import parse_kiosk_config
from protocol.status import parse_status
from simulator.broker import BrokerTls, LocalBroker
from simulator.render import render_code_frame
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded
from transport.settings import MqttSettings

pytestmark = pytest.mark.integration

LEDGER = seeded("link-ledger")
KIOSK = "kiosk-1"
PASSWORD = "correct horse"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _cert(subject, key, issuer, issuer_key, *, ca: bool, san=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("safecode test CA", ca_key, "safecode test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(
        "broker",
        server_key,
        "safecode test CA",
        ca_key,
        ca=False,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert(KIOSK, client_key, "safecode test CA", ca_key, ca=False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("another CA", other_key, "another CA", other_key, ca=True)
    return Pki(
        ca=_pem(ca, folder / "ca.pem"),
        server_cert=_pem(server, folder / "server.pem"),
        server_key=_write_key(server_key, folder / "server.key"),
        client_cert=_pem(client, folder / "kiosk.pem"),
        client_key=_write_key(client_key, folder / "kiosk.key"),
        other_ca=_pem(other, folder / "other-ca.pem"),
    )


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    workdir = tmp_path_factory.mktemp("tls-broker")
    passwords = workdir / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), KIOSK, PASSWORD],
        check=True,
        capture_output=True,
    )
    tls = BrokerTls(pki.ca, pki.server_cert, pki.server_key, require_certificate=True)
    with LocalBroker(workdir=workdir, tls=tls, password_file=passwords) as running:
        yield running


def _settings(broker: LocalBroker, pki: Pki, **changes) -> MqttSettings:
    options = {
        "host": broker.host,
        "port": broker.port,
        "tls": True,
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
        "username": KIOSK,
        "password": PASSWORD,
        "reconnect_min_s": 1,
        "reconnect_max_s": 2,
    }
    options.update(changes)
    return MqttSettings(**{k: v for k, v in options.items() if v is not None})


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_kiosk_link_connects_over_tls_with_its_certificate_and_password(
    tls_broker: LocalBroker, pki: Pki
) -> None:
    link = MqttLink(KIOSK, _settings(tls_broker, pki))
    link.start()
    try:
        assert link.wait_connected(10), link.last_error
        assert link.client.is_connected() and link.client._ssl  # noqa: SLF001 - it is TLS
        link.publish_status(queue=0)
        # An operator with the CA reads the retained status over TLS, too.
        seen = threading.Event()
        got: list[bytes] = []
        reader = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator")
        reader.tls_set(
            ca_certs=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.client_key)
        )
        reader.username_pw_set(KIOSK, PASSWORD)
        reader.on_message = lambda c, u, m: (got.append(m.payload), seen.set())
        reader.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.topic(KIOSK, topics.STATUS))
        reader.connect(tls_broker.host, tls_broker.port)
        reader.loop_start()
        try:
            assert seen.wait(10)
            assert parse_status(got[0])["state"] == "online"
        finally:
            reader.disconnect()
            reader.loop_stop()
    finally:
        link.stop()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ca_file": None}, "certificate not trusted"),  # the system CAs do not know ours
        ({"ca_file": "other"}, "certificate not trusted"),
        ({"password": "wrong"}, "broker refused the connection"),
    ],
    ids=["no-ca", "wrong-ca", "wrong-password"],
)
def test_kiosk_link_fails_clearly(
    tls_broker: LocalBroker, pki: Pki, changes: dict, expected: str, caplog
) -> None:
    if changes.get("ca_file") == "other":
        changes = {**changes, "ca_file": str(pki.other_ca)}
    link = MqttLink(KIOSK, _settings(tls_broker, pki, **changes))
    link.start()
    try:
        assert _wait(lambda: link.last_error is not None, 10)
        assert not link.connected
        assert expected in link.last_error
        assert any(expected in r.getMessage() for r in caplog.records)
    finally:
        link.stop()


def test_plain_client_cannot_use_the_tls_listener(tls_broker: LocalBroker, pki: Pki) -> None:
    link = MqttLink(
        KIOSK, _settings(tls_broker, pki, tls=False, ca_file=None, cert_file=None, key_file=None)
    )
    link.start()
    try:
        assert not link.wait_connected(3)
    finally:
        link.stop()


# -- the retained config topic and resends, on a plain broker --------------------------------


@pytest.fixture
def plain_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with LocalBroker(workdir=tmp_path / "broker") as running:
        yield running


def _publisher(broker: LocalBroker) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="aggregator-test")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def test_retained_config_reaches_a_kiosk_that_connects_later(plain_broker: LocalBroker) -> None:
    publisher = _publisher(plain_broker)
    try:
        sent = publish_revocations(
            lambda topic, payload: paho_publisher(publisher)(topic, payload).wait_for_publish(5),
            LEDGER,
            [b"\x01" * 8, b"\x02" * 8],
            serial=3,
            kiosk_ids=[KIOSK, "kiosk-2"],
        )
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    link = MqttLink(KIOSK, MqttSettings(host=plain_broker.host, port=plain_broker.port))
    link.start()
    try:
        assert link.wait_connected(10)
        assert _wait(lambda: not link.configs.empty())
        wire = link.poll_config()
        assert wire == sent[KIOSK]
        message = parse_kiosk_config(wire)
        message.verify(LEDGER.public_key())
        assert message.kiosk_id == KIOSK and message.serial == 3
        assert message.revoked == {b"\x01" * 8, b"\x02" * 8}
    finally:
        link.stop()


def test_firmware_publishes_unreceipted_checkins_again(
    plain_broker: LocalBroker, tmp_path: Path
) -> None:
    """No aggregator answers: the kiosk sends the same signed record again each timeout."""
    issuer, device = seeded("link-issuer"), seeded("link-device")
    code = enrol_visitor(issuer, time.time()).show(time.time()).to_text()
    seen: list[bytes] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    watcher.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.topic(KIOSK, topics.CHECKIN), 1)
    watcher.connect(plain_broker.host, plain_broker.port)
    watcher.loop_start()
    config = KioskConfig(
        kiosk_id=KIOSK,
        venue_id="venue-1",
        state_dir=tmp_path / "state",
        issuer_keys=(keys.did_key(issuer),),
        ledger_key=keys.did_key(LEDGER),
        resend_after_s=1.0,
        mqtt=MqttSettings(host=plain_broker.host, port=plain_broker.port),
    )
    source = GeneratedFrameSource(lambda i: render_code_frame(code) if i == 0 else None).open()
    outbox = Outbox(config.outbox_path)
    factory = mock_pin_factory()
    kiosk = Kiosk(
        config,
        device_key=device,
        source=source,
        decoder=default_decoder(),
        feedback=Feedback(load_pins(), factory),
        link=MqttLink(KIOSK, config.mqtt),
        outbox=outbox,
    )
    try:
        kiosk.link.start()
        assert kiosk.link.wait_connected(10)
        time.sleep(0.3)  # the watcher's subscription is in place
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen) < 3:
            kiosk.step(frame_timeout=0.05)
        assert kiosk.counters.accepted == 1
        assert len(seen) >= 3 and len(set(seen)) == 1, "the same signed bytes, again and again"
        assert parse_checkin(seen[0]).seq == 1
        assert outbox.Row.get_by_id(1).attempts >= 3
        assert outbox.stats().pending == 1  # a PUBACK is not delivery
    finally:
        kiosk.link.stop()
        kiosk.feedback.close()
        outbox.close()
        source.close()
        watcher.disconnect()
        watcher.loop_stop()


def test_a_kiosk_waits_a_random_while_before_reconnecting_to_a_restarted_broker(
    plain_broker: LocalBroker,
) -> None:
    """The broker restarts: the link draws a jittered wait, then connects again by itself."""
    settings = MqttSettings(
        host=plain_broker.host,
        port=plain_broker.port,
        reconnect_min_s=1,
        reconnect_max_s=2,
        reconnect_jitter_s=0.5,
    )
    link = MqttLink(KIOSK, settings)
    drawn: list[float] = []
    draw = link.jitter.next_delay
    link.jitter.next_delay = lambda: drawn.append(draw()) or drawn[-1]  # type: ignore[method-assign]
    link.start()
    try:
        assert link.wait_connected(10)
        plain_broker.stop()
        assert _wait(lambda: not link.connected)
        plain_broker.start()
        assert _wait(lambda: link.connected and link.connects == 2, timeout=20)
        assert drawn, "no jittered wait before reconnecting"
        assert all(0 <= d <= 2 for d in drawn)
        assert link.jitter.attempts == 0  # connected again: the window starts over
    finally:
        link.stop()
