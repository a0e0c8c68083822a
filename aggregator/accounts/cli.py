"""``safecode aggregator user add|list|disable|passwd|venues|logout``: staff logins.

Passwords never go on the command line (it is visible in ``ps`` and shell history):
they are asked twice on the terminal, or read from the first line of
``--password-file`` (``-`` for standard input), and must have 12 or more characters.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from ..cli_options import CONFIG_OPTION, open_config_database
from .errors import AccountError
from .roles import ROLES

_password_file = click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    default=None,
    help="Read the password from the first line of this file ('-': standard input).",
)


@click.group("user")
def user_group() -> None:
    """Staff logins for the pages: officials, venue owners, operators, desk staff."""


def _password(path: Path | None) -> str:
    if path is None:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the password file: {exc}") from exc
    lines = text.splitlines()
    return lines[0] if lines else ""


@contextlib.contextmanager
def _account_errors() -> Iterator[None]:
    """AccountError becomes a click error (message, exit status 1)."""
    try:
        yield
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@user_group.command("add")
@CONFIG_OPTION
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--venue", "venues", multiple=True, help="A venue the owner runs (repeat).")
@_password_file
def add(
    config_path: Path, name: str, role: str, venues: tuple[str, ...], password_file: Path | None
) -> None:
    """Make a login NAME with a role (venue owners: one --venue per venue)."""
    from .users import add_user

    open_config_database(config_path)
    with _account_errors():
        add_user(name, role, _password(password_file), venues)
    click.echo(f"made {role} login {name}")


@user_group.command("list")
@CONFIG_OPTION
def list_command(config_path: Path) -> None:
    """Every login, one JSON object per line (never a password hash)."""
    from .users import list_users

    open_config_database(config_path)
    for row in list_users():
        click.echo(json.dumps(row, sort_keys=True))


@user_group.command("disable")
@CONFIG_OPTION
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the login again instead.")
def disable(config_path: Path, name: str, enable: bool) -> None:
    """Disable a login (its sessions end at once), or enable it again."""
    from .users import set_disabled

    open_config_database(config_path)
    with _account_errors():
        set_disabled(name, not enable)
    click.echo(f"{'enabled' if enable else 'disabled'} login {name}")


@user_group.command("passwd")
@CONFIG_OPTION
@click.argument("name")
@_password_file
def passwd(config_path: Path, name: str, password_file: Path | None) -> None:
    """Set a new password (lifts a lockout, ends the login's sessions)."""
    from .users import set_password

    open_config_database(config_path)
    with _account_errors():
        set_password(name, _password(password_file))
    click.echo(f"new password for {name}")


@user_group.command("venues")
@CONFIG_OPTION
@click.argument("name")
@click.option("--venue", "venues", multiple=True, required=True, help="A venue (repeat).")
def venues_command(config_path: Path, name: str, venues: tuple[str, ...]) -> None:
    """Bind a venue owner's login to exactly these venues (ends its sessions)."""
    from .users import set_venues

    open_config_database(config_path)
    with _account_errors():
        result = set_venues(name, venues)
    click.echo(f"{name}: {', '.join(result)}")


@user_group.command("logout")
@CONFIG_OPTION
@click.argument("name")
def logout(config_path: Path, name: str) -> None:
    """End every session of a login ("log out everywhere")."""
    from .users import log_out_everywhere

    open_config_database(config_path)
    with _account_errors():
        ended = log_out_everywhere(name)
    click.echo(f"ended {ended} session(s) of {name}")
