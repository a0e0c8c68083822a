"""``safecode aggregator desk token create|revoke|list``: desk staff tokens."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..cli_options import CONFIG_OPTION
from ..config import ConfigError, load_config


@click.group("desk")
def desk_group() -> None:
    """The desk where staff issue and revoke printed cards."""


@desk_group.group("token")
def desk_token_group() -> None:
    """Desk staff tokens (they issue and revoke cards, nothing else)."""


def _open(config_path: Path) -> None:
    from ..db import open_database

    try:
        open_database(load_config(config_path).database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@desk_token_group.command("create")
@CONFIG_OPTION
@click.option("--name", required=True, help="Who the token is for (unique).")
def create(config_path: Path, name: str) -> None:
    """Make a desk token and print it once; only its hash is stored."""
    from .tokens import TokenError, create_token

    _open(config_path)
    try:
        token = create_token(name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)
    click.echo(f"desk token for {name}: shown once, keep it secret", err=True)


@desk_token_group.command("revoke")
@CONFIG_OPTION
@click.option("--name", required=True)
def revoke(config_path: Path, name: str) -> None:
    """Revoke a desk staff member's token."""
    from .tokens import TokenError, revoke_token

    _open(config_path)
    try:
        revoke_token(name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked the desk token of {name}")


@desk_token_group.command("list")
@CONFIG_OPTION
def list_command(config_path: Path) -> None:
    """Desk staff names and token ids (never secrets), one JSON object per line."""
    from .tokens import list_tokens

    _open(config_path)
    for row in list_tokens():
        click.echo(json.dumps(row, sort_keys=True))
