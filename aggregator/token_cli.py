"""``token create|revoke|list`` for one role's bearer tokens (aggregator/bearer_tokens.py).

Operators (``safecode aggregator token``) and desk staff (``safecode aggregator desk
token``) share these commands; each names the module holding its role's tokens, which is
imported only when a command runs.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from .bearer_tokens import BearerTokens, TokenError
from .cli_options import CONFIG_OPTION, open_config_database


def token_commands(tokens_path: str, *, help_text: str) -> click.Group:
    """A ``token`` group for the BearerTokens at ``"package.module:ATTRIBUTE"``."""
    module_name, attribute = tokens_path.split(":")
    group = click.Group("token", help=help_text)

    def tokens(config_path: Path) -> BearerTokens:
        open_config_database(config_path)
        found: BearerTokens = getattr(importlib.import_module(module_name), attribute)
        return found

    @group.command("create")
    @CONFIG_OPTION
    @click.option("--name", required=True, help="Who the token is for (unique).")
    def create(config_path: Path, name: str) -> None:
        """Make a token and print it once; only its hash is stored."""
        role_tokens = tokens(config_path)
        try:
            token = role_tokens.create(name)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(token)
        click.echo(f"{role_tokens.role} token for {name}: shown once, keep it secret", err=True)

    @group.command("revoke")
    @CONFIG_OPTION
    @click.option("--name", required=True)
    def revoke(config_path: Path, name: str) -> None:
        """Revoke a holder's token."""
        role_tokens = tokens(config_path)
        try:
            role_tokens.revoke(name)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"revoked the {role_tokens.role} token of {name}")

    @group.command("list")
    @CONFIG_OPTION
    def list_command(config_path: Path) -> None:
        """Names and token ids (never secrets), one JSON object per line."""
        for row in tokens(config_path).listing():
            click.echo(json.dumps(row, sort_keys=True))

    return group
