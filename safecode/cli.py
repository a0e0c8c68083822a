"""The one command-line entry point, ``safecode``: it dispatches to a group per component.

Each subcommand is imported only when it is run (click's lazy-loading group pattern), so
``safecode --help`` or ``safecode kiosk run`` does not pay for Flask, asyncssh or the
simulator. The one-line help of each subcommand is kept here, next to its dotted path.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click

from kiosk.source_registry import register_source


class LazyCommand(NamedTuple):
    """Where a subcommand lives (``module:attribute``) and its one-line help."""

    path: str
    help: str


SUBCOMMANDS: dict[str, LazyCommand] = {
    "aggregator": LazyCommand(
        "aggregator.cli:aggregator_group",
        "Central aggregator: verify check-ins, seal the ledger, send receipts.",
    ),
    "authority": LazyCommand(
        "authority.cli:authority_group",
        "Health authority tools: make the key visitors' contact details are sealed to.",
    ),
    "bench": LazyCommand(
        "benchmarks.cli:bench_group", "Benchmarks and size figures, printed as JSON."
    ),
    "demo": LazyCommand(
        "simulator.demo:demo_command",
        "Run broker, aggregator and kiosks with simulated visitors on this machine.",
    ),
    "kiosk": LazyCommand(
        "kiosk.cli:kiosk_group",
        "Door kiosk firmware: scan codes, record check-ins, deliver them.",
    ),
    "ledger": LazyCommand(
        "auditor.cli:ledger_group",
        "Auditor and witness tools: verify notes, checkpoints, proofs and the ledger.",
    ),
    "provision": LazyCommand(
        "provisioning.cli:provision_group",
        "Technician tooling: lay out sites; enrol, re-key and retire kiosks over SSH.",
    ),
    "trace": LazyCommand(
        "authority.trace_cli:trace_group",
        "Health officials: trace a case; decryption happens here, never on the server.",
    ),
    "visitor": LazyCommand(
        "simulator.visitor_cli:visitor_group", "Make visitor codes for testing kiosks."
    ),
}

# The simulated door camera: imported only when a kiosk config asks for camera.kind = simulated.
SIMULATED_CAMERA = "simulator.visitors:simulated_camera"


def load_command(path: str) -> click.Command:
    """Import ``module:attribute`` and return the click command it names."""
    module_name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{path} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are imported by dotted path when first asked for."""

    def __init__(self, *args: object, lazy: dict[str, LazyCommand], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(load_command(self.lazy[cmd_name].path), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every subcommand with its help from the lazy map, importing none of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy:
                stand_in = click.Command(name, help=self.lazy[name].help)  # imports nothing
                rows.append((name, stand_in.get_short_help_str(limit)))
            else:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="safecode")
def cli() -> None:
    """safecode: venue check-in kiosks and a verifiable check-in ledger.

    Start with 'safecode demo' to see the whole system run on this machine.
    """


register_source("simulated", SIMULATED_CAMERA)


def main() -> None:
    """Console-script entry point."""
    cli()
