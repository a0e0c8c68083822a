"""Options shared by the ``safecode aggregator`` commands."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="/etc/safecode/aggregator.toml",
    show_default=True,
    help="Aggregator configuration file.",
)
