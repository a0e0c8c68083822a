"""``safecode aggregator desk token create|revoke|list``: desk staff tokens."""

from __future__ import annotations

import click

from ..token_cli import token_commands


@click.group("desk")
def desk_group() -> None:
    """The desk where staff issue and revoke printed cards."""


desk_group.add_command(
    token_commands(
        "aggregator.desk.tokens:DESK_TOKENS",
        help_text="Desk staff tokens (they issue and revoke cards, nothing else).",
    )
)
