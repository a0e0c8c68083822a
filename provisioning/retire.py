"""``provision retire`` and ``provision rekey``.

Retire: the aggregator refuses the kiosk's key from now on and removes its broker
account at once (one API call). Given a HOST, the kiosk first delivers its queued
check-ins and is stopped with its outbox empty (``drain.py``: refused if check-ins stay
queued, unless forced); after retiring, the service is disabled and the device key,
config, outbox and state folder are deleted from the device.

Re-key: a new key made on the device, enrolled under a new kiosk id at the same venue;
then the old id is retired. The old id keeps its old public key in the registry, so
check-ins it signed stay verifiable in the ledger. Refused while the outbox still holds
check-ins the old key signed and the aggregator has not acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import click

from protocol.enrolment import EnrolAnswer, SiteAnswer
from protocol.errors import ProtocolError
from protocol.kiosk_toml import KioskToml

from .device_files import hand_over_state, keygen, write_config
from .drain import UNKNOWN, abandoned_or_refuse, drain_and_stop, queue_depth, wipe_state
from .errors import OutcomeUnknown, StepFailed
from .heartbeat import wait_heartbeat
from .layout import KIOSK_UNIT, DeviceLayout, KioskSettings, render_config, systemctl_argv
from .operator_client import OperatorClient
from .options import connection_options, device_layout, operator_token, service_user, ssh_target
from .remote import Device, SshTarget


def parse_unit_name(value: str) -> str:
    """The kiosk's unit name from ``--unit`` (a unit file, as given to enrol, or a name)."""
    name = PurePosixPath(value).name
    if not re.fullmatch(r"[A-Za-z0-9@._-]{1,200}\.service", name):
        raise click.BadParameter(f"{value[:80]!r} is not a .service unit", param_hint="--unit")
    return name


_unit_option = click.option(
    "--unit",
    default=KIOSK_UNIT,
    show_default=True,
    callback=lambda ctx, param, value: parse_unit_name(value),
    help="The kiosk's systemd unit (its file as given to enrol --unit, or its name).",
)


async def _device_config(device: Device, layout: DeviceLayout, step: str) -> KioskToml:
    raw = await device.read_file(layout.config, step)
    if raw is None:
        raise StepFailed(step, f"no kiosk config at {layout.config}: is this device enrolled?")
    try:
        return KioskToml.from_dict(tomllib.loads(raw.decode("utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StepFailed(step, f"{layout.config} is not readable TOML: {exc}") from exc
    except ProtocolError as exc:
        raise StepFailed(step, f"{layout.config} is not a kiosk config: {exc}") from exc


async def check_identity(
    device: Device, layout: DeviceLayout, client: OperatorClient, kiosk_id: str
) -> str:
    """The device's did:key, if it is ``kiosk_id``'s registered key; else StepFailed.

    The config only names the id: the key file proves which kiosk this device is, so a
    copied or edited config never retires another kiosk.
    """
    if not kiosk_id:
        raise StepFailed("verify", f"{layout.config} names no kiosk id")
    present = await device.run(["test", "-s", layout.device_key], "verify", check=False)
    if present.exit_status != 0:
        raise StepFailed(
            "verify",
            f"no device key at {layout.device_key}: cannot prove this device is {kiosk_id}; "
            f"if it is, retire it with --kiosk-id {kiosk_id}",
        )
    did, _ = await keygen(device, layout, layout.device_key, "verify")  # existing key: kept
    entry = await asyncio.to_thread(client.kiosk, kiosk_id)
    if entry is None:
        raise StepFailed("verify", f"the aggregator has no kiosk {kiosk_id}: nothing to retire")
    if entry.get("device_key") != did:
        raise StepFailed(
            "verify",
            f"this device's key {did} is not the key registered for {kiosk_id} "
            f"({entry.get('device_key')}): refused, its config names another kiosk; "
            "nothing was changed",
        )
    return did


@dataclass(frozen=True)
class Retired:
    """A retired kiosk and the check-ins it abandoned (UNKNOWN if uncounted)."""

    kiosk_id: str
    abandoned: int = 0


async def retire_device(
    target: SshTarget,
    layout: DeviceLayout,
    client: OperatorClient,
    systemctl: list[str],
    keep_files: bool,
    unit: str = KIOSK_UNIT,
    drain_timeout: float = 60.0,
    force: bool = False,
) -> Retired:
    """Retire the kiosk on the device once it is stopped with an empty outbox (or ``force``).

    Refused, the kiosk is started again if it was running: nothing was changed.
    """
    async with await Device.open(target) as device:
        config = await _device_config(device, layout, "retire")
        kiosk_id = config.kiosk_id
        await check_identity(device, layout, client, kiosk_id)
        stopped = await drain_and_stop(device, layout, systemctl, unit, drain_timeout)
        try:
            abandoned = abandoned_or_refuse(kiosk_id, stopped.depth, drain_timeout, force)
        except StepFailed:
            if stopped.was_running:
                await device.run([*systemctl, "start", unit], "drain", check=False)
            raise
        await asyncio.to_thread(client.retire, kiosk_id)
        await device.run([*systemctl, "disable", "--now", unit], "stop", check=False)
        if not keep_files:
            await wipe_state(device, layout, "wipe")
        return Retired(kiosk_id, abandoned)


def _retired_line(retired: Retired) -> str:
    line = f"retired {retired.kiosk_id}: its key is refused and its broker account removed"
    if retired.abandoned:
        held = "an unknown number of" if retired.abandoned == UNKNOWN else retired.abandoned
        line += f"; abandoned {held} check-ins it had not delivered (--force)"
    return line


@click.command("retire")
@click.argument("host", required=False)
@click.option("--kiosk-id", help="Retire this id at the aggregator only (no SSH).")
@click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option("--keep-files", is_flag=True, help="Leave the key, config and outbox on the device.")
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the kiosk to deliver its queued check-ins.",
)
@click.option(
    "--force", is_flag=True, help="Retire even if queued check-ins remain (they are lost)."
)
@_unit_option
@connection_options
def retire_command(
    host: str | None,
    kiosk_id: str | None,
    port: int,
    keep_files: bool,
    drain_timeout: float,
    force: bool,
    unit: str,
    **kw: Any,
) -> None:
    """Retire a kiosk: its key is refused and its broker account removed, at once.

    With HOST, the kiosk id is read from the device and checked against its key (the
    device's public key must be the one registered for that id). The running kiosk then
    has --drain-timeout seconds to deliver its queued check-ins; if some remain, nothing
    is changed unless --force is given. Then its service is stopped and its device key,
    config, outbox and state folder are deleted. With --kiosk-id alone only the
    aggregator is told (a lost or broken device).
    """
    if (host is None) == (kiosk_id is None):
        raise click.UsageError("give either HOST or --kiosk-id")
    client = OperatorClient(kw["aggregator_url"], operator_token(kw["token_file"]))
    try:
        if kiosk_id is not None:
            client.retire(kiosk_id)
            retired = Retired(kiosk_id)
        else:
            assert host is not None
            target = ssh_target(host, port, kw["user"], kw["identity"], kw["known_hosts"], None)
            systemctl = systemctl_argv(kw["systemctl"], kw["prefix"])
            layout = device_layout(kw["prefix"])
            retired = asyncio.run(
                retire_device(
                    target, layout, client, systemctl, keep_files, unit, drain_timeout, force
                )
            )
    except StepFailed as exc:
        raise click.ClickException(f"{host or kiosk_id}: {exc}") from exc
    if kw["as_json"]:
        answer: dict[str, Any] = {"kiosk_id": retired.kiosk_id, "retired": True}
        if retired.abandoned:
            answer["abandoned_checkins"] = (
                None if retired.abandoned == UNKNOWN else retired.abandoned
            )
        click.echo(json.dumps(answer))
    else:
        click.echo(_retired_line(retired))


async def _check_outbox_empty(
    device: Device, layout: DeviceLayout, systemctl: list[str], unit: str, old_id: str
) -> None:
    """Stop the kiosk; refuse (restarting it) while its outbox holds unacknowledged check-ins."""
    await device.run([*systemctl, "stop", unit], "stop", check=False)
    pending = await queue_depth(device, layout, "outbox")
    if pending != 0:
        await device.run([*systemctl, "start", unit], "outbox", check=False)
        raise StepFailed(
            "outbox",
            f"{old_id} still holds {pending if pending > 0 else 'an unknown number of'} "
            "check-ins the aggregator has not acknowledged: let it deliver them first "
            "(service restarted)",
        )


async def _enrol_new_key(
    device: Device,
    layout: DeviceLayout,
    client: OperatorClient,
    systemctl: list[str],
    unit: str,
    old_id: str,
    venue: str,
) -> tuple[str, EnrolAnswer]:
    """Make a new key beside the old one and enrol it; (its path, the aggregator's answer).

    On failure the old key runs on: the new key is removed, or kept aside when the
    aggregator may have registered it.
    """
    new_key = layout.device_key + ".new"
    try:
        await device.run(["rm", "-f", "--", new_key], "keygen")
        did, _ = await keygen(device, layout, new_key, "keygen")
        return new_key, await asyncio.to_thread(client.enrol, did, venue, None)
    except OutcomeUnknown as exc:
        # The new key may be registered: keep it aside, run on as the old id.
        await device.run([*systemctl, "start", unit], "undo", check=False)
        raise StepFailed(
            exc.step,
            f"{exc.message}; the aggregator may have registered the new key {did} as a "
            f"new kiosk (kept at {new_key}); {old_id} still runs on its old key: look "
            "the key up in GET /v1/kiosks and retire that id with --kiosk-id, or re-run",
        ) from exc
    except StepFailed:
        # Nothing changed yet: back to the old key, running.
        await device.run(["rm", "-f", "--", new_key], "undo", check=False)
        await device.run([*systemctl, "start", unit], "undo", check=False)
        raise


def _rekeyed_settings(config: KioskToml, answer: EnrolAnswer, site: SiteAnswer) -> KioskSettings:
    """The kiosk's settings under its new id: the old config with the new broker login."""
    mqtt = dict(config.mqtt)
    mqtt["username"] = answer.username or None
    mqtt["password"] = answer.password or None
    return KioskSettings(
        kiosk_id=answer.kiosk_id,
        venue=config.venue,
        door=config.door,
        issuer_keys=site.trust.issuer_keys,
        ledger_key=site.trust.ledger_key,
        mqtt=mqtt,
        camera=dict(config.camera),
    )


async def _swap_keys(device: Device, layout: DeviceLayout, old_id: str, new_key: str) -> None:
    """Put the old id's outbox aside and the new key in the old key's place."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = f"{layout.outbox}.{old_id}.{stamp}"
    script = (
        'set -e; for s in "" -wal -shm; do [ ! -e "$1$s" ] || mv -f "$1$s" "$2$s"; done; '
        'rm -f "$3"; mv -f "$4" "$3"'
    )
    await device.run(
        ["sh", "-c", script, "sh", layout.outbox, aside, layout.device_key, new_key],
        "swap keys",
    )


async def rekey_device(
    target: SshTarget,
    layout: DeviceLayout,
    client: OperatorClient,
    systemctl: list[str],
    heartbeat_timeout: float = 60.0,
    service_user: str = "safecode",
    unit: str = KIOSK_UNIT,
) -> tuple[str, str]:
    """Give the device a new key and kiosk id; (old id, new id).

    The key, state folder and config are handed over as ``enrol`` does: the state to the
    service user, the config root-owned 0640 in its group.
    """
    site = await asyncio.to_thread(client.site)
    async with await Device.open(target) as device:
        config = await _device_config(device, layout, "rekey")
        old_id, venue = config.kiosk_id, config.venue
        await check_identity(device, layout, client, old_id)
        await _check_outbox_empty(device, layout, systemctl, unit, old_id)
        new_key, answer = await _enrol_new_key(
            device, layout, client, systemctl, unit, old_id, venue
        )
        settings = _rekeyed_settings(config, answer, site)
        await _swap_keys(device, layout, old_id, new_key)
        await hand_over_state(device, layout, service_user, "swap keys")
        config_bytes = render_config(layout, settings)
        await write_config(device, layout, config_bytes, service_user, "config")
        await asyncio.to_thread(client.retire, old_id)
        await device.run([*systemctl, "restart", unit], "start")
        await wait_heartbeat(client, settings.kiosk_id, heartbeat_timeout, None, unit)
        return old_id, settings.kiosk_id


@click.command("rekey")
@click.argument("host")
@click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option(
    "--heartbeat-timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True
)
@click.option(
    "--service-user",
    default="safecode",
    show_default=True,
    callback=lambda ctx, param, value: service_user(value),
    help="System user the kiosk unit runs as: owns the new key; '' to leave users alone.",
)
@_unit_option
@connection_options
def rekey_command(
    host: str, port: int, heartbeat_timeout: float, service_user: str, unit: str, **kw: Any
) -> None:
    """Give HOST a new device key (made there) under a new kiosk id; retire the old id.

    Refused while the outbox holds undelivered check-ins. The old id's check-ins stay
    verifiable: the registry keeps its key, marked retired.
    """
    client = OperatorClient(kw["aggregator_url"], operator_token(kw["token_file"]))
    target = ssh_target(host, port, kw["user"], kw["identity"], kw["known_hosts"], None)
    try:
        old_id, new_id = asyncio.run(
            rekey_device(
                target,
                device_layout(kw["prefix"]),
                client,
                systemctl_argv(kw["systemctl"], kw["prefix"]),
                heartbeat_timeout,
                service_user,
                unit,
            )
        )
    except StepFailed as exc:
        raise click.ClickException(f"{host}: {exc}") from exc
    if kw["as_json"]:
        click.echo(json.dumps({"old_kiosk_id": old_id, "kiosk_id": new_id}))
    else:
        click.echo(f"{host}: new key, now kiosk {new_id}; {old_id} retired")
