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
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from protocol.enrolment import SiteAnswer
from protocol.errors import ProtocolError
from protocol.kiosk_toml import KioskToml
from protocol.selftest_report import parse_report

from .device_files import ensure_account, hand_over_state, keygen, user_exists, write_config
from .enrol_options import EnrolOptions
from .errors import OutcomeUnknown, StepFailed
from .heartbeat import last_seen, wait_heartbeat
from .install import install
from .layout import (
    KIOSK_UNIT,
    DeviceLayout,
    KioskSettings,
    render_config,
    systemctl_argv,
)
from .operator_client import OperatorClient
from .preflight import preflight
from .remote import Device, SshTarget

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

    async def _enrol(self, device: Device, site: SiteAnswer) -> None:
        options, layout = self.options, self.layout
        self.begin("preflight")
        await preflight(device, options, layout)
        self.begin("install")
        software_changed = await self._install(device)
        self.begin("account")
        self.result.changed += await ensure_account(device, layout, options.service_user)
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
        config_changed = await self._configure(device, site, kiosk_id, mqtt)
        self.begin("units")
        units_changed = await self._units(device)
        unit = self._kiosk_unit()
        changed = software_changed or config_changed or units_changed
        restarted_ms = await self._start(device, unit, changed, kiosk_id)
        self.begin("heartbeat")
        timeout = self.options.heartbeat_timeout
        await wait_heartbeat(self.client, kiosk_id, timeout, restarted_ms, unit)
        self.result.state = ENROLLED

    async def _install(self, device: Device) -> bool:
        """Install the software; whether it changed."""
        layout = self.layout
        for folder in (layout.path("/opt/safecode"), layout.path("/etc/safecode"), layout.state):
            if (await device.run(["test", "-e", folder], "install", check=False)).exit_status:
                self.made.append(folder)  # made by this run: removed again on an early failure
        software_changed = await install(device, self.options, layout, self.made)
        if software_changed:
            self.result.changed.append("software")
        return software_changed

    async def _configure(
        self, device: Device, site: dict[str, Any], kiosk_id: str, mqtt: dict[str, Any]
    ) -> bool:
        """Write the broker CA, pin map and kiosk config; whether the config changed."""
        options, layout = self.options, self.layout
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
            issuer_keys=site.trust.issuer_keys,
            ledger_key=site.trust.ledger_key,
            mqtt=mqtt,
            camera=options.camera,
        )
        config = render_config(layout, settings)
        user = options.service_user
        config_changed = await write_config(device, layout, config, user, "config")
        if config_changed:
            self.result.changed.append("config")
        return config_changed

    async def _start(self, device: Device, unit: str, changed: bool, kiosk_id: str) -> int | None:
        """Selftest and (re)start the kiosk if anything changed or it is not running.

        Returns the aggregator's time of the kiosk's last heartbeat before a restart
        (None without one): a newer heartbeat is from the restarted kiosk.
        """
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
        return restarted_ms

    async def _user_exists(self, device: Device) -> bool:
        return await user_exists(device, self.options.service_user, "account")

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
        found = await asyncio.to_thread(self.client.kiosks_with_key, did)
        entry = next((k for k in found if not k.get("retired")), found[0] if found else None)
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
            and current is not None
            and current.kiosk_id == entry["kiosk_id"]
            and current.mqtt
        ):
            return entry["kiosk_id"], self._mqtt(dict(current.mqtt))
        try:
            answer = await asyncio.to_thread(
                self.client.enrol, did, options.venue, options.kiosk_id, options.region
            )
        except OutcomeUnknown:
            # The aggregator may hold this key now: keep it (and all else) on the device.
            self.made.clear()
            self.result.state = MAYBE_REGISTERED
            raise
        self.made.clear()  # registered: from here on the device is enrolled, never undone
        self.result.changed.append("registered" if entry is None else "credentials renewed")
        return answer.kiosk_id, self._mqtt(answer.mqtt())

    def _mqtt(self, given: Mapping[str, Any]) -> dict[str, Any]:
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
            report = parse_report(done.stdout.strip().splitlines()[-1])
        except (ProtocolError, IndexError) as exc:
            raise StepFailed(
                "selftest", f"no report (exit {done.exit_status}): {done.stderr.strip()[-400:]}"
            ) from exc
        if not report.ok:
            failed = [f"{c.name}: {c.detail}" for c in report.failed()]
            raise StepFailed("selftest", "failed, service not started: " + "; ".join(failed)[:600])


def _parse(config: bytes | None) -> KioskToml | None:
    """The device's kiosk.toml, or None when it has none (or none a kiosk could read)."""
    if not config:
        return None
    try:
        return KioskToml.from_dict(tomllib.loads(config.decode("utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ProtocolError):
        return None


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
