"""``safecode authority``: the health authority's tools (today: make its key)."""

from __future__ import annotations

from pathlib import Path

import click

from authority.key_file import AuthorityKeyError, check_passphrase, write_authority_key
from protocol.authority_key import format_public_key, key_id


@click.group("authority")
def authority_group() -> None:
    """Health authority tools: make the key visitors' contact details are sealed to."""


def _read_passphrase(passphrase_file: Path | None) -> str:
    """The passphrase: the first line of ``passphrase_file``, or asked twice, never echoed."""
    if passphrase_file is None:
        return click.prompt("Passphrase for the new key", hide_input=True, confirmation_prompt=True)
    try:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read the passphrase file: {exc}") from exc
    return lines[0] if lines else ""


@authority_group.command("keygen")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file to make (0600, never overwritten); FILE.pub is written beside it.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the passphrase from this file's first line instead of asking for it.",
)
def keygen_command(out: Path, passphrase_file: Path | None) -> None:
    """Make the health authority's X25519 key, encrypted under a passphrase (12+ characters)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    for existing in (out, out.with_name(out.name + ".pub")):
        if existing.exists():
            raise click.ClickException(f"{existing} already exists; it is never overwritten")
    passphrase = _read_passphrase(passphrase_file)
    try:
        check_passphrase(passphrase)
        key = X25519PrivateKey.generate()
        public_path = write_authority_key(key, out, passphrase)
    except AuthorityKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"private key: {out} (passphrase-encrypted, mode 0600)")
    click.echo(f"public key file: {public_path}")
    click.echo(f"public key: {format_public_key(key)}")
    click.echo(f"key id: {key_id(key)}")
