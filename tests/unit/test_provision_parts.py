"""Provisioning's parsers and pure parts: inventory, fingerprints, device layout, config."""

from __future__ import annotations

import asyncio
import http.server
import json
import shlex
import stat
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.config import parse_config
from protocol import keys
from protocol.enrolment import KioskTrust, SiteAnswer
from provisioning.batch_cli import INTERNAL, print_report, run_all
from provisioning.enrol import EnrolOptions, enrol_device
from provisioning.errors import OutcomeUnknown, StepFailed
from provisioning.hostkeys import check_fingerprint, host_pattern
from provisioning.inventory import Device as InventoryDevice
from provisioning.inventory import InventoryError, parse_inventory, read_inventory
from provisioning.layout import DeviceLayout, KioskSettings, render_config, systemctl_argv
from provisioning.operator_client import OperatorClient, check_aggregator_url
from provisioning.remote import ATOMIC_WRITE, SshTarget
from provisioning.retire import parse_unit_name
from simulator.broker import free_port
from tests.unit.wire_checks import seeded

PIN = "SHA256:" + "a" * 43


def test_a_good_inventory_with_comments_defaults_and_every_column() -> None:
    devices, bad = parse_inventory(
        "\ufeff# fleet\nhost,venue,port,user,kiosk_id,door,host_key,prefix\n"
        f"pi-1.local,cafe-1,,,,,,\n10.0.0.7,cafe-2,2222,tech,door-7,exit,{PIN},/srv/img\n"
    )
    assert bad == []
    assert (devices[0].host, devices[0].port, devices[0].user) == ("pi-1.local", 22, None)
    second = devices[1]
    assert (second.line, second.port, second.kiosk_id, second.door) == (4, 2222, "door-7", "exit")
    assert (second.host_key, second.prefix) == (PIN, "/srv/img")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("pi,Cafe", "venue 'Cafe'"),
        ("pi;rm -rf,cafe", "not a host name"),
        ("pi,cafe,99999", "port '99999'"),
        ("pi,cafe,22,Root!", "user 'Root!'"),
        ("pi,cafe,22,,UPPER", "kiosk_id 'UPPER'"),
        ("pi,cafe,22,,,side", "door 'side'"),
        ("pi,cafe,22,,,,MD5:aa", "fingerprint"),
        ("pi,cafe,22,,,,,relative/path", "absolute path"),
        ("pi,cafe", "2 cells"),
    ],
)
def test_each_bad_line_is_reported_with_its_number(line: str, problem: str) -> None:
    header = "host,venue,port,user,kiosk_id,door,host_key,prefix"
    if line.count(",") < 7 and "cells" not in problem:
        line += "," * (7 - line.count(","))
    devices, bad = parse_inventory(f"{header}\nok,cafe,,,,,,\n{line}\n")
    assert [d.host for d in devices] == ["ok"]
    assert [b.line for b in bad] == [3]
    assert problem in bad[0].problem


def test_duplicate_devices_are_refused() -> None:
    devices, bad = parse_inventory("host,venue\npi,cafe\npi,bar\n")
    assert len(devices) == 1 and "same device as line 2" in bad[0].problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("host,venue,colour\n", "unknown column 'colour'"),
        ("host\npi\n", "'venue' column"),
        ("host,venue,host\n", "appears twice"),
    ],
)
def test_unusable_inventories_stop_with_a_message(text: str, message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        parse_inventory(text)


def test_unreadable_inventory_files(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        read_inventory(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InventoryError, match="not UTF-8"):
        read_inventory(binary)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzzed_inventories_never_crash(text: str) -> None:
    try:
        devices, bad = parse_inventory("host,venue,port,prefix\n" + text)
    except InventoryError:
        return
    for device in devices:
        assert 1 <= device.port <= 65535 and "\n" not in device.host


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_fingerprints_are_checked_strictly(text: str) -> None:
    try:
        assert check_fingerprint(text).startswith("SHA256:")
    except ValueError as exc:
        assert "SHA256:" in str(exc)


def test_known_hosts_names_and_systemctl_prefix() -> None:
    assert host_pattern("pi", 22) == "pi"
    assert host_pattern("127.0.0.1", 2222) == "[127.0.0.1]:2222"
    assert systemctl_argv("fake --root {prefix}", "/srv/d 1") == ["fake", "--root", "/srv/d", "1"]
    assert systemctl_argv("systemctl", "/") == ["systemctl"]


@pytest.mark.parametrize(
    "prefix",
    ["relative", "", "/a/../b", "/a\nb", "/srv/it's", "/srv/%i", "/srv/a b", "/srv/$(id)", "/é"],
)
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix .* must be an absolute path of letters"):
        DeviceLayout(prefix)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_accepted_prefixes_are_plain_paths(text: str) -> None:
    """Whatever is accepted needs no shell quoting and holds no systemd specifier."""
    try:
        layout = DeviceLayout(text)
    except ValueError:
        return
    assert shlex.quote(layout.prefix) == layout.prefix and "%" not in layout.prefix
    assert systemctl_argv("fake --root {prefix}", layout.prefix)[-1] == layout.prefix


def test_inventory_prefix_with_a_quote_is_a_bad_line() -> None:
    devices, bad = parse_inventory("host,venue,port,prefix\npi,cafe-1,22,/srv/it's\n")
    assert devices == [] and "prefix" in bad[0].problem


def test_unit_paths_move_under_the_prefix_and_not_in_production() -> None:
    unit = (
        "ExecStart=/opt/safecode/venv/bin/safecode kiosk run --config /etc/safecode/kiosk.toml\n"
        "ReadWritePaths=/var/lib/safecode\n"
    )
    assert DeviceLayout("/").rewrite_unit(unit) == unit
    moved = DeviceLayout("/srv/dev").rewrite_unit(unit)
    assert "ExecStart=/srv/dev/opt/safecode/venv/bin/safecode" in moved
    assert "--config /srv/dev/etc/safecode/kiosk.toml" in moved
    assert "ReadWritePaths=/srv/dev/var/lib/safecode\n" in moved


def test_rendered_config_is_deterministic_and_loads_as_a_kiosk_config(tmp_path: Path) -> None:
    layout = DeviceLayout(str(tmp_path))
    settings_ = KioskSettings(
        kiosk_id="k-1",
        venue="cafe-1",
        door="entrance",
        issuer_keys=(keys.did_key(seeded("issuer")),),
        ledger_key=keys.did_key(seeded("ledger")),
        mqtt={"host": "b", "port": 8883, "tls": True, "username": "k-1", "password": "pw"},
        camera={"kind": "picamera2", "path": None},
    )
    first = render_config(layout, settings_)
    assert first == render_config(layout, settings_)
    config = parse_config(tomllib.loads(first.decode()), base=tmp_path / "etc/safecode")
    assert config.kiosk_id == "k-1" and config.mqtt.password == "pw" and config.mqtt.tls
    assert config.device_key_path == tmp_path / "var/lib/safecode/device.key"
    assert config.pins_file == tmp_path / "etc/safecode/pins.toml"


def test_device_constraints_keep_the_system_numpy_for_picamera2() -> None:
    from provisioning.install import device_constraints

    pins = "# pins\nnumpy==2.4.6\nopencv-python-headless==5.0.0.93\npeewee==4.5.3\n"
    assert device_constraints(pins, None) == pins
    on_a_pi = device_constraints(pins, "1.24.2").splitlines()
    assert on_a_pi == ["# pins", "peewee==4.5.3", "numpy==1.24.2"]


@pytest.mark.spawns
def test_atomic_write_makes_parent_folders_0755_and_the_file_its_own_mode(
    tmp_path: Path,
) -> None:
    """The remote write script run by a real sh: a fresh /etc/safecode is not 0700."""
    target = tmp_path / "etc" / "safecode" / "kiosk.toml"
    subprocess.run(
        [
            "sh",
            "-c",
            f'umask 077; exec sh -c {shlex.quote(ATOMIC_WRITE)} sh "$@"',
            "sh",
            str(target),
            "640",
        ],
        input=b"x = 1\n",
        check=True,
    )
    assert target.read_bytes() == b"x = 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    for folder in (tmp_path / "etc", target.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert not list(target.parent.glob("*.safecode-new"))


SITE = SiteAnswer(
    "operator-1",
    KioskTrust(
        issuer_keys=(keys.did_key(seeded("issuer")),),
        ledger_key=keys.did_key(seeded("ledger")),
        mqtt_host="broker.example",
        mqtt_port=8883,
        mqtt_tls=True,
    ),
)


class _Answers(http.server.BaseHTTPRequestHandler):
    """A tiny HTTP server answering by path: /status/<code>, /moved (a 302 elsewhere),
    /v1/operator/site (a valid site answer)."""

    seen_auth: ClassVar[list[str]] = []

    def _answer(self) -> None:
        _Answers.seen_auth.append(self.headers.get("Authorization", ""))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2:9/steal")
            self.end_headers()
            return
        code = int(self.path.rsplit("/", 1)[-1]) if "/status/" in self.path else 200
        body = b'{"error": "x", "message": "y"}'
        if self.path == "/v1/operator/site":
            body = json.dumps(SITE.to_dict()).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def answers() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_failed_registration_says_whether_it_may_have_happened(answers: str) -> None:
    """4xx: refused (safe to undo); 5xx or no answer after sending: outcome unknown."""
    for code, kind in ((409, StepFailed), (400, StepFailed), (502, OutcomeUnknown)):
        with pytest.raises(StepFailed) as failed:
            OperatorClient(f"{answers}/status/{code}", "t")._call("POST", "", "register", {})
        assert type(failed.value) is kind, code
    with pytest.raises(StepFailed) as failed:  # a GET changes nothing: never unknown
        OperatorClient(f"{answers}/status/503", "t")._call("GET", "", "registry")
    assert type(failed.value) is StepFailed
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StepFailed) as failed:  # refused connection: never sent
        OperatorClient(closed, "t").enrol("did:key:z", "cafe-1")
    assert type(failed.value) is StepFailed


def test_redirects_are_refused_and_the_token_goes_nowhere_else(answers: str) -> None:
    _Answers.seen_auth.clear()
    with pytest.raises(StepFailed, match="redirected .*302.*refused"):
        OperatorClient(f"{answers}/moved", "secret").site()
    assert _Answers.seen_auth == ["Bearer secret"]  # one request: the redirect not followed


@pytest.mark.parametrize(
    "url",
    [
        "https://agg.example",
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://[::1]:80/",
        "http://localhost:5000/api",
    ],
)
def test_aggregator_urls_accepted(url: str) -> None:
    assert check_aggregator_url(url) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://agg.example", "plain http"),
        ("http://10.0.0.1", "plain http"),
        ("http://127.0.0.1.evil.example", "plain http"),
        ("ftp://agg.example", "not an https"),
        ("agg.example", "not an https"),
        ("https://", "not an https"),
    ],
)
def test_aggregator_urls_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_aggregator_url(url)
    with pytest.raises(ValueError, match=problem):
        OperatorClient(url, "t")


def test_one_devices_unexpected_error_fails_that_device_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A crash while preparing one device is its failed row; the others run, the table prints."""
    closed = f"http://127.0.0.1:{free_port()}"
    devices = [
        InventoryDevice(2, "pi-1", "cafe-1", 22, None, None, None, None, None),
        InventoryDevice(3, "pi-2", "cafe-1", 22, None, None, None, None, None),
    ]

    def make(device: InventoryDevice) -> tuple[SshTarget, EnrolOptions, OperatorClient]:
        if device.host == "pi-1":
            raise KeyError("surprise")
        options = EnrolOptions(venue="cafe-1", wheel=tmp_path / "none.whl")
        return SshTarget(device.host), options, OperatorClient(closed, "t")

    results = asyncio.run(run_all(devices, make, jobs=2, retries=0, on_done=lambda r: None))
    first, second = results
    assert (first.failed_step, first.error) == (INTERNAL, "KeyError: 'surprise'")
    assert "Traceback" in caplog.text and "line 2 (pi-1)" in caplog.text
    assert second.failed_step == "aggregator" and "cannot reach" in (second.error or "")
    print_report(devices, results, [], 1.0, as_json=False)
    out = capsys.readouterr().out
    assert "KeyError" in out and "0 of 2 enrolled" in out and "1 internal errors" in out


def test_a_bad_prefix_or_systemctl_fails_the_device_with_its_step(answers: str) -> None:
    """ValueError from layout or shlex becomes the device's failed result, not a crash."""
    client = OperatorClient(answers, "t")
    bad_prefix = EnrolOptions(venue="cafe-1", wheel=Path("x.whl"), prefix="/srv/it's")
    result = asyncio.run(enrol_device(SshTarget("pi-1"), bad_prefix, client))
    assert result.failed_step == "options" and "prefix" in (result.error or "")
    # The site check passes, then connecting to a closed port fails.
    closed = SshTarget("127.0.0.1", port=free_port(), connect_timeout=5)
    result = asyncio.run(enrol_device(closed, EnrolOptions("cafe-1", Path("x.whl")), client))
    assert result.failed_step == "connect" and result.state == "untouched"


def test_retire_and_rekey_take_the_kiosk_unit_by_file_or_name() -> None:
    assert parse_unit_name("/srv/units/my-kiosk.service") == "my-kiosk.service"
    assert parse_unit_name("safecode-kiosk@door1.service") == "safecode-kiosk@door1.service"
    for bad in ("kiosk.timer", "a b.service", "x;reboot.service", ""):
        with pytest.raises(click.BadParameter, match="not a .service unit"):
            parse_unit_name(bad)
