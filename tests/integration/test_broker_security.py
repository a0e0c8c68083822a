"""Per-kiosk broker accounts against a real Mosquitto running the dynamic-security plugin.

Nothing is mocked: a private Mosquitto with the plugin, the aggregator's real MqttBus
(logged in as the aggregator, on a shared subscription), kiosks as paho clients and as
the real kiosk MqttLink, and DynsecAccounts making and removing their accounts.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from aggregator.broker_accounts import BrokerAccountError, MqttCredentials
from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER, dynsec_document
from aggregator.broker_admin import broker_accounts
from aggregator.broker_cli import broker_init_command
from aggregator.bus_paho import MqttBus
from aggregator.config import load_config
from aggregator.dynsec import DynsecAccounts
from kiosk.link_paho import MqttLink
from protocol import topics
from simulator.broker import BrokerTls, LocalBroker, find_mosquitto, free_port
from tests.integration.test_kiosk_link import Pki, pki  # noqa: F401 - the TLS fixture
from transport.paho_client import make_client
from transport.settings import MqttSettings

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "admin-password-for-tests"
AGGREGATOR_PASSWORD = "aggregator-password-for-tests"


def _write_dynsec(folder: Path) -> Path:
    path = folder / "dynamic-security.json"
    path.write_text(json.dumps(dynsec_document(ADMIN_PASSWORD, AGGREGATOR_PASSWORD)))
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    workdir = tmp_path_factory.mktemp("dynsec-broker")
    with LocalBroker(workdir=workdir, dynsec_file=_write_dynsec(workdir)) as running:
        yield running


def _settings(broker: LocalBroker, username: str, password: str, **extra) -> MqttSettings:
    return MqttSettings(
        host=broker.host,
        port=broker.port,
        username=username,
        password=password,
        reconnect_min_s=1,
        reconnect_max_s=2,
        **extra,
    )


@pytest.fixture(scope="module")
def accounts(broker: LocalBroker) -> DynsecAccounts:
    return DynsecAccounts(
        _settings(broker, ADMIN_USER, ADMIN_PASSWORD),
        timeout_s=3,
        reserved={AGGREGATOR_USER},
    )


@pytest.fixture(scope="module")
def aggregator(broker: LocalBroker) -> Iterator[MqttBus]:
    """The aggregator's own bus, logged in as the aggregator, check-ins via $share."""
    bus = MqttBus(
        _settings(broker, AGGREGATOR_USER, AGGREGATOR_PASSWORD),
        "test-aggregator",
        shared_group="ingest",
    )
    bus.start()
    assert bus.wait_connected(10)
    yield bus
    bus.stop()


@dataclass
class Device:
    """A paho client with what the broker told it: SUBACKs, messages, disconnects."""

    client: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    refused: threading.Event = field(default_factory=threading.Event)
    dropped: threading.Event = field(default_factory=threading.Event)
    subacks: dict[int, list[int]] = field(default_factory=dict)
    suback: threading.Condition = field(default_factory=threading.Condition)
    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def subscribe(self, topic: str) -> int:
        """The SUBACK code for ``topic`` (1: granted QoS 1, 128: refused)."""
        _, mid = self.client.subscribe(topic, qos=1)
        with self.suback:
            assert self.suback.wait_for(lambda: mid in self.subacks, 5), topic
            return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _device(broker: LocalBroker, creds: MqttCredentials) -> Device:
    return _device_at(_settings(broker, creds.username, creds.password), creds)


def _device_at(
    settings: MqttSettings, creds: MqttCredentials, client_id: str | None = None
) -> Device:
    """A kiosk-like client logged in with ``creds`` (client id: the username by default)."""
    client = make_client(settings, client_id or creds.username, persistent=False)
    client.username_pw_set(creds.username, creds.password)
    device = Device(client)

    def on_connect(c, u, flags, rc, props) -> None:
        (device.refused if rc.is_failure else device.connected).set()

    def on_subscribe(c, u, mid, rcs, props) -> None:
        with device.suback:
            device.subacks[mid] = [rc.value for rc in rcs]
            device.suback.notify_all()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_disconnect = lambda c, u, f, rc, p: device.dropped.set()
    client.on_message = lambda c, u, m: device.messages.append((m.topic, bytes(m.payload)))
    client.connect(settings.host, settings.port)
    client.loop_start()
    return device


@pytest.fixture
def kiosks(accounts: DynsecAccounts, broker: LocalBroker) -> Iterator[tuple[Device, Device]]:
    """Kiosks A and B, each with its own fresh account, connected."""
    made = []
    for kiosk_id in ("kiosk-a", "kiosk-b"):
        device = _device(broker, accounts.ensure_kiosk(kiosk_id))
        assert device.connected.wait(5)
        made.append(device)
    yield made[0], made[1]
    for device in made:
        device.stop()


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _drain(bus: MqttBus) -> list[tuple[str, bytes]]:
    """What waits in the bus: heartbeats (their own queue) first, then the inbox."""
    seen = [message for _, message in bus.statuses.take()]
    while not bus.inbox.empty():
        seen.append(bus.inbox.get_nowait())
    return seen


def _received_until(bus: MqttBus, marker: bytes) -> list[tuple[str, bytes]]:
    """Everything the aggregator got up to and including the message ``marker``."""
    seen: list[tuple[str, bytes]] = []
    assert _wait(lambda: seen.extend(_drain(bus)) or any(p == marker for _, p in seen))
    return seen


def test_kiosk_publishes_its_own_checkin_and_status_to_the_aggregator(
    kiosks: tuple[Device, Device], aggregator: MqttBus
) -> None:
    a, _ = kiosks
    _drain(aggregator)
    a.publish(topics.topic("kiosk-a", topics.STATUS), b"status-a")
    a.publish(topics.topic("kiosk-a", topics.CHECKIN), b"checkin-a")
    seen = _received_until(aggregator, b"checkin-a")
    assert (topics.topic("kiosk-a", topics.STATUS), b"status-a") in seen
    assert (topics.topic("kiosk-a", topics.CHECKIN), b"checkin-a") in seen


def test_kiosk_is_refused_on_another_kiosks_topics(
    kiosks: tuple[Device, Device], aggregator: MqttBus
) -> None:
    a, b = kiosks
    assert b.subscribe(topics.topic("kiosk-b", topics.RECEIPT)) == 1
    _drain(aggregator)
    # A forges B's check-in and status, and answers for the aggregator (receipt, config).
    for leaf in topics.LEAVES:
        a.publish(topics.topic("kiosk-b", leaf), b"forged")
    a.publish(topics.topic("kiosk-a", topics.RECEIPT), b"forged")
    a.publish("safecode/v1/other", b"forged")
    a.publish(topics.topic("kiosk-a", topics.CHECKIN), b"marker")  # after the forgeries
    seen = _received_until(aggregator, b"marker")
    assert all(payload != b"forged" for _, payload in seen), seen
    time.sleep(0.2)
    assert b.messages == []


@pytest.mark.parametrize(
    "topic",
    [
        topics.topic("kiosk-b", topics.RECEIPT),
        topics.topic("kiosk-b", topics.CONFIG),
        topics.topic("kiosk-b", topics.CHECKIN),
        f"{topics.PREFIX}/+/receipt",
        f"{topics.PREFIX}/kiosk-a/#",
        f"{topics.PREFIX}/kiosk-a/+",
        "#",
        f"$share/g/{topics.PREFIX}/kiosk-b/receipt",
        "$CONTROL/dynamic-security/v1/response",
        "$SYS/#",
    ],
)
def test_kiosk_cannot_subscribe_beyond_its_own_topics(
    kiosks: tuple[Device, Device], topic: str
) -> None:
    a, _ = kiosks
    assert a.subscribe(topic) == 0x80


def test_kiosk_reads_its_own_receipt_and_config_only(
    kiosks: tuple[Device, Device], aggregator: MqttBus
) -> None:
    a, b = kiosks
    for device, kiosk_id in ((a, "kiosk-a"), (b, "kiosk-b")):
        assert device.subscribe(topics.topic(kiosk_id, topics.RECEIPT)) == 1
        assert device.subscribe(topics.topic(kiosk_id, topics.CONFIG)) == 1
    aggregator.send_answer("kiosk-a", b"receipt-a")
    aggregator.publish_config("kiosk-a", b"config-a")
    assert _wait(lambda: len(a.messages) == 2)
    assert sorted(a.messages) == [
        (topics.topic("kiosk-a", topics.CONFIG), b"config-a"),
        (topics.topic("kiosk-a", topics.RECEIPT), b"receipt-a"),
    ]
    time.sleep(0.2)
    assert b.messages == []
    aggregator.publish_config("kiosk-a", b"")  # clear the retained config


def test_the_real_kiosk_link_works_with_its_account(
    accounts: DynsecAccounts, broker: LocalBroker, aggregator: MqttBus
) -> None:
    creds = accounts.ensure_kiosk("kiosk-link")
    link = MqttLink("kiosk-link", _settings(broker, creds.username, creds.password))
    link.start()
    try:
        assert link.wait_connected(10), link.last_error
        _drain(aggregator)
        assert link.publish_checkin(b"from-link")
        _received_until(aggregator, b"from-link")
        aggregator.send_answer("kiosk-link", b"receipt")
        assert link.receipts.get(timeout=5) == b"receipt"
    finally:
        link.stop()
        accounts.remove_kiosk("kiosk-link")


def test_wrong_password_is_refused(accounts: DynsecAccounts, broker: LocalBroker) -> None:
    accounts.ensure_kiosk("kiosk-c")
    device = _device(broker, MqttCredentials("kiosk-c", "not-the-password"))
    try:
        assert device.refused.wait(5)
        assert not device.connected.is_set()
    finally:
        device.stop()


def test_ensure_again_gives_a_new_password_and_kills_the_old_one(
    accounts: DynsecAccounts, broker: LocalBroker
) -> None:
    first = accounts.ensure_kiosk("kiosk-d")
    second = accounts.ensure_kiosk("kiosk-d")
    assert first.username == second.username == "kiosk-d"
    assert first.password != second.password and len(second.password) >= 40
    old = _device(broker, first)
    new = _device(broker, second)
    try:
        assert old.refused.wait(5)
        assert new.connected.wait(5)
        assert new.subscribe(topics.topic("kiosk-d", topics.RECEIPT)) == 1
    finally:
        old.stop()
        new.stop()


def test_remove_kiosk_disconnects_it_at_once_and_it_cannot_come_back(
    accounts: DynsecAccounts, broker: LocalBroker
) -> None:
    device = _device(broker, accounts.ensure_kiosk("kiosk-e"))
    try:
        assert device.connected.wait(5)
        device.connected.clear()
        started = time.monotonic()
        accounts.remove_kiosk("kiosk-e")
        assert device.dropped.wait(2)
        assert time.monotonic() - started < 2
        # paho reconnects by itself (1-2 s backoff): the broker says no.
        assert device.refused.wait(5)
        assert not device.connected.is_set()
    finally:
        device.stop()
    accounts.remove_kiosk("kiosk-e")  # again: nothing to do, no error
    accounts.remove_kiosk("kiosk-never-made")


@pytest.mark.parametrize(
    "kiosk_id",
    ["", "Kiosk-A", "-a", "a/b", "a+b", "#", "a" * 64, "kiosk a", "ä", None, 7],
)
def test_malformed_kiosk_ids_never_reach_the_broker(kiosk_id: object) -> None:
    # Pointed at a closed port: reaching out would fail differently.
    nowhere = DynsecAccounts(MqttSettings(port=free_port(), username="x", password="y"))
    for call in (nowhere.ensure_kiosk, nowhere.remove_kiosk):
        with pytest.raises(BrokerAccountError, match="refused kiosk id"):
            call(kiosk_id)  # type: ignore[arg-type]


def test_reserved_accounts_are_not_kiosks(broker: LocalBroker) -> None:
    admin = DynsecAccounts(_settings(broker, ADMIN_USER, ADMIN_PASSWORD), reserved={"aggregator"})
    with pytest.raises(BrokerAccountError, match="reserved"):
        admin.remove_kiosk("aggregator")
    with pytest.raises(BrokerAccountError, match="reserved"):
        admin.ensure_kiosk("aggregator")


def test_unreachable_broker_is_a_clear_error() -> None:
    port = free_port()
    nowhere = DynsecAccounts(MqttSettings(port=port, username="x", password="y"), timeout_s=1)
    with pytest.raises(BrokerAccountError, match=f"cannot reach the broker at 127.0.0.1:{port}"):
        nowhere.ensure_kiosk("kiosk-a")


def test_silent_broker_times_out() -> None:
    with socket.socket() as listener:  # accepts TCP, never answers MQTT
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        silent = DynsecAccounts(MqttSettings(port=port, username="x", password="y"), timeout_s=1)
        started = time.monotonic()
        with pytest.raises(BrokerAccountError, match="no answer in 1 s"):
            silent.ensure_kiosk("kiosk-a")
        assert time.monotonic() - started < 3


def test_wrong_admin_password_is_a_clear_error(broker: LocalBroker) -> None:
    wrong = DynsecAccounts(_settings(broker, ADMIN_USER, "wrong"), timeout_s=2)
    with pytest.raises(BrokerAccountError, match="refused the admin login 'safecode_admin'"):
        wrong.ensure_kiosk("kiosk-a")


def test_a_non_admin_account_cannot_manage_accounts(broker: LocalBroker) -> None:
    not_admin = DynsecAccounts(_settings(broker, AGGREGATOR_USER, AGGREGATOR_PASSWORD), timeout_s=2)
    with pytest.raises(BrokerAccountError, match="does not let 'safecode_aggregator' read"):
        not_admin.ensure_kiosk("kiosk-a")


def test_plugin_errors_are_surfaced(accounts: DynsecAccounts) -> None:
    with pytest.raises(BrokerAccountError, match="broker refused noSuchCommand: Unknown command"):
        accounts.run([{"command": "noSuchCommand"}])
    with pytest.raises(BrokerAccountError, match="broker refused createRole: Role already exists"):
        accounts.run([{"command": "createRole", "rolename": "safecode_aggregator"}])


def test_dynsec_broker_over_tls(
    pki: Pki,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    tls = BrokerTls(pki.ca, pki.server_cert, pki.server_key)
    with LocalBroker(workdir=tmp_path, tls=tls, dynsec_file=_write_dynsec(tmp_path)) as secure:
        options = {"tls": True, "ca_file": str(pki.ca)}
        admin = DynsecAccounts(_settings(secure, ADMIN_USER, ADMIN_PASSWORD, **options))
        creds = admin.ensure_kiosk("kiosk-tls")
        bus = MqttBus(_settings(secure, AGGREGATOR_USER, AGGREGATOR_PASSWORD, **options))
        bus.start()
        link = MqttLink("kiosk-tls", _settings(secure, creds.username, creds.password, **options))
        link.start()
        try:
            assert bus.wait_connected(10)
            assert link.wait_connected(10), link.last_error
            assert link.client._ssl  # noqa: SLF001 - really TLS
            assert link.publish_checkin(b"over-tls")
            _received_until(bus, b"over-tls")
            admin.remove_kiosk("kiosk-tls")
            assert _wait(lambda: not link.connected, 2)
        finally:
            link.stop()
            bus.stop()
        plain = DynsecAccounts(_settings(secure, ADMIN_USER, ADMIN_PASSWORD), timeout_s=2)
        with pytest.raises(BrokerAccountError):
            plain.ensure_kiosk("kiosk-tls")


def _run_mosquitto(conf: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [find_mosquitto(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(5)


def test_broker_init_folder_runs_and_keeps_kiosk_accounts_across_restarts(
    tmp_path: Path,
) -> None:
    port = free_port()
    folder = tmp_path / "broker"
    result = CliRunner().invoke(
        broker_init_command, ["--dir", str(folder), "--port", str(port), "--bind", "127.0.0.1"]
    )
    assert result.exit_code == 0, result.output
    conf = folder / "mosquitto.conf"
    # As root, mosquitto would switch to the "mosquitto" user, who cannot read our 0600 files.
    conf.write_text(conf.read_text() + f"user {pwd.getpwuid(os.geteuid()).pw_name}\n")
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(folder / "broker-admin.password", site / "broker-admin.password")
    (site / "aggregator.toml").write_text(
        '[aggregator]\norigin = "ledger.example/safecode"\n'
        'database_url = "sqlite:///ledger.sqlite"\nledger_key = "l.key"\nissuer_key = "i.key"\n\n'
        + (folder / "aggregator-snippet.toml").read_text()
    )
    config = load_config(site / "aggregator.toml")
    accounts = broker_accounts(config.broker_admin, config.mqtt)
    process = _run_mosquitto(conf)
    try:
        assert _wait(lambda: _port_open(port))
        creds = accounts.ensure_kiosk("kiosk-init")
        bus = MqttBus(config.mqtt, "init-aggregator")
        bus.start()
        try:
            assert bus.wait_connected(10)
        finally:
            bus.stop()
    finally:
        _stop(process)
    process = _run_mosquitto(conf)  # the plugin saved the kiosk's account to its file
    try:
        assert _wait(lambda: _port_open(port))
        settings = MqttSettings(host="127.0.0.1", port=port, username=creds.username)
        device = _device_at(settings, creds)
        try:
            assert device.connected.wait(5)
            assert device.subscribe(topics.topic("kiosk-init", topics.CONFIG)) == 1
        finally:
            device.stop()
    finally:
        _stop(process)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _device_as(broker: LocalBroker, creds: MqttCredentials, client_id: str) -> Device:
    return _device_at(_settings(broker, creds.username, creds.password), creds, client_id)


def test_without_pinning_a_stolen_client_id_still_reads_nothing(
    broker: LocalBroker, aggregator: MqttBus
) -> None:
    unpinned = DynsecAccounts(
        _settings(broker, ADMIN_USER, ADMIN_PASSWORD), timeout_s=3, pin_client_id=False
    )
    a = unpinned.ensure_kiosk("kiosk-f")
    unpinned.ensure_kiosk("kiosk-g")
    impostor = _device_as(broker, a, "kiosk-g")  # A under B's client id
    try:
        assert impostor.connected.wait(5)
        assert impostor.subscribe(topics.topic("kiosk-g", topics.RECEIPT)) == 0x80
        aggregator.send_answer("kiosk-g", b"for-g")
        time.sleep(0.3)
        assert impostor.messages == []
    finally:
        impostor.stop()


def test_pinned_accounts_refuse_another_client_id(broker: LocalBroker) -> None:
    pinned = DynsecAccounts(
        _settings(broker, ADMIN_USER, ADMIN_PASSWORD), timeout_s=3, pin_client_id=True
    )
    a = pinned.ensure_kiosk("kiosk-h")
    impostor = _device_as(broker, a, "kiosk-i")
    own = _device(broker, a)
    try:
        assert impostor.refused.wait(5)
        assert own.connected.wait(5)
    finally:
        impostor.stop()
        own.stop()
        pinned.remove_kiosk("kiosk-h")


def test_aggregator_without_its_acls_says_so(
    broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    unpinned = DynsecAccounts(
        _settings(broker, ADMIN_USER, ADMIN_PASSWORD), timeout_s=3, pin_client_id=False
    )
    creds = unpinned.ensure_kiosk("kiosk-not-aggregator")
    bus = MqttBus(_settings(broker, creds.username, creds.password), "wrong-aggregator")
    bus.start()
    try:
        assert bus.wait_connected(10)
        assert any("broker refused the subscription" in r.getMessage() for r in caplog.records)
    finally:
        bus.stop()


def test_kiosk_selftest_on_a_pinned_broker_never_disturbs_the_kiosk(tmp_path: Path) -> None:
    """No firmware running: selftest logs in as the kiosk. Running: judged from the outbox."""
    from kiosk.config import load_config as load_kiosk_config
    from kiosk.instance_lock import InstanceLock
    from kiosk.outbox import LINK_DOWN_MS, LINK_UP_MS, Outbox
    from kiosk.selftest import CheckFailed, SelftestOptions, check_broker
    from simulator.demo_broker import start_broker
    from simulator.site import init_simulated_site
    from transport.paho_client import make_client

    broker, logins = start_broker(tmp_path / "broker", lambda line: None)
    try:
        assert logins is not None
        site = init_simulated_site(
            tmp_path / "site", kiosks=1, visitors=1, mqtt_port=broker.port, broker_logins=logins
        )
        config = load_kiosk_config(site.kiosk_configs[0])
        options = SelftestOptions(broker_timeout=3)
        assert "connected as kiosk-1 " in check_broker(config, options)
        outbox = Outbox(config.outbox_path)
        # What the firmware notes with each heartbeat sent while its link is up.
        outbox.set_meta(LINK_UP_MS, str(int(time.time() * 1000)).encode())
        with InstanceLock(config.state_dir):
            kiosk = make_client(config.mqtt, config.kiosk_id)
            up, dropped = threading.Event(), threading.Event()
            kiosk.on_connect = lambda *args: up.set()
            kiosk.on_disconnect = lambda *args: dropped.set()
            kiosk.connect(broker.host, broker.port)
            kiosk.loop_start()
            try:
                assert up.wait(5)
                detail = check_broker(config, options)
                assert "second login beside the running kiosk" in detail
                assert "link is up" in detail
                assert not dropped.wait(0.5) and kiosk.is_connected()
                outbox.set_meta(LINK_DOWN_MS, str(int(time.time() * 1000) + 1).encode())
                with pytest.raises(CheckFailed, match="link was down"):
                    check_broker(config, options)
                assert kiosk.is_connected()
            finally:
                kiosk.disconnect()
                kiosk.loop_stop()
        outbox.close()
    finally:
        broker.stop()
