"""``safecode provision``: lay out sites; enrol, re-key and retire kiosks over SSH."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from .enrol import EnrolResult, enrol_device
from .operator_client import OperatorClient
from .options import (
    connection_options,
    enrol_options,
    enrol_options_with_wheel,
    operator_token,
    ssh_target,
)


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
@click.option(
    "--authority-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The health authority's public key file (FILE.pub from `safecode authority "
    "keygen`): the site then issues wallet credentials ([issuer] table, a new pepper).",
)
@click.option(
    "--time-zone",
    default="Asia/Seoul",
    show_default=True,
    help="The calendar day credentials follow (an IANA zone).",
)
def init_site_command(
    directory: Path,
    kiosks: int,
    visitors: int,
    mqtt_port: int,
    http_port: int | None,
    authority_key: Path | None,
    time_zone: str,
) -> None:
    """Create a whole site on this machine: keys, configs, kiosk registry, visitors."""
    from aggregator.issuer.settings import time_zone as check_zone
    from protocol.authority_key import parse_public_key
    from protocol.errors import MalformedError
    from simulator.visitors import write_crowd
    from support.config_file import ConfigError

    from .site import init_site

    key_text = None
    try:
        check_zone(time_zone)
        if authority_key is not None:
            key_text = authority_key.read_text(encoding="ascii").strip()
            parse_public_key(key_text)
    except (ConfigError, MalformedError, OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc)) from exc

    if kiosks < 1 or kiosks > 200:
        raise click.BadParameter("use 1 to 200 kiosks", param_hint="--kiosks")
    site = init_site(
        directory,
        kiosks=kiosks,
        visitors=visitors,
        mqtt_port=mqtt_port,
        http_port=http_port,
        write_crowd=write_crowd,
        authority_key=key_text,
        time_zone=time_zone,
    )
    click.echo(f"aggregator config: {site.aggregator_config}")
    for config in site.kiosk_configs:
        click.echo(f"kiosk config:      {config}")
    click.echo(f"ledger key:        {site.ledger_vkey}")


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
@connection_options
@enrol_options
def enrol_command(host: str, port: int, accept_host_key: str | None, **kw: Any) -> None:
    """Enrol HOST as a kiosk of VENUE: install, make its key there, register, start, check.

    The host key must be in the tool's known-hosts file already, or be named with
    --accept-host-key (compare it with 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'
    on the device's console). Running it again changes nothing.
    """
    token = operator_token(kw["token_file"])
    target = ssh_target(host, port, kw["user"], kw["identity"], kw["known_hosts"], accept_host_key)
    with enrol_options_with_wheel(kw) as options:
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
