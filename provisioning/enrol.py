"""``provision enrol``: turn a device reachable over SSH into an enrolled, running kiosk.

Steps, each named in any failure: aggregator (token check, trust keys), connect (strict
host key), preflight (Python, free disk, systemctl), install (venv with system site
packages, this wheel), keygen (on the device; the private key never leaves it), register
(operator API), config (atomic write), units, selftest (before the service starts: the
camera and GPIO serve one process), start, heartbeat.

Running it again changes nothing: the wheel's stamp, the key, the registry entry, the
config bytes and the unit bytes are compared first, and the broker password is reused
from the device's config when the registry already has this key at this venue.

A failure before the aggregator registered the key undoes what this run made on the
device (a new venv, a new key), so the device is left as it was; but when the
registration request went out and its answer is unclear (HTTP 5xx, a timeout) nothing is
undone and the state says "registered?, re-run to finish". After registration
the kiosk is enrolled: what is left is reported (``state``) and a re-run finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from .device_files import hand_over_state, keygen, user_exists, write_config
from .errors import OutcomeUnknown, StepFailed
from .heartbeat import last_seen, wait_heartbeat
from .layout import (
    KIOSK_UNIT,
    WHEEL_STAMP,
    DeviceLayout,
    KioskSettings,
    render_config,
    systemctl_argv,
)
from .operator_client import OperatorClient
from .remote import Device, SshTarget
from .software import wheel_stamp

MIN_PYTHON = (3, 11)
PREFLIGHT = (
    'set -e; p=$1; while [ ! -d "$p" ]; do p=$(dirname "$p"); done; '
    'echo "$p"; df -Pk "$p" | awk \'NR==2 {print $4}\'; '
    '"$2" -c \'import sys; print("%d.%d" % sys.version_info[:2])\'; '
    'command -v "$3" >/dev/null && echo systemctl-ok || echo systemctl-missing'
)

UNEXPECTED = (
    ValueError,  # shlex on --systemctl, an unreadable identity key (asyncssh.KeyImportError)
    KeyError,  # an aggregator answer without a field
    TypeError,
    OSError,  # a local file (--wheel, --pins, --mqtt-ca), a host-key probe
    TimeoutError,
    asyncssh.Error,
)
"""Errors other than StepFailed that fail one device (named with the step) and no more."""

# What a failed run leaves on the device, in the result table.
UNTOUCHED = "untouched"
ENROLLED = "enrolled"
PARTIAL = "enrolled, not running: re-run to finish"
MAYBE_REGISTERED = "registered?, re-run to finish"


@dataclass(frozen=True)
class EnrolOptions:
    """Everything about one enrolment except the device's address."""

    venue: str
    wheel: Path
    kiosk_id: str | None = None
    door: str = "entrance"
    prefix: str = "/"
    constraints: Path | None = None
    wheelhouse: Path | None = None
    dev_site_packages: str | None = None
    device_python: str = "python3"
    units: tuple[Path, ...] = ()
    pins: Path | None = None
    dropins: tuple[Path, ...] = ()
    service_user: str = "safecode"
    systemctl: str = "systemctl"
    min_free_mb: int = 400
    camera: dict[str, Any] = field(default_factory=lambda: {"kind": "picamera2"})
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_ca: Path | None = None
    mock_pins: bool = False
    selftest_timeout: float = 10.0
    heartbeat_timeout: float = 60.0
    renew_credentials: bool = False


@dataclass
class EnrolResult:
    """What happened to one device."""

    host: str
    kiosk_id: str | None = None
    venue: str | None = None
    device_key: str | None = None
    changed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    state: str = UNTOUCHED
    error: str | None = None
    failed_step: str | None = None
    seconds: float = 0.0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": self.ok,
            "kiosk_id": self.kiosk_id,
            "venue": self.venue,
            "device_key": self.device_key,
            "changed": self.changed,
            "warnings": self.warnings,
            "state": self.state,
            "failed_step": self.failed_step,
            "error": self.error,
            "seconds": round(self.seconds, 2),
            "steps": {k: round(v, 2) for k, v in self.steps.items()},
            "attempts": self.attempts,
        }


class _Run:
    """One enrolment in progress: times steps and remembers what it made, to undo it."""

    def __init__(
        self,
        target: SshTarget,
        options: EnrolOptions,
        client: OperatorClient,
        on_step: Callable[[str, str], None] | None,
    ) -> None:
        self.target = target
        self.options = options
        self.client = client
        self.layout = DeviceLayout(options.prefix)
        self.result = EnrolResult(host=target.host, venue=options.venue)
        self.on_step = on_step or (lambda host, step: None)
        self.made: list[str] = []  # paths this run created, removed again on an early failure
        self.step = "aggregator"
        self._step_started = time.monotonic()

    def begin(self, step: str) -> None:
        now = time.monotonic()
        self.result.steps[self.step] = now - self._step_started
        self.step, self._step_started = step, now
        self.on_step(self.target.host, step)

    def systemctl(self, *args: str) -> list[str]:
        return [*systemctl_argv(self.options.systemctl, self.layout.prefix), *args]

    async def execute(self) -> EnrolResult:
        started = time.monotonic()
        device: Device | None = None
        try:
            site = await asyncio.to_thread(self.client.site)
            self.begin("connect")
            device = await Device.open(self.target)
            if device.host_key_added:
                self.result.changed.append("host key recorded")
            await self._enrol(device, site)
        except StepFailed as exc:
            await self._failed(device, exc.step, exc.message)
        except UNEXPECTED as exc:
            # A bad local file or option, an odd answer: this device fails, the batch goes on.
            await self._failed(device, self.step, f"{type(exc).__name__}: {exc}")
        finally:
            self.result.steps[self.step] = time.monotonic() - self._step_started
            if device is not None:
                with contextlib.suppress(OSError, asyncssh.Error):
                    await device.__aexit__(None, None, None)
            self.result.seconds = time.monotonic() - started
        return self.result

    async def _failed(self, device: Device | None, step: str, message: str) -> None:
        self.result.error = message
        self.result.failed_step = step
        if self.result.state == UNTOUCHED and device is not None and self.made:
            await self._undo(device)

    async def _undo(self, device: Device) -> None:
        try:
            await device.run(["rm", "-rf", "--", *reversed(self.made)], "undo")
        except StepFailed as exc:
            self.result.state = f"partly set up, undo failed: {exc.message}"
            return
        self.result.error = f"{self.result.error} (undone: {', '.join(self.made)})"

    async def _enrol(self, device: Device, site: dict[str, Any]) -> None:
        options, layout = self.options, self.layout
        self.begin("preflight")
        await self._preflight(device)
        self.begin("install")
        for folder in (layout.path("/opt/safecode"), layout.path("/etc/safecode"), layout.state):
            if (await device.run(["test", "-e", folder], "install", check=False)).exit_status:
                self.made.append(folder)  # made by this run: removed again on an early failure
        software_changed = await self._install(device)
        self.begin("account")
        await self._account(device)
        self.begin("keygen")
        did = await self._keygen(device)
        self.result.device_key = did
        await self._hand_over_state(device)
        self.begin("register")
        old = await device.read_file(layout.config, "register")
        kiosk_id, mqtt = await self._register(did, old)
        self.result.kiosk_id = kiosk_id
        self.result.state = PARTIAL
        self.begin("config")
        if options.mqtt_ca is not None:
            ca = options.mqtt_ca.read_bytes()
            if await device.write_file(layout.broker_ca, ca, 0o644, "config"):
                self.result.changed.append("broker CA")
            mqtt["ca_file"] = layout.broker_ca
        if options.pins is not None:
            pins = options.pins.read_bytes()
            if await device.write_file(layout.pins, pins, 0o644, "config"):
                self.result.changed.append("pin map")
        settings = KioskSettings(
            kiosk_id=kiosk_id,
            venue=options.venue,
            door=options.door,
            issuer_keys=tuple(site["issuer_keys"]),
            ledger_key=site["ledger_key"],
            mqtt=mqtt,
            camera=options.camera,
        )
        config = render_config(layout, settings)
        user = options.service_user
        config_changed = await write_config(device, layout, config, user, "config")
        if config_changed:
            self.result.changed.append("config")
        self.begin("units")
        units_changed = await self._units(device)
        changed = software_changed or config_changed or units_changed
        unit = self._kiosk_unit()
        active = await device.run(self.systemctl("is-active", unit), "start", check=False)
        running = active.exit_status == 0
        restarted_ms = None
        if changed or not running:
            self.begin("selftest")
            await device.run(self.systemctl("stop", unit), "selftest", check=False)
            await self._selftest(device)
            self.begin("start")
            await device.run(self.systemctl("enable", unit), "start")
            # The aggregator's own time of the last heartbeat before the restart: a newer one
            # is from the restarted kiosk (no comparison of two machines' clocks).
            restarted_ms = await last_seen(self.client, kiosk_id)
            await device.run(self.systemctl("restart", unit), "start")
            if not running:
                self.result.changed.append("service started")
        else:
            enabled = await device.run(self.systemctl("is-enabled", unit), "start", check=False)
            if enabled.exit_status != 0:
                await device.run(self.systemctl("enable", unit), "start")
                self.result.changed.append("service enabled")
        self.begin("heartbeat")
        timeout = self.options.heartbeat_timeout
        await wait_heartbeat(self.client, kiosk_id, timeout, restarted_ms, unit)
        self.result.state = ENROLLED

    async def _preflight(self, device: Device) -> None:
        options = self.options
        argv = systemctl_argv(options.systemctl, self.layout.prefix)
        systemctl = argv[0] if argv else ""
        done = await device.run(
            ["sh", "-c", PREFLIGHT, "sh", self.layout.prefix, options.device_python, systemctl],
            "preflight",
        )
        lines = done.stdout.split()
        if len(lines) != 4:
            raise StepFailed("preflight", f"unexpected answer from the device: {done.stdout!r}")
        folder, free_kb, version, has_systemctl = lines
        free_mb = int(free_kb) // 1024 if free_kb.isdigit() else 0
        if free_mb < options.min_free_mb:
            raise StepFailed(
                "disk",
                f"only {free_mb} MB free at {folder} on the device, {options.min_free_mb} MB "
                "needed (--min-free-mb): free some space first; nothing was changed",
            )
        major, _, minor = version.partition(".")
        if (int(major), int(minor)) < MIN_PYTHON:
            raise StepFailed(
                "preflight",
                f"{options.device_python} on the device is Python {version}; 3.11 or newer "
                "is needed (Raspberry Pi OS 12 'bookworm' has it)",
            )
        if has_systemctl != "systemctl-ok":
            raise StepFailed("preflight", f"no {systemctl!r} on the device (--systemctl)")

    async def _install(self, device: Device) -> bool:
        options, layout = self.options, self.layout
        stamp = wheel_stamp(options.wheel)
        stamp_path = f"{layout.venv}/{WHEEL_STAMP}"
        if (await device.read_file(stamp_path, "install")) == stamp.encode():
            return False
        python = f"{layout.venv}/bin/python"
        has_venv = await device.run(["test", "-x", python], "install", check=False)
        if has_venv.exit_status != 0:
            venv = [options.device_python, "-m", "venv", "--system-site-packages"]
            if options.dev_site_packages:
                venv.append("--without-pip")  # pip comes from the dev site packages
            await device.run([*venv, layout.venv], "install")
            if layout.path("/opt/safecode") not in self.made:
                self.made.append(layout.venv)
        wheels = layout.path("/opt/safecode/wheels")
        wheel = f"{wheels}/{options.wheel.name}"
        await device.write_file(wheel, options.wheel.read_bytes(), 0o644, "install")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if options.dev_site_packages:
            purelib = await device.run(
                [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                "install",
            )
            pth = f"{purelib.stdout.strip()}/safecode-dev.pth"
            await device.write_file(
                pth, f"{options.dev_site_packages}\n".encode(), 0o644, "install"
            )
        else:
            source = list(pip)
            if options.wheelhouse is not None:
                for item in sorted(options.wheelhouse.glob("*.whl")):
                    await device.write_file(
                        f"{wheels}/{item.name}", item.read_bytes(), 0o644, "install"
                    )
                source += ["--no-index", "--find-links", wheels]
            if options.constraints is not None:
                constraints = f"{wheels}/constraints.txt"
                pins = device_constraints(
                    options.constraints.read_text(encoding="utf-8"),
                    await self._system_numpy(device),
                )
                await device.write_file(constraints, pins.encode(), 0o644, "install")
                source += ["-c", constraints]
            await device.run(source + [wheel], "install", timeout=1800)
        await device.run(pip + ["--no-deps", "--force-reinstall", "--no-index", wheel], "install")
        await device.run([layout.safecode, "--version"], "install")
        await device.write_file(stamp_path, stamp.encode(), 0o644, "install")
        self.result.changed.append("software")
        return True

    async def _system_numpy(self, device: Device) -> str | None:
        """The numpy of the device's system Python (picamera2 is built against it), if any."""
        done = await device.run(
            [self.options.device_python, "-c", "import numpy; print(numpy.__version__)"],
            "install",
            check=False,
        )
        version = done.stdout.strip()
        return version if done.exit_status == 0 and re.fullmatch(r"[0-9][0-9.]*", version) else None

    async def _user_exists(self, device: Device) -> bool:
        return await user_exists(device, self.options.service_user, "account")

    async def _account(self, device: Device) -> None:
        """The service's system user, in the camera and GPIO groups (on a real root only)."""
        user = self.options.service_user
        if not user:
            return
        if not await self._user_exists(device):
            if self.layout.prefix != "/":
                return  # a staging prefix has no user database of its own
            await device.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    self.layout.state,
                    "--shell",
                    "/usr/sbin/nologin",
                    user,
                ],
                "account",
            )
            self.result.changed.append(f"user {user}")
        for group in ("video", "gpio"):
            script = (
                'getent group "$2" >/dev/null || exit 0; '
                'id -nG "$1" | tr " " "\\n" | grep -qx "$2" && exit 0; '
                'usermod -aG "$2" "$1" && echo added'
            )
            done = await device.run(["sh", "-c", script, "sh", user, group], "account")
            if "added" in done.stdout:
                self.result.changed.append(f"{user} in group {group}")

    async def _hand_over_state(self, device: Device) -> None:
        """The state folder and device key belong to the service user (mode 0700 / 0600)."""
        user = self.options.service_user
        if await hand_over_state(device, self.layout, user, "keygen"):
            self.result.changed.append(f"state owned by {user}")

    async def _keygen(self, device: Device) -> str:
        layout = self.layout
        did, created = await keygen(device, layout, layout.device_key, "keygen")
        if created:
            if layout.state not in self.made:
                self.made.append(layout.device_key)
            self.result.changed.append("device key")
        return did

    async def _register(self, did: str, old: bytes | None) -> tuple[str, dict[str, Any]]:
        """The kiosk id and [mqtt] table: reused from the device when already enrolled."""
        options = self.options
        registry = await asyncio.to_thread(self.client.registry)
        entry = next((k for k in registry if k.get("device_key") == did), None)
        if entry is not None and entry.get("retired"):
            raise StepFailed(
                "register",
                f"this device's key belongs to kiosk {entry['kiosk_id']}, which is retired: "
                "use 'safecode provision rekey' to give the device a new key",
            )
        if entry is not None and entry.get("venue_id") != options.venue:
            raise StepFailed(
                "register",
                f"this device is enrolled as {entry['kiosk_id']} at venue {entry['venue_id']}, "
                f"not {options.venue}: retire it first (or keep its venue)",
            )
        if entry is not None and options.kiosk_id and entry["kiosk_id"] != options.kiosk_id:
            raise StepFailed(
                "register",
                f"this device is enrolled as {entry['kiosk_id']}, not {options.kiosk_id}",
            )
        current = _parse(old)
        if (
            entry is not None
            and not options.renew_credentials
            and current.get("kiosk", {}).get("id") == entry["kiosk_id"]
            and isinstance(current.get("mqtt"), dict)
        ):
            mqtt = self._mqtt(current["mqtt"])
            return entry["kiosk_id"], mqtt
        try:
            answer = await asyncio.to_thread(
                self.client.enrol, did, options.venue, options.kiosk_id
            )
        except OutcomeUnknown:
            # The aggregator may hold this key now: keep it (and all else) on the device.
            self.made.clear()
            self.result.state = MAYBE_REGISTERED
            raise
        self.made.clear()  # registered: from here on the device is enrolled, never undone
        self.result.changed.append("registered" if entry is None else "credentials renewed")
        return str(answer["kiosk_id"]), self._mqtt(answer.get("mqtt") or {})

    def _mqtt(self, given: dict[str, Any]) -> dict[str, Any]:
        """The kiosk's [mqtt] table: address (overridable), TLS and its own credentials."""
        options = self.options
        mqtt: dict[str, Any] = {
            "host": options.mqtt_host or given.get("host") or "127.0.0.1",
            "port": options.mqtt_port or given.get("port") or 1883,
            "tls": bool(given.get("tls", False)),
            "username": given.get("username"),
            "password": given.get("password"),
        }
        if mqtt["tls"] and options.mqtt_ca is not None:
            mqtt["ca_file"] = self.layout.broker_ca
        return mqtt

    async def _units(self, device: Device) -> bool:
        changed = False
        for unit in self.options.units:
            text = self.layout.rewrite_unit(unit.read_text(encoding="utf-8"))
            path = self.layout.unit(unit.name)
            if await device.write_file(path, text.encode(), 0o644, "units"):
                changed = True
                self.result.changed.append(f"unit {unit.name}")
        for dropin in self.options.dropins:
            folder = dropin.parent.name  # e.g. systemd-time-wait-sync.service.d
            text = self.layout.rewrite_unit(dropin.read_text(encoding="utf-8"))
            path = self.layout.unit(f"{folder}/{dropin.name}")
            if await device.write_file(path, text.encode(), 0o644, "units"):
                changed = True
                self.result.changed.append(f"drop-in {folder}/{dropin.name}")
        if changed:
            await device.run(self.systemctl("daemon-reload"), "units")
        for unit in sorted({d.parent.name.removesuffix(".d") for d in self.options.dropins}):
            if (
                await device.run(self.systemctl("is-enabled", unit), "units", check=False)
            ).exit_status:
                enabled = await device.run(self.systemctl("enable", unit), "units", check=False)
                if enabled.exit_status:
                    self.result.warnings.append(f"could not enable {unit}: {enabled.stderr[-200:]}")
                else:
                    self.result.changed.append(f"{unit} enabled")
        return changed

    def _kiosk_unit(self) -> str:
        names = [u.name for u in self.options.units if "kiosk" in u.name]
        return names[0] if names else KIOSK_UNIT

    async def _selftest(self, device: Device) -> None:
        command = [self.layout.safecode, "kiosk", "selftest", "--config", self.layout.config]
        command += ["--json", "--timeout", f"{self.options.selftest_timeout:g}"]
        if self.options.mock_pins:
            command.append("--mock-pins")
        if await self._user_exists(device):
            # As the service runs: proves the user can read its config, key and pins.
            command = ["runuser", "-u", self.options.service_user, "--", *command]
        done = await device.run(
            command, "selftest", check=False, timeout=self.options.selftest_timeout * 12 + 30
        )
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError) as exc:
            raise StepFailed(
                "selftest", f"no report (exit {done.exit_status}): {done.stderr.strip()[-400:]}"
            ) from exc
        if not report.get("ok"):
            failed = [
                f"{c.get('name')}: {c.get('detail')}"
                for c in report.get("checks", [])
                if c.get("status") == "FAIL"
            ]
            raise StepFailed("selftest", "failed, service not started: " + "; ".join(failed)[:600])


def device_constraints(constraints: str, system_numpy: str | None) -> str:
    """The pins for the device: with apt's picamera2, keep the system numpy it was built for.

    As ./dev does on a Pi: numpy pinned to the system's version, and no pinned OpenCV
    wheel (it wants numpy 2; apt's python3-opencv serves USB cameras there).
    """
    if system_numpy is None:
        return constraints
    kept = [
        line
        for line in constraints.splitlines()
        if not line.lower().startswith(("numpy==", "opencv-python-headless=="))
    ]
    return "\n".join([*kept, f"numpy=={system_numpy}"]) + "\n"


def _parse(config: bytes | None) -> dict[str, Any]:
    if not config:
        return {}
    try:
        return tomllib.loads(config.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


async def enrol_device(
    target: SshTarget,
    options: EnrolOptions,
    client: OperatorClient,
    on_step: Callable[[str, str], None] | None = None,
) -> EnrolResult:
    """Enrol one device; never raises StepFailed: the result says what failed and where."""
    try:
        run = _Run(target, options, client, on_step)
    except ValueError as exc:  # a bad --prefix
        return EnrolResult(
            host=target.host, venue=options.venue, error=str(exc), failed_step="options"
        )
    return await run.execute()
