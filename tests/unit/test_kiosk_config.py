"""Kiosk configuration (kiosk.config): load_config / parse_config and ConfigError."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from kiosk.config import CameraSettings, ConfigError, KioskConfig, load_config, parse_config
from protocol import keys
from tests.unit.wire_checks import seeded
from transport.settings import MqttSettings

ISSUER = seeded("config-issuer")
OLD_ISSUER = keys.generate()
LEDGER = keys.generate()


def valid() -> dict[str, Any]:
    """A complete config, shaped as provisioning/site.py writes it."""
    return {
        "kiosk": {
            "id": "kiosk-1",
            "venue": "venue-1",
            "state_dir": "state",
            "door": "entrance",
        },
        "trust": {
            "issuer_keys": [keys.did_key(ISSUER), keys.did_key(OLD_ISSUER)],
            "ledger_key": keys.did_key(LEDGER),
        },
        "mqtt": {"host": "broker.example", "port": 8883, "tls": True, "username": "kiosk-1"},
        "camera": {
            "kind": "simulated",
            "path": "/srv/visitors.crowd",
            "fps": 10.0,
            "visitor_share": [1, 3],
        },
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def changed(section: str, key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(valid())
    data[section][key] = value
    return data


def without(section: str, key: str | None = None) -> dict[str, Any]:
    data = copy.deepcopy(valid())
    if key is None:
        del data[section]
    else:
        del data[section][key]
    return data


def test_valid_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, valid()))
    assert config == KioskConfig(
        kiosk_id="kiosk-1",
        venue_id="venue-1",
        state_dir=tmp_path / "state",
        issuer_keys=(keys.did_key(ISSUER), keys.did_key(OLD_ISSUER)),
        ledger_key=keys.did_key(LEDGER),
        door="entrance",
        mqtt=MqttSettings(host="broker.example", port=8883, tls=True, username="kiosk-1"),
        camera=CameraSettings(
            kind="simulated", path="/srv/visitors.crowd", fps=10.0, visitor_share=[1, 3]
        ),
    )
    assert config.device_key_path == tmp_path / "state" / "device.key"
    assert config.outbox_path == tmp_path / "state" / "outbox.sqlite"
    assert [keys.public_bytes(k) for k in config.issuer_public_keys()] == [
        keys.public_bytes(ISSUER),
        keys.public_bytes(OLD_ISSUER),
    ]
    assert keys.public_bytes(config.ledger_public_key()) == keys.public_bytes(LEDGER)


def test_defaults_and_optional_settings(tmp_path: Path) -> None:
    data = without("mqtt")
    del data["camera"]
    data["kiosk"].update(
        {
            "window_s": 20,
            "skew_s": 3,
            "repeat_minutes": 5.5,
            "resend_after_s": 2.5,
            "max_in_flight": 10,
            "pins_file": "pins.toml",
        }
    )
    del data["kiosk"]["door"]
    config = load_config(write(tmp_path, data))
    assert config.door == "entrance"
    assert config.mqtt == MqttSettings()
    assert config.camera == CameraSettings()
    assert (config.window_s, config.skew_s, config.repeat_minutes) == (20, 3, 5.5)
    assert (config.resend_after_s, config.max_in_flight) == (2.5, 10)
    assert config.pins_file == tmp_path / "pins.toml"


def test_an_empty_pins_file_means_none(tmp_path: Path) -> None:
    # Configs written before protocol/kiosk_toml.py said "no pins file" this way.
    config = parse_config(changed("kiosk", "pins_file", ""), base=tmp_path)
    assert config.pins_file is None


def test_absolute_state_dir_is_kept(tmp_path: Path) -> None:
    config = parse_config(changed("kiosk", "state_dir", "/var/lib/safecode"), base=tmp_path)
    assert config.state_dir == Path("/var/lib/safecode")


@pytest.mark.parametrize("door", ["entrance", "exit", "both"])
def test_every_door_is_accepted(tmp_path: Path, door: str) -> None:
    assert parse_config(changed("kiosk", "door", door), base=tmp_path).door == door


# -- file errors --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="no such config file") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"[kiosk\nid = 'kiosk-1'\n",
        b"kiosk = = 1\n",
        b"[kiosk]\nid = 'a'\nid = 'b'\n",
        b"\xff\xfe not utf-8",
    ],
)
def test_invalid_toml(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# -- missing parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("kiosk", None),
        ("trust", None),
        ("kiosk", "id"),
        ("kiosk", "venue"),
        ("kiosk", "state_dir"),
        ("trust", "issuer_keys"),
        ("trust", "ledger_key"),
    ],
)
def test_missing_section_or_field(tmp_path: Path, section: str, key: str | None) -> None:
    with pytest.raises(ConfigError, match="config lacks") as info:
        load_config(write(tmp_path, without(section, key)))
    assert repr(key or section) in str(info.value)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("kiosk", "colour", "blue"),
        ("mqtt", "hostname", "x"),
        ("camera", "lens", "wide"),
    ],
)
def test_unknown_fields_are_refused(tmp_path: Path, section: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"config is invalid.*{key}"):
        load_config(write(tmp_path, changed(section, key, value)))


# -- bad values ---------------------------------------------------------------------------


@pytest.mark.parametrize("kiosk_id", ["Kiosk_1", "a/b", "#", "", "-kiosk", "k" * 64, 7])
def test_bad_kiosk_id(tmp_path: Path, kiosk_id: Any) -> None:
    with pytest.raises(ConfigError, match="kiosk id"):
        parse_config(changed("kiosk", "id", kiosk_id), base=tmp_path)


@pytest.mark.parametrize("door", ["front", "Entrance", "", 1])
def test_bad_door(tmp_path: Path, door: Any) -> None:
    with pytest.raises(ConfigError, match="kiosk.door must be one of entrance, exit, both"):
        parse_config(changed("kiosk", "door", door), base=tmp_path)


@pytest.mark.parametrize("kind", ["webcam", "PICAMERA2", "", 3])
def test_bad_camera_kind(tmp_path: Path, kind: Any) -> None:
    with pytest.raises(ConfigError, match="camera.kind must be picamera2, replay or simulated"):
        parse_config(changed("camera", "kind", kind), base=tmp_path)


@pytest.mark.parametrize("fps", [0, -1, 121, 1000.0, "15", float("nan"), float("inf")])
def test_bad_fps(tmp_path: Path, fps: Any) -> None:
    with pytest.raises(ConfigError, match="camera.fps"):
        parse_config(changed("camera", "fps", fps), base=tmp_path)


@pytest.mark.parametrize(
    ("name", "value"), [("width", 8), ("height", 5000), ("width", 640.0), ("height", "480")]
)
def test_bad_frame_size(tmp_path: Path, name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"camera.{name} must be an integer"):
        parse_config(changed("camera", name, value), base=tmp_path)


@pytest.mark.parametrize(
    "share", [[3, 3], [-1, 2], [0, 0], [0, 1, 2], [1], ["0", 2], [0.0, 2], [True, 2]]
)
def test_bad_visitor_share(tmp_path: Path, share: Any) -> None:
    with pytest.raises(ConfigError, match="camera.visitor_share"):
        parse_config(changed("camera", "visitor_share", share), base=tmp_path)


def test_scalar_visitor_share_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="camera.visitor_share"):
        parse_config(changed("camera", "visitor_share", 2), base=tmp_path)


@pytest.mark.parametrize(
    "did",
    [
        "did:key:nothing",
        "did:key:z0OIl",  # not base58
        "did:web:example.com",
        keys.did_key(ISSUER)[:-4],  # too short
        keys.did_key(ISSUER) + "abcd",  # too long
        "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",  # X25519, not Ed25519
        "",
        42,
    ],
)
@pytest.mark.parametrize("where", ["issuer", "ledger"])
def test_malformed_did_key(tmp_path: Path, did: Any, where: str) -> None:
    if where == "issuer":
        data = changed("trust", "issuer_keys", [keys.did_key(ISSUER), did])
    else:
        data = changed("trust", "ledger_key", did)
    with pytest.raises(ConfigError, match="config is invalid.*(did:key|Ed25519)"):
        parse_config(data, base=tmp_path)


@pytest.mark.parametrize(
    "name", ["window_s", "skew_s", "repeat_minutes", "resend_after_s", "max_in_flight"]
)
@pytest.mark.parametrize("value", [-1, -0.5, "10", True])
def test_bad_numbers(tmp_path: Path, name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"kiosk.{name} must be a finite non-negative number"):
        parse_config(changed("kiosk", name, value), base=tmp_path)


def test_negative_window_from_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kiosk.window_s must be a finite non-negative number"):
        load_config(write(tmp_path, changed("kiosk", "window_s", -30)))


@pytest.mark.parametrize("venue", ["Venue 1", "venue/1", ""])
def test_bad_venue_id(tmp_path: Path, venue: str) -> None:
    with pytest.raises(ConfigError, match="venue"):
        parse_config(changed("kiosk", "venue", venue), base=tmp_path)


@pytest.mark.parametrize("section", ["kiosk", "trust", "mqtt", "camera"])
def test_section_of_the_wrong_type(tmp_path: Path, section: str) -> None:
    data = copy.deepcopy(valid())
    data[section] = 5
    with pytest.raises(ConfigError):
        parse_config(data, base=tmp_path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", ["window_s", "repeat_minutes", "resend_after_s"])
def test_non_finite_numbers_are_config_errors(tmp_path: Path, name: str, value: float) -> None:
    path = write(tmp_path, changed("kiosk", name, value))  # TOML has nan and inf
    with pytest.raises(ConfigError, match=f"kiosk.{name}"):
        load_config(path)


def test_kiosk_section_as_a_string_is_a_config_error(tmp_path: Path) -> None:
    data = copy.deepcopy(valid())
    data["kiosk"] = "kiosk-1"
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, data))


# -- delivery, disk and MQTT settings -----------------------------------------------------


def test_housekeeping_settings(tmp_path: Path) -> None:
    data = copy.deepcopy(valid())
    data["kiosk"].update(
        {
            "heartbeat_s": 30,
            "retention_hours": 6,
            "rejected_retention_days": 28,
            "disk_low_mb": 100,
            "disk_low_percent": 10,
            "disk_reserve_mb": 8,
            "camera_stall_s": 20,
        }
    )
    config = parse_config(data, base=tmp_path)
    assert (config.heartbeat_s, config.retention_hours, config.rejected_retention_days) == (
        30,
        6,
        28,
    )
    assert (config.disk_low_mb, config.disk_low_percent, config.disk_reserve_mb) == (100, 10, 8)
    assert config.camera_stall_s == 20
    defaults = parse_config(valid(), base=tmp_path)
    assert (defaults.retention_hours, defaults.rejected_retention_days) == (24.0, 28.0)
    assert (defaults.disk_low_mb, defaults.disk_low_percent) == (50.0, 5.0)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("heartbeat_s", 0, "at least 1"),
        ("camera_stall_s", 0.5, "at least 1"),
        ("disk_low_percent", 101, "at most 100"),
        ("retention_hours", -1, "finite non-negative"),
        ("disk_reserve_mb", "5", "finite non-negative"),
    ],
)
def test_bad_housekeeping_settings(tmp_path: Path, name: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=f"kiosk.{name}.*{match}"):
        parse_config(changed("kiosk", name, value), base=tmp_path)


def test_tls_settings_and_relative_paths(tmp_path: Path) -> None:
    data = copy.deepcopy(valid())
    data["mqtt"].update(
        {
            "ca_file": "tls/ca.pem",
            "cert_file": "/etc/safecode/kiosk.crt",
            "key_file": "tls/kiosk.key",
            "password": "s3cret",
            "reconnect_min_s": 2,
            "reconnect_max_s": 60,
        }
    )
    mqtt = parse_config(data, base=tmp_path).mqtt
    assert mqtt.ca_file == str(tmp_path / "tls" / "ca.pem")
    assert mqtt.cert_file == "/etc/safecode/kiosk.crt"
    assert mqtt.key_file == str(tmp_path / "tls" / "kiosk.key")
    assert (mqtt.username, mqtt.password) == ("kiosk-1", "s3cret")
    assert (mqtt.reconnect_min_s, mqtt.reconnect_max_s) == (2, 60)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tls_insecure": True}, "tls_insecure is refused"),
        ({"tls": False, "ca_file": "ca.pem"}, "need mqtt.tls = true"),
        ({"key_file": "k.pem"}, "key_file needs mqtt.cert_file"),
        ({"username": None, "password": "x"}, "password needs mqtt.username"),
        ({"reconnect_min_s": 10, "reconnect_max_s": 5}, "must not exceed"),
        ({"reconnect_max_s": 0}, "reconnect_max_s must be an integer"),
        ({"port": 0}, "mqtt.port"),
        ({"port": "1883"}, "mqtt.port"),
        ({"tls": "yes"}, "mqtt.tls must be true or false"),
        ({"host": ""}, "mqtt.host"),
    ],
)
def test_bad_mqtt_settings(tmp_path: Path, changes: dict[str, Any], match: str) -> None:
    data = copy.deepcopy(valid())
    data["mqtt"].update(changes)
    data["mqtt"] = {k: v for k, v in data["mqtt"].items() if v is not None}
    with pytest.raises(ConfigError, match=match):
        parse_config(data, base=tmp_path)


def test_unreadable_ca_file_fails_when_the_client_is_made(tmp_path: Path) -> None:
    from transport.paho_client import make_client

    data = changed("mqtt", "ca_file", "missing-ca.pem")
    settings = parse_config(data, base=tmp_path).mqtt
    with pytest.raises(OSError):
        make_client(settings, "kiosk-1")
