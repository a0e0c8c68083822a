"""The one command-line entry point, ``safecode``, with a group per component."""

from __future__ import annotations

import click

from aggregator.cli import aggregator_group
from kiosk.cli import kiosk_group
from kiosk.sources import register_source
from provisioning.cli import provision_group

from .bench import bench_group
from .demo import demo_command
from .ledger_cli import ledger_group
from .visitor_cli import visitor_group
from .visitors import simulated_camera


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="safecode")
def cli() -> None:
    """safecode: venue check-in kiosks and a verifiable check-in ledger.

    Start with 'safecode demo' to see the whole system run on this machine.
    """


register_source("simulated", simulated_camera)

cli.add_command(demo_command)
cli.add_command(kiosk_group)
cli.add_command(aggregator_group)
cli.add_command(provision_group)
cli.add_command(ledger_group)
cli.add_command(visitor_group)
cli.add_command(bench_group)


def main() -> None:
    """Console-script entry point."""
    cli()
