"""``safecode provision`` against a real sshd, a running aggregator and a real broker."""

from __future__ import annotations

import hashlib
import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.db import KioskEntry, open_database
from tests.integration.provision_rig import ProvisionRig, wheel_for_tests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvisionRig]:
    root = tmp_path_factory.mktemp("provision")
    running = ProvisionRig(root, wheel_for_tests(root / "wheel"))
    try:
        yield running
    finally:
        running.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry(rig: ProvisionRig) -> dict[str, KioskEntry]:
    db = open_database(rig.site.database_url, create=False)
    try:
        return {k.kiosk_id: k for k in KioskEntry.select()}
    finally:
        db.close()


def test_enrol_end_to_end_then_rerun_changes_nothing_then_retire(rig: ProvisionRig) -> None:
    prefix = rig.device("door-1")
    args = ["provision", "enrol", "127.0.0.1", "--venue", "cafe-1", *rig.enrol_args(prefix)]
    refused = rig.safecode(*args, "--json")
    assert refused.returncode == 1, refused.stderr
    unknown = json.loads(refused.stdout)
    assert unknown["failed_step"] == "host key" and "--accept-host-key SHA256:" in unknown["error"]
    assert not (prefix / "opt").exists()  # nothing touched

    first = rig.safecode(*args, "--accept-host-key", rig.sshd.fingerprint, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    result = json.loads(first.stdout)
    kiosk_id = result["kiosk_id"]
    assert result["state"] == "enrolled"
    assert {"software", "device key", "registered", "config"} <= set(result["changed"])
    key = prefix / "var/lib/safecode/device.key"
    config = prefix / "etc/safecode/kiosk.toml"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    settings = tomllib.loads(config.read_text())
    assert settings["kiosk"] == {
        "id": kiosk_id,
        "venue": "cafe-1",
        "door": "entrance",
        "state_dir": str(prefix / "var/lib/safecode"),
        "pins_file": str(prefix / "etc/safecode/pins.toml"),
    }
    assert settings["trust"]["ledger_key"].startswith("did:key:")
    assert settings["mqtt"]["port"] == rig.broker.port
    unit = (prefix / "etc/systemd/system/safecode-kiosk.service").read_text()
    assert f"ExecStart={prefix}/opt/safecode/venv/bin/safecode kiosk run" in unit
    entry = registry(rig)[kiosk_id]
    assert entry.venue_id == "cafe-1" and not entry.retired
    assert result["device_key"].startswith("did:key:")
    calls = (prefix / "var/log/systemctl.calls").read_text()
    assert "enable safecode-kiosk.service" in calls and "restart" in calls

    before = (digest(key), digest(config), config.stat().st_mtime_ns)
    again = rig.safecode(*args, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["changed"] == [] and rerun["kiosk_id"] == kiosk_id
    assert (digest(key), digest(config), config.stat().st_mtime_ns) == before
    assert len(registry(rig)) == 1
    assert (prefix / "var/log/systemctl.calls").read_text().count("restart") == 1

    human = rig.safecode(*args)
    assert f"enrolled as {kiosk_id} at cafe-1 (nothing changed)" in human.stdout
    assert "took" in human.stdout

    retired = rig.safecode(
        "provision",
        "retire",
        "127.0.0.1",
        "--port",
        str(rig.sshd.port),
        "--prefix",
        str(prefix),
        "--systemctl",
        rig.systemctl(prefix),
        *rig.common_args(),
    )
    assert retired.returncode == 0, retired.stderr
    assert f"retired {kiosk_id}" in retired.stdout
    assert registry(rig)[kiosk_id].retired
    assert not key.exists() and not config.exists()
    assert (
        "disable --now safecode-kiosk.service" in (prefix / "var/log/systemctl.calls").read_text()
    )
