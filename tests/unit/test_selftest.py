"""``safecode kiosk selftest`` against a real Mosquitto, a closed port and broken parts.

Configs come from ``safecode provision init-site`` (simulated camera) and are edited
per test; lights run on gpiozero mock pins.
"""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner, Result
from gpiozero import Device
from PIL import Image

from kiosk import selftest as st
from kiosk import source_registry
from kiosk.clock import KioskClock
from kiosk.config import load_config
from kiosk.frames import GeneratedFrameSource
from kiosk.instance_lock import AlreadyRunning, InstanceLock, is_running
from kiosk.outbox import Outbox
from safecode.cli import cli
from simulator.broker import LocalBroker, free_port

FAST = ["--mock-pins", "--lamp-seconds", "0.02", "--timeout", "3"]


def make_site(root: Path, port: int) -> Path:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["provision", "init-site", str(root), "--kiosks", "1", "--mqtt-port", str(port)],
    )
    assert result.exit_code == 0, result.output
    return root / "kiosks" / "kiosk-1" / "kiosk.toml"


def edit(config: Path, **tables: dict[str, Any]) -> None:
    data = tomllib.loads(config.read_text())
    for table, values in tables.items():
        data.setdefault(table, {}).update(values)
    config.write_text(tomli_w.dumps(data))


def selftest(config: Path, *extra: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["kiosk", "selftest", "--config", str(config), *FAST, *extra])
    report = json.loads(result.output) if "--json" in extra else {}
    return result, report


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


@pytest.fixture(autouse=True)
def _no_default_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A synchronised clock (the kernel's answer, then timesyncd's flag file, say yes)."""
    flag = tmp_path / "synchronized"
    flag.touch()
    monkeypatch.setattr("kiosk.clock.TIMESYNC_FLAG", flag)
    monkeypatch.setattr("kiosk.clock.system_clock_synced", lambda: True)
    return flag


@pytest.fixture
def config(tmp_path: Path, broker: LocalBroker) -> Path:
    return make_site(tmp_path / "site", broker.port)


@pytest.fixture
def closed_port_config(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", free_port())


# -- everything working -----------------------------------------------------------------


def test_all_checks_pass_against_a_real_broker(config: Path, synced: Path) -> None:
    result, report = selftest(config, "--json")
    assert result.exit_code == 0, result.output
    assert report["ok"] is True and report["kiosk"] == "kiosk-1"
    table = rows(report)
    assert list(table) == [
        "pin map",
        "lights and buzzer",
        "camera",
        "broker",
        "outbox",
        "disk",
        "device key",
        "clock",
    ]
    assert all(row["status"] == "PASS" for row in table.values()), table
    assert "connected" in table["broker"]["detail"]
    assert "640x480 frame" in table["camera"]["detail"]
    assert "green, red, amber, active buzzer" in table["lights and buzzer"]["detail"]
    assert "did:key:" in table["device key"]["detail"]
    assert "synchronised" in table["clock"]["detail"]


def test_the_table_has_one_row_per_check(config: Path, synced: Path) -> None:
    result, _ = selftest(config)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["check", "result", "detail"]
    assert len(lines) == 2 + len(st.CHECKS) + 1
    assert lines[-1] == "all checks passed"
    assert all(" PASS " in line for line in lines[2:-1])


def test_an_unsynchronised_clock_warns_but_passes(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kiosk.clock.TIMESYNC_FLAG", tmp_path / "absent")
    monkeypatch.setattr("kiosk.clock.system_clock_synced", lambda: False)
    result, report = selftest(config, "--json")
    assert result.exit_code == 0, result.output
    assert rows(report)["clock"]["status"] == "WARN"
    assert "not synchronised" in rows(report)["clock"]["detail"]


def test_a_replay_camera_and_an_existing_outbox(config: Path, synced: Path) -> None:
    folder = config.parent / "frames"
    folder.mkdir()
    Image.fromarray(np.full((240, 320), 128, np.uint8)).save(folder / "0.png")
    edit(config, camera={"kind": "replay", "path": str(folder)})
    box = Outbox(load_config(config).outbox_path)
    box.append(lambda seq: (os.urandom(16), b"record"), int(time.time() * 1000))
    box.close()
    result, report = selftest(config, "--json")
    assert result.exit_code == 0, result.output
    assert "320x240 frame" in rows(report)["camera"]["detail"]
    assert "integrity ok, 1 waiting for a receipt" in rows(report)["outbox"]["detail"]


# -- broken parts: a FAIL row each, never a traceback -------------------------------------


def assert_fails(result: Result, report: dict[str, Any], name: str, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert report["ok"] is False
    row = rows(report)[name]
    assert row["status"] == "FAIL", row
    for word in words:
        assert word in row["detail"], row


def test_a_closed_broker_port_fails_only_the_broker_row(
    closed_port_config: Path, synced: Path
) -> None:
    result, report = selftest(closed_port_config, "--json")
    assert_fails(result, report, "broker", "connection refused")
    others = [row for name, row in rows(report).items() if name != "broker"]
    assert all(row["status"] == "PASS" for row in others), others


def test_a_closed_broker_port_in_the_table(closed_port_config: Path, synced: Path) -> None:
    result, _ = selftest(closed_port_config)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "1 check(s) FAILED" in result.output.splitlines()[-1]
    broker_line = next(line for line in result.output.splitlines() if line.startswith("broker"))
    assert " FAIL " in broker_line and "connection refused" in broker_line


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (no CONNACK)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


def test_a_broker_that_never_answers_times_out(
    config: Path, synced: Path, silent_listener: int
) -> None:
    edit(config, mqtt={"port": silent_listener})
    start = time.monotonic()
    result, report = selftest(config, "--json", "--timeout", "0.5")
    assert_fails(result, report, "broker", "no CONNACK within 0.5 s")
    assert time.monotonic() - start < 10


def test_a_missing_camera_folder(config: Path, synced: Path) -> None:
    edit(config, camera={"kind": "replay", "path": str(config.parent / "nowhere")})
    result, report = selftest(config, "--json")
    assert_fails(result, report, "camera", "no such image file or folder")


def test_a_camera_that_gives_no_frame(
    config: Path, synced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dark(camera: Any) -> GeneratedFrameSource:
        return GeneratedFrameSource(lambda i: np.zeros((8, 8), np.uint8), limit=0)

    monkeypatch.setitem(source_registry._registered, "simulated", dark)
    result, report = selftest(config, "--json", "--timeout", "0.3")
    assert_fails(result, report, "camera", "gave no frame within 0.3 s")


def test_a_camera_that_hangs_hits_the_deadline(
    config: Path, synced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hung(camera: Any) -> GeneratedFrameSource:
        return GeneratedFrameSource(lambda i: time.sleep(3))

    monkeypatch.setitem(source_registry._registered, "simulated", hung)
    monkeypatch.setattr(st, "DEADLINE_SLACK_S", 0.5)
    result, report = selftest(config, "--json", "--timeout", "0.3")
    assert_fails(result, report, "camera", "no answer within 0.8 s")


def test_a_missing_device_key(config: Path, synced: Path) -> None:
    key = config.parent / "state" / "device.key"
    key.unlink()
    result, report = selftest(config, "--json")
    assert_fails(result, report, "device key", "no device key", "safecode kiosk keygen")


def test_a_device_key_others_can_read(config: Path, synced: Path) -> None:
    (config.parent / "state" / "device.key").chmod(0o644)
    result, report = selftest(config, "--json")
    assert_fails(result, report, "device key", "readable by others", "0644")


def test_a_device_key_that_is_not_a_key(config: Path, synced: Path) -> None:
    key = config.parent / "state" / "device.key"
    key.write_bytes(b"not a pem file")
    key.chmod(0o600)
    result, report = selftest(config, "--json")
    assert_fails(result, report, "device key", "ValueError")


def test_an_outbox_that_is_not_a_database(config: Path, synced: Path) -> None:
    path = load_config(config).outbox_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not SQLite " * 300)
    result, report = selftest(config, "--json")
    assert_fails(result, report, "outbox", str(path))


def test_a_nearly_full_disk(config: Path, synced: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st, "MIN_FREE_BYTES", 1 << 60)
    result, report = selftest(config, "--json")
    assert_fails(result, report, "disk", "only", "free")


def test_a_bad_pin_map_fails_both_pin_rows(config: Path, synced: Path) -> None:
    pins = config.parent / "pins.toml"
    pins.write_text("[leds]\ngreen = 5\nred = 5\namber = 6\n[buzzer]\npin = 7\n")
    edit(config, kiosk={"pins_file": "pins.toml"})
    result, report = selftest(config, "--json")
    assert_fails(result, report, "pin map", "GPIO 5 is leds.green and leds.red")
    assert_fails(result, report, "lights and buzzer", "four different GPIOs")


def test_without_mock_pins_off_a_pi_the_lights_row_says_what_to_do(
    config: Path, synced: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["kiosk", "selftest", "--config", str(config), "--json", "--timeout", "3"]
    )
    report = json.loads(result.output)
    if rows(report)["lights and buzzer"]["status"] == "PASS":
        pytest.skip("this machine has GPIO")
    assert_fails(result, report, "lights and buzzer", "--mock-pins")


def test_a_tonal_buzzer_is_tested_too(config: Path, synced: Path) -> None:
    pins = config.parent / "pins.toml"
    pins.write_text("[leds]\ngreen = 5\nred = 6\namber = 13\n[buzzer]\npin = 19\nkind = 'tonal'\n")
    edit(config, kiosk={"pins_file": "pins.toml"})
    result, report = selftest(config, "--json")
    assert result.exit_code == 0, result.output
    assert "tonal buzzer" in rows(report)["lights and buzzer"]["detail"]


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["kiosk", "selftest", "--config", str(tmp_path / "missing.toml")]
    )
    assert result.exit_code == 1
    assert "no such config file" in result.output


# -- the check runner ---------------------------------------------------------------------


def test_a_hung_check_is_a_fail_row_after_its_deadline() -> None:
    start = time.monotonic()
    result = st.run_check("slow", lambda: time.sleep(30) or "never", timeout=0.2)
    assert time.monotonic() - start < 2
    assert result.status == st.FAIL and "no answer within 0.2 s" in result.detail


def test_an_unexpected_error_is_a_bug_and_keeps_its_traceback() -> None:
    def broken() -> str:
        return {}["missing"]

    with pytest.raises(KeyError):
        st.run_check("buggy", broken, timeout=2)


def test_expected_errors_are_fail_rows() -> None:
    def refused() -> str:
        raise ConnectionRefusedError("nobody there")

    result = st.run_check("net", refused, timeout=2)
    assert result.status == st.FAIL
    assert result.detail == "ConnectionRefusedError: nobody there"


def test_a_clock_never_set_fails(config: Path) -> None:
    clock = KioskClock(synced=lambda: True, wall=lambda: 86_400.0)
    options = st.SelftestOptions(clock=clock)
    result = st.run_check("clock", lambda: st.check_clock(load_config(config), options), 2)
    assert result.status == st.FAIL and "1970-01-02" in result.detail


@pytest.mark.parametrize("command", ["selftest", "status"])
def test_the_new_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["kiosk", command, "--help"])
    assert result.exit_code == 0 and "--config" in result.output and "--json" in result.output


def test_the_broker_check_does_not_take_over_the_kiosks_session(
    config: Path, broker: LocalBroker
) -> None:
    """A running kiosk (client id = kiosk id) stays connected while selftest reaches the broker."""
    import threading

    from transport.paho_client import make_client

    kiosk_config = load_config(config)
    firmware = InstanceLock(kiosk_config.state_dir).acquire()  # as `kiosk run` holds it
    running = make_client(kiosk_config.mqtt, kiosk_config.kiosk_id)
    up, dropped = threading.Event(), threading.Event()
    running.on_connect = lambda *args: up.set()
    running.on_disconnect = lambda *args: dropped.set()
    running.connect(broker.host, broker.port)
    running.loop_start()
    try:
        assert up.wait(5)
        detail = st.check_broker(kiosk_config, st.SelftestOptions(broker_timeout=3))
        assert "connected as kiosk-1-selftest" in detail
        assert not dropped.wait(0.5), "selftest kicked the kiosk's own connection off"
        assert running.is_connected()
    finally:
        running.disconnect()
        running.loop_stop()
        firmware.release()


def test_with_no_kiosk_running_the_broker_check_logs_in_as_the_kiosk_and_takes_nothing(
    config: Path, broker: LocalBroker
) -> None:
    """Its own client id and session; what waits for the kiosk is still there afterwards."""
    import threading

    from protocol import topics
    from transport.paho_client import make_client

    kiosk_config = load_config(config)
    receipt_topic = topics.topic(kiosk_config.kiosk_id, topics.RECEIPT)
    got: list[bytes] = []
    arrived = threading.Event()

    def kiosk_session() -> Any:
        client = make_client(kiosk_config.mqtt, kiosk_config.kiosk_id)
        subscribed = threading.Event()
        client.on_subscribe = lambda *args: subscribed.set()
        client.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
        client.on_connect = lambda c, *args: c.subscribe(receipt_topic, qos=1)
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert subscribed.wait(5)
        return client

    first = kiosk_session()  # the kiosk's persistent session, subscribed to its receipts
    first.disconnect()
    first.loop_stop()
    sender = make_client(kiosk_config.mqtt, "aggregator-stand-in", persistent=False)
    sender.connect(broker.host, broker.port)
    sender.loop_start()
    sender.publish(receipt_topic, b"queued receipt", qos=1).wait_for_publish(5)
    sender.disconnect()
    sender.loop_stop()
    detail = st.check_broker(kiosk_config, st.SelftestOptions(broker_timeout=3))
    assert "connected as kiosk-1 " in detail
    again = kiosk_session()
    try:
        assert arrived.wait(5), "the selftest took the receipt queued for the kiosk"
        assert got == [b"queued receipt"]
    finally:
        again.disconnect()
        again.loop_stop()


def test_a_second_firmware_process_is_refused(config: Path) -> None:
    kiosk_config = load_config(config)
    assert not is_running(kiosk_config.state_dir)
    with InstanceLock(kiosk_config.state_dir):
        assert is_running(kiosk_config.state_dir)
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            InstanceLock(kiosk_config.state_dir).acquire()
        result = CliRunner().invoke(cli, ["kiosk", "run", "--config", str(config), "--mock-pins"])
        assert result.exit_code != 0 and "another safecode kiosk process" in result.output
    assert not is_running(kiosk_config.state_dir)
