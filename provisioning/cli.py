"""``safecode provision``: lay out sites; enrol, re-key and retire kiosks over SSH."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .enrol import EnrolOptions, EnrolResult, enrol_device
from .errors import StepFailed
from .hostkeys import check_fingerprint, default_known_hosts
from .layout import DeviceLayout
from .operator_client import OperatorClient, check_aggregator_url
from .remote import SshTarget
from .software import (
    build_wheel,
    default_constraints,
    default_dropins,
    default_pins,
    default_units,
)

TOKEN_ENV = "SAFECODE_OPERATOR_TOKEN"
PASSWORD_ENV = "SAFECODE_SSH_PASSWORD"


@click.group("provision")
def provision_group() -> None:
    """Technician tooling: lay out sites; enrol, re-key and retire kiosks over SSH.

    The operator token comes from $SAFECODE_OPERATOR_TOKEN (or --token-file), an SSH
    password, if any, from $SAFECODE_SSH_PASSWORD: never from the command line.
    """


@provision_group.command("init-site")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--kiosks", default=3, show_default=True, help="Number of kiosks.")
@click.option("--visitors", default=25, show_default=True, help="Simulated visitors.")
@click.option("--mqtt-port", default=1883, show_default=True, help="Broker port on 127.0.0.1.")
@click.option("--http-port", type=int, default=None, help="Serve the read API on this port.")
def init_site_command(
    directory: Path, kiosks: int, visitors: int, mqtt_port: int, http_port: int | None
) -> None:
    """Create a whole site on this machine: keys, configs, kiosk registry, visitors."""
    from simulator.visitors import write_crowd

    from .site import init_site

    if kiosks < 1 or kiosks > 200:
        raise click.BadParameter("use 1 to 200 kiosks", param_hint="--kiosks")
    site = init_site(
        directory,
        kiosks=kiosks,
        visitors=visitors,
        mqtt_port=mqtt_port,
        http_port=http_port,
        write_crowd=write_crowd,
    )
    click.echo(f"aggregator config: {site.aggregator_config}")
    for config in site.kiosk_configs:
        click.echo(f"kiosk config:      {config}")
    click.echo(f"ledger key:        {site.ledger_vkey}")


# -- options shared by the SSH commands ---------------------------------------------------

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--aggregator",
                "aggregator_url",
                envvar="SAFECODE_AGGREGATOR_URL",
                required=True,
                callback=lambda ctx, param, value: _aggregator_url(value),
                help="The aggregator's API, e.g. https://agg.example ($SAFECODE_AGGREGATOR_URL); "
                "http:// only to this machine (127.0.0.1, ::1, localhost). Redirects are refused.",
            ),
            click.option(
                "--token-file", type=_FILE, help=f"Operator token file (else ${TOKEN_ENV})."
            ),
            click.option("--user", default="root", show_default=True, help="SSH user."),
            click.option("--identity", type=_FILE, help="SSH private key (else the SSH agent)."),
            click.option(
                "--known-hosts",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="The tool's own known-hosts file [default: ~/.config/safecode/known_hosts].",
            ),
            click.option(
                "--prefix",
                default="/",
                show_default=True,
                help="Device root for every path (tests and staging images).",
            ),
            click.option(
                "--systemctl",
                default="systemctl",
                show_default=True,
                help="Command run on the device for systemctl (a stand-in where there is "
                "no systemd, e.g. in tests); {prefix} becomes the device's --prefix.",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON results."),
        ]
    ):
        command = option(command)
    return command


def _enrol_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--wheel",
                type=_FILE,
                help="Kiosk software wheel [default: built from this checkout].",
            ),
            click.option(
                "--wheelhouse",
                type=click.Path(exists=True, file_okay=False, path_type=Path),
                help="Install offline from these wheels (pip --no-index).",
            ),
            click.option(
                "--constraints",
                type=_FILE,
                help="pip constraints [default: this checkout's constraints.txt].",
            ),
            click.option(
                "--dev-site-packages",
                help="Tests and bench devices only: the device's venv sees this folder "
                "(a .pth file) instead of installing the dependencies.",
            ),
            click.option(
                "--device-python",
                default="python3",
                show_default=True,
                help="Python on the device that makes the venv.",
            ),
            click.option(
                "--unit",
                "units",
                multiple=True,
                type=_FILE,
                help="systemd unit to install [default: systemd/safecode-kiosk.service].",
            ),
            click.option(
                "--pins", type=_FILE, help="Pin map to install [default: hardware/pins.toml]."
            ),
            click.option(
                "--service-user",
                default="safecode",
                show_default=True,
                help="System user the kiosk unit runs as (made if missing, in the video and "
                "gpio groups); it owns the state folder and key. '' to leave users alone.",
            ),
            click.option(
                "--min-free-mb",
                type=click.IntRange(0, 10**9),
                default=400,
                show_default=True,
                help="Refuse a device with less free disk.",
            ),
            click.option(
                "--camera",
                type=click.Choice(["picamera2", "v4l2", "replay", "simulated"]),
                default="picamera2",
                show_default=True,
            ),
            click.option("--camera-path", help="Images or video for --camera replay."),
            click.option(
                "--door",
                type=click.Choice(["entrance", "exit"]),
                default="entrance",
                show_default=True,
            ),
            click.option(
                "--mqtt-host", help="Broker host as kiosks reach it [default: the aggregator's]."
            ),
            click.option("--mqtt-port", type=click.IntRange(1, 65535)),
            click.option("--mqtt-ca", type=_FILE, help="Broker CA certificate to install."),
            click.option(
                "--mock-pins",
                is_flag=True,
                help="Selftest with gpiozero mock pins (no lights wired).",
            ),
            click.option(
                "--heartbeat-timeout",
                type=click.FloatRange(1, 3600),
                default=60.0,
                show_default=True,
            ),
            click.option(
                "--renew-credentials",
                is_flag=True,
                help="Ask the aggregator for a new broker password.",
            ),
        ]
    ):
        command = option(command)
    return command


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise click.UsageError(f"no operator token: set ${TOKEN_ENV} or pass --token-file")
    return token


def _layout(prefix: str) -> DeviceLayout:
    try:
        return DeviceLayout(prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from exc


def _aggregator_url(value: str) -> str:
    try:
        return check_aggregator_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--aggregator") from exc


def _service_user(value: str) -> str:
    if value and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise click.BadParameter("not a user name", param_hint="--service-user")
    return value


def _fingerprint(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_fingerprint(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--accept-host-key") from exc


def _target(
    host: str,
    port: int,
    user: str,
    identity: Path | None,
    known_hosts: Path | None,
    accept: str | None,
) -> SshTarget:
    return SshTarget(
        host=host,
        port=port,
        user=user,
        identity=identity,
        password=os.environ.get(PASSWORD_ENV) or None,
        known_hosts=known_hosts or default_known_hosts(),
        accept_host_key=_fingerprint(accept),
    )


def _wheel(wheel: Path | None, workdir: Path) -> Path:
    if wheel is not None:
        return wheel
    click.echo("building the kiosk software wheel from this checkout ...", err=True)
    try:
        return build_wheel(workdir)
    except StepFailed as exc:
        raise click.ClickException(str(exc)) from exc


def enrol_options_from(kw: dict[str, Any], wheel: Path) -> EnrolOptions:
    """EnrolOptions from the shared click options (venue and kiosk id per device)."""
    _layout(kw["prefix"])
    if kw["camera"] == "replay" and not kw["camera_path"]:
        raise click.BadParameter("--camera replay needs --camera-path", param_hint="--camera")
    _service_user(kw["service_user"])
    camera: dict[str, Any] = {"kind": kw["camera"], "path": kw["camera_path"]}
    constraints = kw["constraints"] if kw["constraints"] else default_constraints()
    return EnrolOptions(
        venue=kw.get("venue") or "",
        kiosk_id=kw.get("kiosk_id"),
        wheel=wheel,
        door=kw["door"],
        prefix=kw["prefix"],
        constraints=None if kw["dev_site_packages"] else constraints,
        wheelhouse=kw["wheelhouse"],
        dev_site_packages=kw["dev_site_packages"],
        device_python=kw["device_python"],
        units=tuple(kw["units"]) or tuple(default_units()),
        dropins=() if kw["units"] else tuple(default_dropins()),
        pins=kw["pins"] or default_pins(),
        service_user=kw["service_user"],
        systemctl=kw["systemctl"],
        min_free_mb=kw["min_free_mb"],
        camera=camera,
        mqtt_host=kw["mqtt_host"],
        mqtt_port=kw["mqtt_port"],
        mqtt_ca=kw["mqtt_ca"],
        mock_pins=kw["mock_pins"],
        heartbeat_timeout=kw["heartbeat_timeout"],
        renew_credentials=kw["renew_credentials"],
    )


def print_result(result: EnrolResult) -> None:
    """The human summary of one device."""
    if result.ok:
        what = ", ".join(result.changed) if result.changed else "nothing changed"
        click.echo(f"{result.host}: enrolled as {result.kiosk_id} at {result.venue} ({what})")
        click.echo(f"  device key  {result.device_key}")
        for warning in result.warnings:
            click.echo(f"  warning     {warning}")
        steps = "  ".join(f"{k} {v:.1f}s" for k, v in result.steps.items())
        click.echo(f"  took {result.seconds:.1f} s: {steps}")
    else:
        click.echo(
            f"{result.host}: FAILED at step {result.failed_step}: {result.error}\n"
            f"  device is {result.state}",
            err=True,
        )


@provision_group.command("enrol")
@click.argument("host")
@click.option("--venue", required=True, help="Venue id (lowercase letters, digits, -).")
@click.option("--kiosk-id", help="Kiosk id [default: derived from the device key].")
@click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option(
    "--accept-host-key",
    metavar="SHA256:...",
    help="Trust the device's host key on first contact if it has this fingerprint.",
)
@_connection_options
@_enrol_options
def enrol_command(host: str, port: int, accept_host_key: str | None, **kw: Any) -> None:
    """Enrol HOST as a kiosk of VENUE: install, make its key there, register, start, check.

    The host key must be in the tool's known-hosts file already, or be named with
    --accept-host-key (compare it with 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'
    on the device's console). Running it again changes nothing.
    """
    token = _token(kw["token_file"])
    target = _target(host, port, kw["user"], kw["identity"], kw["known_hosts"], accept_host_key)
    with tempfile.TemporaryDirectory(prefix="safecode-wheel-") as workdir:
        options = enrol_options_from(kw, _wheel(kw["wheel"], Path(workdir)))
        client = OperatorClient(kw["aggregator_url"], token)
        result = asyncio.run(
            enrol_device(
                target,
                options,
                client,
                on_step=None
                if kw["as_json"]
                else lambda h, s: click.echo(f"{h}: {s} ...", err=True),
            )
        )
    if kw["as_json"]:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
    else:
        print_result(result)
    if not result.ok:
        raise SystemExit(1)


def _register_more() -> None:
    from .batch_cli import batch_command
    from .retire import rekey_command, retire_command

    provision_group.add_command(retire_command)
    provision_group.add_command(rekey_command)
    provision_group.add_command(batch_command)


_register_more()
