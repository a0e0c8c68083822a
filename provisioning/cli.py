"""``safecode provision``: set up kiosks and sites."""

from __future__ import annotations

from pathlib import Path

import click

from .site import init_site


@click.group("provision")
def provision_group() -> None:
    """Technician tooling: lay out sites, enrol kiosks."""


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
    if kiosks < 1 or kiosks > 200:
        raise click.BadParameter("use 1 to 200 kiosks", param_hint="--kiosks")
    site = init_site(
        directory, kiosks=kiosks, visitors=visitors, mqtt_port=mqtt_port, http_port=http_port
    )
    click.echo(f"aggregator config: {site.aggregator_config}")
    for config in site.kiosk_configs:
        click.echo(f"kiosk config:      {config}")
    click.echo(f"ledger key:        {site.ledger_vkey}")
