"""``safecode ledger``: check what the ledger signs, with nothing but its public key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from protocol.errors import NoteError, ProtocolError
from protocol.note import NoteVerifier, open_note

MAX_NOTE_BYTES = 1 << 20


def _fail(message: str) -> NoReturn:
    click.echo(f"FAILED: {message}", err=True)
    sys.exit(1)


def _verifier(vkey: str) -> NoteVerifier:
    try:
        return NoteVerifier.from_string(vkey)
    except NoteError as exc:
        _fail(f"--vkey is not a valid verifier key (name+keyid+base64): {exc}")


@click.group("ledger")
def ledger_group() -> None:
    """Auditor tools: verify signed notes, checkpoints and the ledger."""


@ledger_group.command("verify-note")
@click.option("--vkey", required=True, help="Verifier key: name+keyid+base64 (C2SP signed-note).")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def verify_note(vkey: str, file: Path | None) -> None:
    """Exit 0 if the signed note in FILE (or stdin) carries a valid signature by VKEY, else 1."""
    verifier = _verifier(vkey)
    try:
        data = file.read_bytes() if file else sys.stdin.buffer.read(MAX_NOTE_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    try:
        note = open_note(data, [verifier])
    except ProtocolError as exc:
        _fail(str(exc))
    first = note.text.splitlines()[0] if note.text else ""
    click.echo(f"OK: signed by {verifier.name} (key id {verifier.key_id:08x}); {first[:80]}")


@ledger_group.command("verify")
@click.option("--db", "database_url", required=True, help="Ledger database URL.")
@click.option("--vkey", required=True, help="The ledger's verifier key (its name is the origin).")
def verify_ledger_command(database_url: str, vkey: str) -> None:
    """Re-check every block signature, hash link, leaf, root and checkpoint in a database."""
    import peewee

    from aggregator.audit import LedgerError, verify_ledger
    from aggregator.db import open_database

    verifier = _verifier(vkey)
    try:
        db = open_database(database_url, create=False)
    except (ValueError, peewee.DatabaseError) as exc:
        _fail(f"cannot open the ledger: {exc}")
    try:
        summary = verify_ledger(verifier.public_key, verifier.name)
    except LedgerError as exc:
        _fail(str(exc))
    except peewee.DatabaseError as exc:
        _fail(f"not a safecode ledger database: {exc}")
    finally:
        db.close()
    click.echo(
        f"OK: {summary.blocks} blocks, tree size {summary.tree_size}, root {summary.root.hex()}"
    )
