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


def open_config_database(config_path: Path) -> None:
    """Open the database the config at ``config_path`` names, for this process.

    A bad config is a ClickException (its message, no traceback).
    """
    from support.config_file import ConfigError

    from .config import load_config
    from .db import open_database

    try:
        open_database(load_config(config_path).database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
