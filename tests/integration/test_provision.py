"""``safecode provision`` against a real sshd, a running aggregator and a real broker."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aggregator.db import KioskEntry, open_database
from aggregator.registry import enrol_kiosk
from kiosk.clock import KioskClock
from kiosk.outbox import Outbox
from protocol import keys
from protocol.checkin import sign_checkin
from simulator.broker import free_port
from simulator.visitors import load_crowd
from tests.integration.provision_rig import (
    FAKE_SYSTEMCTL,
    ProvisionRig,
    broker_accepts,
    rig_fixture,
)
from tests.integration.sshd import keygen

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, kiosk_wheel: Path) -> Iterator[ProvisionRig]:
    yield from rig_fixture(tmp_path_factory, "provision", kiosk_wheel)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry(rig: ProvisionRig) -> dict[str, KioskEntry]:
    db = open_database(rig.site.database_url, create=False)
    try:
        return {k.kiosk_id: k for k in KioskEntry.select()}
    finally:
        db.close()


def take_kiosk_id(rig: ProvisionRig, kiosk_id: str) -> str:
    """Register ``kiosk_id`` with some other device's key, so an enrolment under it conflicts."""
    db = open_database(rig.site.database_url, create=False)
    try:
        enrol_kiosk(kiosk_id, "cafe-9", keys.public_bytes(Ed25519PrivateKey.generate()))
    finally:
        db.close()
    return kiosk_id


@dataclass(frozen=True)
class Door:
    """A simulated device under ``prefix`` and the enrol command line for it."""

    prefix: Path
    args: list[str]

    @property
    def key(self) -> Path:
        return self.prefix / "var/lib/safecode/device.key"

    @property
    def config(self) -> Path:
        return self.prefix / "etc/safecode/kiosk.toml"

    def systemctl_calls(self) -> str:
        return (self.prefix / "var/log/systemctl.calls").read_text()


def refuses_an_unknown_host_key(rig: ProvisionRig, door: Door) -> None:
    refused = rig.safecode(*door.args, "--json")
    assert refused.returncode == 1, refused.stderr
    unknown = json.loads(refused.stdout)
    assert unknown["failed_step"] == "host key" and "--accept-host-key SHA256:" in unknown["error"]
    assert not (door.prefix / "opt").exists()  # nothing touched


def enrols(rig: ProvisionRig, door: Door) -> str:
    """The first enrolment: key, config, unit, registry entry, services; the kiosk id."""
    prefix = door.prefix
    first = rig.safecode(*door.args, "--accept-host-key", rig.sshd.fingerprint, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    result = json.loads(first.stdout)
    kiosk_id = result["kiosk_id"]
    assert result["state"] == "enrolled"
    assert {"software", "device key", "registered", "config"} <= set(result["changed"])
    assert stat.S_IMODE(door.key.stat().st_mode) == 0o600
    settings = tomllib.loads(door.config.read_text())
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
    calls = door.systemctl_calls()
    assert "enable safecode-kiosk.service" in calls and "restart" in calls
    assert "enable systemd-time-wait-sync.service" in calls  # scan with a synced clock
    dropin = prefix / "etc/systemd/system/systemd-time-wait-sync.service.d/safecode.conf"
    assert "TimeoutStartSec=" in dropin.read_text()
    return kiosk_id


def reruns_changing_nothing(rig: ProvisionRig, door: Door, kiosk_id: str) -> None:
    before = (digest(door.key), digest(door.config), door.config.stat().st_mtime_ns)
    again = rig.safecode(*door.args, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["changed"] == [] and rerun["kiosk_id"] == kiosk_id
    assert (digest(door.key), digest(door.config), door.config.stat().st_mtime_ns) == before
    assert len(registry(rig)) == 1
    assert door.systemctl_calls().count("restart") == 1

    human = rig.safecode(*door.args)
    assert f"enrolled as {kiosk_id} at cafe-1 (nothing changed)" in human.stdout
    assert "took" in human.stdout


def rekeys(rig: ProvisionRig, door: Door, device_args: list[str], kiosk_id: str) -> str:
    """A new key and id, the old id retired, files owned by the service user; the new id."""
    key, config = door.key, door.config
    old_key = key.read_bytes()
    # An existing system user (Debian's 'daemon') stands in for the service user: the new
    # key and state go to it and the rewritten config keeps its group, as enrol leaves them.
    rekeyed = rig.safecode(
        "provision", "rekey", "127.0.0.1", *device_args, "--service-user", "daemon", "--json"
    )
    assert rekeyed.returncode == 0, rekeyed.stdout + rekeyed.stderr
    ids = json.loads(rekeyed.stdout)
    assert ids["old_kiosk_id"] == kiosk_id and ids["kiosk_id"] != kiosk_id
    entries = registry(rig)
    assert entries[kiosk_id].retired and not entries[ids["kiosk_id"]].retired
    assert bytes(entries[kiosk_id].device_key) != bytes(entries[ids["kiosk_id"]].device_key)
    assert key.read_bytes() != old_key and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert tomllib.loads(config.read_text())["kiosk"]["id"] == ids["kiosk_id"]
    daemon = pwd.getpwnam("daemon")
    assert (key.stat().st_uid, key.parent.stat().st_uid) == (daemon.pw_uid, daemon.pw_uid)
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert (config.stat().st_uid, config.stat().st_gid) == (0, daemon.pw_gid)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    return ids["kiosk_id"]


def retires(
    rig: ProvisionRig, door: Door, device_args: list[str], old_id: str, kiosk_id: str
) -> None:
    """Retire refuses a config naming another kiosk, then retires and cuts off the broker."""
    key, config = door.key, door.config
    mqtt = tomllib.loads(config.read_text())["mqtt"]
    assert mqtt["username"] == kiosk_id and mqtt["password"]  # its own broker account
    assert broker_accepts(rig, mqtt["username"], mqtt["password"])
    # A config naming another kiosk (here the old id) does not get that kiosk retired.
    genuine = config.read_bytes()
    config.write_bytes(genuine.replace(kiosk_id.encode(), old_id.encode()))
    mismatch = rig.safecode("provision", "retire", "127.0.0.1", *device_args)
    assert mismatch.returncode != 0 and "is not the key registered for" in mismatch.stderr
    assert not registry(rig)[kiosk_id].retired and key.exists()
    config.write_bytes(genuine)
    retired = rig.safecode("provision", "retire", "127.0.0.1", *device_args)
    assert retired.returncode == 0, retired.stderr
    assert f"retired {kiosk_id}" in retired.stdout
    assert registry(rig)[kiosk_id].retired
    assert not key.exists() and not config.exists()
    assert not broker_accepts(rig, mqtt["username"], mqtt["password"])  # cut off the broker
    assert "disable --now safecode-kiosk.service" in door.systemctl_calls()


def test_enrol_end_to_end_then_rerun_changes_nothing_then_retire(rig: ProvisionRig) -> None:
    prefix = rig.device("door-1")
    args = ["provision", "enrol", "127.0.0.1", "--venue", "cafe-1", *rig.enrol_args(prefix)]
    door = Door(prefix, args)
    refuses_an_unknown_host_key(rig, door)
    kiosk_id = enrols(rig, door)
    reruns_changing_nothing(rig, door, kiosk_id)
    device_args = ["--port", str(rig.sshd.port), "--prefix", str(prefix)]
    device_args += ["--systemctl", rig.systemctl(prefix), *rig.common_args()]
    new_id = rekeys(rig, door, device_args, kiosk_id)
    retires(rig, door, device_args, kiosk_id, new_id)


def untouched(prefix: Path) -> bool:
    return not any(prefix.rglob("*"))


def failed(rig: ProvisionRig, prefix: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    """Run an enrolment expected to fail; its JSON result."""
    args = ["provision", "enrol", "127.0.0.1", "--venue", "cafe-2", *rig.enrol_args(prefix)]
    done = rig.safecode(*args, *extra, "--json", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["host"] == "127.0.0.1"
    return result


def test_bad_input_names_the_step_and_leaves_the_device_untouched(
    rig: ProvisionRig, tmp_path: Path
) -> None:
    prefix = rig.device("door-bad")
    accept = ("--accept-host-key", rig.sshd.fingerprint)

    closed = failed(rig, prefix, *accept[:0], "--port", str(free_port()))
    assert closed["failed_step"] == "connect" and "127.0.0.1:" in closed["error"]

    stranger = keygen(tmp_path / "stranger")
    login = failed(rig, prefix, *accept, "--identity", str(stranger))
    assert login["failed_step"] == "login" and "refused the SSH key" in login["error"]
    wrong_password = {**rig.env(), "SAFECODE_SSH_PASSWORD": "not-the-password"}
    login = failed(rig, prefix, *accept, "--identity", str(stranger), env=wrong_password)
    assert login["failed_step"] == "login" and "or password" in login["error"]
    assert "not-the-password" not in json.dumps(login)  # never echoed

    wrong_pin = "SHA256:" + "A" * 43
    other_hosts = tmp_path / "known_hosts"
    pinned = failed(rig, prefix, "--known-hosts", str(other_hosts), "--accept-host-key", wrong_pin)
    assert pinned["failed_step"] == "host key" and "not the fingerprint" in pinned["error"]
    assert not other_hosts.exists()  # nothing trusted on a mismatch

    impostor = keygen(tmp_path / "impostor_host")
    other_hosts.write_text(
        f"[127.0.0.1]:{rig.sshd.port} {impostor.with_suffix('.pub').read_text()}"
    )
    changed = failed(rig, prefix, "--known-hosts", str(other_hosts))
    assert changed["failed_step"] == "host key"
    assert "HOST KEY CHANGED" in changed["error"] and rig.sshd.fingerprint in changed["error"]
    also = failed(rig, prefix, "--known-hosts", str(other_hosts), *accept)
    assert "already holds another key" in also["error"]

    bad_token = {**rig.env(), "SAFECODE_OPERATOR_TOKEN": "sco_0000000000000000_" + "A" * 43}
    refused = failed(rig, prefix, *accept, env=bad_token)
    assert refused["failed_step"] == "aggregator" and "HTTP 401" in refused["error"]

    full = failed(rig, prefix, *accept, "--min-free-mb", "1000000000")
    assert full["failed_step"] == "disk" and "MB free" in full["error"]
    assert untouched(prefix)

    taken = take_kiosk_id(rig, "k-taken")  # not relying on another test's enrolment
    conflict = failed(rig, prefix, *accept, "--kiosk-id", taken)
    assert conflict["failed_step"] == "register" and "HTTP 409" in conflict["error"]
    assert "undone" in conflict["error"] and conflict["state"] == "untouched"
    assert not [p for p in prefix.rglob("*") if not p.is_dir()]
    assert not (prefix / "opt/safecode").exists() and not (prefix / "var/lib/safecode").exists()


def queue_checkin(rig: ProvisionRig, door: Door, kiosk_id: str) -> None:
    """Stop the kiosk and queue one genuine check-in in its outbox, as its firmware would."""
    rig.stop_kiosk(door.prefix)
    device_key = keys.load_private(door.key)
    shown = load_crowd(rig.site.crowd_file)[0].show(time.time()).to_bytes()
    outbox = Outbox(door.prefix / "var/lib/safecode/outbox.sqlite")
    now_ms = int(time.time() * 1000)

    def build(seq: int) -> tuple[bytes, bytes]:
        checkin_id = os.urandom(16)
        wire = sign_checkin(
            device_key,
            checkin_id=checkin_id,
            kiosk_id=kiosk_id,
            venue_id="cafe-3",
            seq=seq,
            door="entrance",
            scanned_ms=now_ms,
            clock=KioskClock().state(),
            presentation=shown,
        )
        return checkin_id, wire

    try:
        outbox.append(build, now_ms)
    finally:
        outbox.close()


def start_kiosk(door: Door) -> None:
    command = [sys.executable, str(FAKE_SYSTEMCTL), "--root", str(door.prefix)]
    subprocess.run([*command, "start", "safecode-kiosk.service"], timeout=60, check=True)


@pytest.mark.slow
def test_retire_waits_for_the_queue_then_wipes_the_device_state(rig: ProvisionRig) -> None:
    prefix = rig.device("door-drain")
    args = ["provision", "enrol", "127.0.0.1", "--venue", "cafe-3", *rig.enrol_args(prefix)]
    door = Door(prefix, args)
    enrolled = rig.safecode(*args, "--accept-host-key", rig.sshd.fingerprint, "--json")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    kiosk_id = json.loads(enrolled.stdout)["kiosk_id"]
    device_args = ["--port", str(rig.sshd.port), "--prefix", str(prefix)]
    device_args += ["--systemctl", rig.systemctl(prefix), *rig.common_args()]
    state = prefix / "var/lib/safecode"

    queue_checkin(rig, door, kiosk_id)  # the kiosk is down: its check-in stays queued
    refused = rig.safecode("provision", "retire", "127.0.0.1", *device_args, "--drain-timeout", "1")
    assert refused.returncode != 0 and "drain: " in refused.stderr
    assert "holds 1 check-ins" in refused.stderr and "--force" in refused.stderr
    assert not registry(rig)[kiosk_id].retired and door.key.exists()
    assert (state / "outbox.sqlite").exists()

    start_kiosk(door)  # running again, it delivers; retire waits for the receipt
    retired = rig.safecode("provision", "retire", "127.0.0.1", *device_args, "--json")
    assert retired.returncode == 0, retired.stdout + retired.stderr
    assert json.loads(retired.stdout) == {"kiosk_id": kiosk_id, "retired": True}
    assert registry(rig)[kiosk_id].retired
    assert not state.exists() and not door.config.exists()  # outbox, -wal, -shm, key: gone
