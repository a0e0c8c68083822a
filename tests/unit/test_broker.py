"""The private Mosquitto launcher (simulator.broker) against the real mosquitto binary."""

from __future__ import annotations

import os
import pwd
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from simulator import broker as broker_module
from simulator.broker import BrokerError, LocalBroker, find_mosquitto

pytestmark = pytest.mark.spawns


@pytest.fixture
def running(tmp_path: Path) -> Iterator[LocalBroker]:
    with LocalBroker(workdir=tmp_path / "broker") as started:
        yield started


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_starts_on_a_free_port_and_accepts_an_mqtt_connection(running: LocalBroker) -> None:
    assert running.host == "127.0.0.1" and 0 < running.port < 65536
    connected = threading.Event()
    codes: list[mqtt.ReasonCode] = []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        codes.append(reason_code)
        connected.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-broker")
    client.on_connect = on_connect
    client.connect(running.host, running.port)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK from the broker"
        assert len(codes) == 1 and not codes[0].is_failure
        info = client.publish("safecode/test/ping", b"x", qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_two_brokers_get_different_ports(tmp_path: Path) -> None:
    with (
        LocalBroker(workdir=tmp_path / "one") as one,
        LocalBroker(workdir=tmp_path / "two") as two,
    ):
        assert one.port != two.port


def test_runs_in_its_own_session(running: LocalBroker) -> None:
    assert running.process is not None
    # A terminal's Ctrl-C goes to its foreground process group, not to this session.
    assert os.getsid(running.process.pid) != os.getsid(0)
    assert os.getpgid(running.process.pid) != os.getpgid(0)


def test_config_runs_mosquitto_as_the_current_user(tmp_path: Path) -> None:
    text = LocalBroker(workdir=tmp_path).config_text()
    lines = text.splitlines()
    assert f"user {pwd.getpwuid(os.geteuid()).pw_name}" in lines
    assert f"persistence_location {tmp_path}/" in lines
    assert lines[0].startswith("listener ") and lines[0].endswith(" 127.0.0.1")


def test_persistence_is_written_and_the_log_is_clean(tmp_path: Path) -> None:
    workdir = tmp_path / "broker"
    with LocalBroker(workdir=workdir) as running:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-retained")
        client.connect(running.host, running.port)
        client.loop_start()
        try:
            info = client.publish("safecode/test/retained", b"kept", qos=1, retain=True)
            info.wait_for_publish(timeout=10)
            assert info.is_published()
        finally:
            client.disconnect()
            client.loop_stop()
    assert (workdir / "mosquitto.db").is_file()  # written on shutdown
    log = (workdir / "mosquitto.log").read_text(encoding="utf-8", errors="replace")
    assert "Permission denied" not in log and "Error" not in log


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    broker = LocalBroker(workdir=tmp_path / "broker").start()
    assert broker.process is not None
    pid = broker.process.pid
    assert not _gone(pid)
    broker.stop()
    assert broker.process is None
    assert _gone(pid)  # stopped and reaped: no zombie either
    with pytest.raises(OSError):
        socket.create_connection((broker.host, broker.port), timeout=1).close()
    broker.stop()  # idempotent


def test_temporary_workdir_is_removed_on_stop() -> None:
    broker = LocalBroker().start()
    workdir = broker.workdir
    assert (workdir / "mosquitto.conf").is_file()
    broker.stop()
    assert not workdir.exists()


def test_missing_binary_is_a_broker_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(broker_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(broker_module, "MOSQUITTO_FALLBACK", str(tmp_path / "no-mosquitto"))
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        find_mosquitto()
    broker = LocalBroker(workdir=tmp_path / "broker")
    with pytest.raises(BrokerError, match="not installed"):
        broker.start()
    assert broker.process is None


def test_a_port_in_use_is_a_clear_broker_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(port, workdir=tmp_path / "broker")
        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port} is already in use"):
            broker.start()
        assert broker.process is None


def test_mosquitto_exiting_at_start_is_a_broker_error_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Skip the up-front check so mosquitto itself meets the taken port and exits. The
    # socket is bound but not listening, so nothing answers in mosquitto's place.
    monkeypatch.setattr(broker_module, "_port_taken", lambda host, port: False)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        broker = LocalBroker(port, workdir=tmp_path / "broker")
        with pytest.raises(BrokerError) as err:
            broker.start()
    message = str(err.value)
    assert "mosquitto exited with code" in message and f"127.0.0.1:{port}" in message
    assert "in use" in message  # mosquitto's own words, from its log
    assert broker.process is None


def test_tls_and_password_options_reach_the_config(tmp_path: Path) -> None:
    tls = broker_module.BrokerTls(
        tmp_path / "ca.pem", tmp_path / "s.pem", tmp_path / "s.key", require_certificate=True
    )
    text = LocalBroker(workdir=tmp_path, tls=tls, password_file=tmp_path / "pw").config_text()
    lines = text.splitlines()
    assert lines[0].startswith("listener ")
    for line in (
        f"cafile {tmp_path / 'ca.pem'}",
        f"certfile {tmp_path / 's.pem'}",
        f"keyfile {tmp_path / 's.key'}",
        "require_certificate true",
        "allow_anonymous false",
        f"password_file {tmp_path / 'pw'}",
    ):
        assert line in lines
    assert "allow_anonymous true" not in lines
    plain = LocalBroker(workdir=tmp_path).config_text().splitlines()
    assert "allow_anonymous true" in plain and not any(x.startswith("cafile") for x in plain)
