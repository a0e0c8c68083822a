"""Regional brokers: the bridge section, the central bridge account, the region map."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.broker_init import BrokerInitError
from aggregator.broker_regions import (
    bridge_acls,
    bridge_lines,
    bridge_user,
    central_account_commands,
    check_region,
    init_region_dir,
)
from aggregator.cli import aggregator_group
from aggregator.region_homes import parse_regions
from provisioning.regions import RegionBroker, RegionError, home_kiosk, read_region_map
from support.config_file import ConfigError


def test_bridge_carries_checkins_and_status_out_receipts_and_config_in() -> None:
    lines = bridge_lines("north", central_host="10.0.0.1", central_port=8883, password="pw")
    assert "connection safecode-north" in lines
    assert "address 10.0.0.1:8883" in lines
    assert "remote_username safecode_bridge_north" in lines
    assert {"cleansession false", "try_private true", "bridge_protocol_version mqttv311"} <= set(
        lines
    )
    assert [line for line in lines if line.startswith("topic ")] == [
        "topic safecode/v1/kiosk/+/checkin out 1",
        "topic safecode/v1/kiosk/+/status out 1",
        "topic safecode/v1/kiosk/+/receipt in 1",
        "topic safecode/v1/kiosk/+/config in 1",
    ]
    assert not any(line.startswith("bridge_cafile") for line in lines)
    tls = bridge_lines(
        "north", central_host="c", central_port=8883, password="pw", central_cafile=Path("/ca")
    )
    assert "bridge_cafile /ca" in tls and "bridge_insecure false" in tls


def test_bridge_account_may_only_carry_kiosk_topics() -> None:
    acls = {(acl["acltype"], acl["topic"]) for acl in bridge_acls()}
    assert ("publishClientSend", "safecode/v1/kiosk/+/checkin") in acls
    assert ("publishClientReceive", "safecode/v1/kiosk/+/receipt") in acls
    assert not any(topic.startswith("$CONTROL") or topic == "#" for _, topic in acls)
    assert not any(
        kind == "publishClientSend" and topic.endswith(("/receipt", "/config"))
        for kind, topic in acls
    )
    commands = central_account_commands("south-east", "pw")
    assert bridge_user("south-east") == "safecode_bridge_south_east"
    assert [c["command"] for c in commands] == [
        "deleteClient",
        "deleteRole",
        "createRole",
        "createClient",
    ]
    assert commands[-1]["roles"] == [{"rolename": "safecode_bridge_south_east"}]


@pytest.mark.parametrize("name", ["", "North", "1st", "a/b", "a b", "x" * 32, "n\nconnection x"])
def test_bad_region_names_are_refused(name: str) -> None:
    with pytest.raises(BrokerInitError, match="region"):
        check_region(name)


@pytest.mark.parametrize(
    ("field", "value"), [("central_host", "evil\nconnection x"), ("password", "a b\nx")]
)
def test_nothing_breaks_out_of_its_config_line(field: str, value: str) -> None:
    options = {"central_host": "c", "central_port": 1883, "password": "pw", field: value}
    with pytest.raises(BrokerInitError):
        bridge_lines("north", **options)  # type: ignore[arg-type]


def test_region_dir_has_the_bridge_private_and_included(tmp_path: Path) -> None:
    written, password = init_region_dir(
        tmp_path / "north", "north", port=1884, central_host="c", central_port=1883
    )
    bridge = tmp_path / "north" / "conf.d" / "bridge.conf"
    assert bridge in written
    assert stat.S_IMODE(bridge.stat().st_mode) == 0o600
    assert f"remote_password {password}" in bridge.read_text()
    conf = (tmp_path / "north" / "mosquitto.conf").read_text()
    assert conf.rstrip().endswith(f"include_dir {bridge.parent.resolve()}")
    assert password not in conf
    with pytest.raises(BrokerInitError, match="exists already"):
        init_region_dir(tmp_path / "north", "north", port=1884, central_host="c", central_port=1)


def test_broker_region_command_refuses_before_writing(tmp_path: Path) -> None:
    runner = CliRunner()
    secret = tmp_path / "admin.password"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    args = ["broker-region", "--region", "north", "--dir", str(tmp_path / "n")]
    args += ["--central-host", "c", "--central-admin-password-file", str(secret)]
    result = runner.invoke(aggregator_group, args)
    assert result.exit_code != 0 and "chmod 600" in result.output
    secret.chmod(0o600)
    bad = runner.invoke(aggregator_group, [*args[:2], "Bad Name", *args[3:]])
    assert bad.exit_code != 0 and "region" in bad.output
    half_tls = runner.invoke(aggregator_group, [*args, "--cafile", str(secret)])
    assert half_tls.exit_code != 0 and "--certfile and --keyfile" in half_tls.output
    assert not (tmp_path / "n").exists()


def test_region_map_records_homes(tmp_path: Path) -> None:
    path = tmp_path / "regions.toml"
    assert read_region_map(path).kiosks == {}
    north = RegionBroker("north", "mqtt-north", 8883, admin_password="secret")
    home_kiosk(path, "kiosk-1", north)
    home_kiosk(path, "kiosk-2", RegionBroker("south", "mqtt-south", 8883))
    home_kiosk(path, "kiosk-1", RegionBroker("south", "mqtt-south", 8883))  # moved
    found = read_region_map(path)
    assert found.kiosks == {"kiosk-1": "south", "kiosk-2": "south"}
    assert found.regions["north"] == {"host": "mqtt-north", "port": 8883}
    assert "secret" not in path.read_text()
    assert found.region_of("kiosk-2") == "south"
    with pytest.raises(RegionError, match="no region"):
        found.region_of("kiosk-9")
    path.write_text('[regions]\n[kiosks]\nkiosk-1 = "gone"\n')
    with pytest.raises(RegionError, match="unknown region"):
        read_region_map(path)


def test_regions_table_of_the_aggregator_config(tmp_path: Path) -> None:
    secret = tmp_path / "north-admin.password"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    admin = {"username": "safecode_admin", "password_file": secret.name}
    homes = parse_regions(
        {"north": {"host": "mqtt-north", "port": 8883, "broker_admin": admin}}, base=tmp_path
    )
    north = homes["north"]
    assert (north.host, north.port, north.tls) == ("mqtt-north", 8883, True)
    assert north.admin is not None and north.admin.settings.password == "pw"
    assert north.admin.settings.host == "mqtt-north"  # the admin connection defaults there
    assert parse_regions(None, base=tmp_path) == {}
    assert parse_regions({"south": {"host": "s"}}, base=tmp_path)["south"].admin is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "must be a table"),
        ({"North": {"host": "h"}}, "region"),
        ({"north": "h"}, "must be a table"),
        ({"north": {"host": "h", "colour": 1}}, "unknown key"),
        ({"north": {}}, "host"),
        ({"north": {"host": "h\nx"}}, "host"),
        ({"north": {"host": "h", "port": 0}}, "port"),
        ({"north": {"host": "h", "port": True}}, "port"),
        ({"north": {"host": "h", "tls": "yes"}}, "tls"),
        ({"north": {"host": "h", "broker_admin": {"username": "a"}}}, "password"),
    ],
)
def test_bad_regions_tables_are_refused(tmp_path: Path, table: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_regions(table, base=tmp_path)
