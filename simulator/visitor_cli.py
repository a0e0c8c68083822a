"""``safecode visitor``: visitor-side tools for technicians testing a kiosk."""

from __future__ import annotations

import time
from pathlib import Path

import click

from protocol import keys
from protocol.presentation import CodeType

from .visitors import enrol_visitor


@click.group("visitor")
def visitor_group() -> None:
    """Make visitor codes for testing kiosks."""


@visitor_group.command("sample")
@click.option(
    "--issuer-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sign with this issuer key (PEM) so a kiosk trusting it accepts the code. "
    "Without it a throwaway issuer is used and kiosks refuse the code as unknown.",
)
@click.option(
    "--type",
    "code_type",
    type=click.Choice(["checkin", "diagnostic"]),
    default="checkin",
    show_default=True,
    help="Code type bound into the signature.",
)
def sample(issuer_key: Path | None, code_type: str) -> None:
    """Print one fresh presentation text (valid for 30 seconds)."""
    issuer = keys.load_private(issuer_key) if issuer_key else keys.generate()
    now = time.time()
    wallet = enrol_visitor(issuer, now)
    click.echo(wallet.show(now, CodeType[code_type.upper()]).to_text())
