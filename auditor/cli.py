"""``safecode ledger``: check what the ledger signs, with nothing but its public key."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from protocol.cosignature import CosignatureVerifier, Cosigner, open_cosigned
from protocol.errors import NoteError, ProtocolError
from protocol.note import NoteVerifier

MAX_NOTE_BYTES = 1 << 20


def _fail(message: str) -> NoReturn:
    click.echo(f"FAILED: {message}", err=True)
    sys.exit(1)


def _verifier(vkey: str) -> NoteVerifier:
    try:
        return NoteVerifier.from_string(vkey)
    except NoteError as exc:
        _fail(f"--vkey is not a valid verifier key (name+keyid+base64): {exc}")


def _witness_keys(values: tuple[str, ...]) -> list[CosignatureVerifier]:
    try:
        return [CosignatureVerifier.from_string(v) for v in values]
    except NoteError as exc:
        _fail(f"--witness is not a valid witness key (name+keyid+base64): {exc}")


def _open_ledger(database_url: str) -> Any:
    """The ledger database at ``database_url``, opened read-only; exits 1 if it cannot be."""
    import peewee

    from aggregator.db import open_database

    try:
        return open_database(database_url, create=False)
    except (ValueError, peewee.DatabaseError) as exc:
        _fail(f"cannot open the ledger: {exc}")


_VKEY = click.option(
    "--vkey", required=True, help="The ledger's verifier key (its name is the origin)."
)


def _ledger_source(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--url`` / ``--db`` pair: read the ledger from the API or from its database."""
    command = click.option("--db", "database_url", help="Ledger database URL.")(command)
    return click.option("--url", help="Base URL of the aggregator's read API.")(command)


def _one_source(url: str | None, database_url: str | None) -> None:
    if (url is None) == (database_url is None):
        raise click.UsageError("give exactly one of --url and --db")


@click.group("ledger")
def ledger_group() -> None:
    """Auditor and witness tools: verify notes, checkpoints, proofs and the ledger."""


@ledger_group.command("verify-note")
@click.option("--vkey", required=True, help="Verifier key: name+keyid+base64 (C2SP signed-note).")
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A witness key (name+keyid+base64, type 0x04) whose cosignature counts. Repeatable.",
)
@click.option(
    "--quorum",
    type=click.IntRange(min=0),
    default=None,
    help="Cosignatures by distinct --witness keys required [default: all given].",
)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def verify_note(
    vkey: str, witnesses: tuple[str, ...], quorum: int | None, file: Path | None
) -> None:
    """Exit 0 if the signed note in FILE (or stdin) is signed by VKEY and enough witnesses."""
    verifier = _verifier(vkey)
    known = _witness_keys(witnesses)
    need = len(known) if quorum is None else quorum
    if need > len(known):
        raise click.UsageError(f"--quorum {need} needs at least {need} --witness keys")
    try:
        data = file.read_bytes() if file else sys.stdin.buffer.read(MAX_NOTE_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    if known:
        try:
            cosigned = open_cosigned(data, verifier, known, quorum=need)
        except ProtocolError as exc:
            _fail(str(exc))
        names = ", ".join(sorted(cosigned.witnesses)) or "none"
        click.echo(
            f"OK: signed by {verifier.name} (key id {verifier.key_id:08x}); tree size "
            f"{cosigned.checkpoint.size}; cosigned by {len(cosigned.witnesses)} of "
            f"{len(known)} witness(es) ({names}), quorum {need}"
        )
        return
    from protocol.note import open_note

    try:
        note = open_note(data, [verifier])
    except ProtocolError as exc:
        _fail(str(exc))
    first = note.text.splitlines()[0] if note.text else ""
    click.echo(f"OK: signed by {verifier.name} (key id {verifier.key_id:08x}); {first[:80]}")


_WITNESS = click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="A witness key (name+keyid+base64, type 0x04) whose cosignature counts. Repeatable.",
)


def _quorum_option(default_help: str) -> Callable[..., Any]:
    return click.option(
        "--quorum",
        type=click.IntRange(min=0),
        default=None,
        help=f"Cosignatures by distinct --witness keys required [default: {default_help}].",
    )


def _needed(known: list[CosignatureVerifier], quorum: int | None) -> int:
    need = len(known) if quorum is None else quorum
    if need > len(known):
        raise click.UsageError(f"--quorum {need} needs at least {need} --witness keys")
    return need


@ledger_group.command("verify")
@_ledger_source
@_VKEY
@_WITNESS
@_quorum_option("all given")
def verify_ledger_command(
    url: str | None,
    database_url: str | None,
    vkey: str,
    witnesses: tuple[str, ...],
    quorum: int | None,
) -> None:
    """Re-check every block signature, hash link, root and checkpoint (API or database).

    With --witness keys, also require a checkpoint of this ledger cosigned by --quorum of
    them (consistent with the ledger just checked).
    """
    _one_source(url, database_url)
    verifier = _verifier(vkey)
    known = _witness_keys(witnesses)
    need = _needed(known, quorum)
    if url is not None:
        _verify_remote(url, verifier, known, need)
    else:
        _verify_database(str(database_url), verifier, known, need)


def _verify_remote(
    url: str, verifier: NoteVerifier, known: list[CosignatureVerifier], need: int
) -> None:
    from .log_client import AuditError, LogClient, LogUnavailable, verify_remote_ledger
    from .quorum import QuorumError, check_cosigned, describe, remote_proof

    client = LogClient(url)
    try:
        remote = verify_remote_ledger(client, verifier)
    except (AuditError, LogUnavailable, ValueError) as exc:
        _fail(str(exc))
    click.echo(
        f"OK: {remote.blocks} blocks, tree size {remote.tree_size}, root "
        f"{remote.root.hex()} (leaf hashes from {url}; records not re-hashed)"
    )
    if remote.audit_entries is None:
        click.echo("audit entries: the server lists none (no /v1/audit)")
    else:
        click.echo(f"audit entries: {remote.audit_entries} listed, signed and in their leaves")
    if need == 0:
        return
    try:
        note = client.text(f"/v1/checkpoint/cosigned?min={need}")
        cosigned = check_cosigned(
            note,
            verifier,
            known,
            need,
            tree_size=remote.tree_size,
            root=remote.root,
            proof=remote_proof(client),
        )
    except (QuorumError, LogUnavailable) as exc:
        _fail(str(exc))
    click.echo(describe(cosigned, known, need))


def _verify_database(
    database_url: str, verifier: NoteVerifier, known: list[CosignatureVerifier], need: int
) -> None:
    import peewee

    from aggregator.audit import LedgerError, verify_ledger

    db = _open_ledger(database_url)
    try:
        summary = verify_ledger(verifier.public_key, verifier.name)
        click.echo(
            f"OK: {summary.blocks} blocks, tree size {summary.tree_size}, root {summary.root.hex()}"
        )
        click.echo(f"audit entries: {summary.audit_entries} signed and matching their leaves")
        if need:
            click.echo(_database_quorum(verifier, known, need, summary.tree_size, summary.root))
    except LedgerError as exc:
        _fail(str(exc))
    except peewee.DatabaseError as exc:
        _fail(f"not a safecode ledger database: {exc}")
    finally:
        db.close()


def _database_quorum(
    verifier: NoteVerifier, known: list[CosignatureVerifier], need: int, size: int, root: bytes
) -> str:
    """The OK line for the stored cosignatures of the open ledger database; exits 1 if short."""
    from aggregator.cosignatures import cosigned_checkpoint
    from aggregator.proofs import ProofError, StorageFault, TreeCache, consistency

    from .quorum import QuorumError, check_cosigned, describe

    cache = TreeCache()
    note = cosigned_checkpoint(need)
    if note is None:
        _fail(f"no checkpoint has {need} cosignature(s)")
    try:
        cosigned = check_cosigned(
            note,
            verifier,
            known,
            need,
            tree_size=size,
            root=root,
            proof=lambda old, new: consistency(cache, old, new)[2],
        )
    except (QuorumError, ProofError, StorageFault) as exc:
        _fail(str(exc))
    return describe(cosigned, known, need)


@ledger_group.command("prove")
@click.argument("leaf_id", metavar="ID", required=False)
@_ledger_source
@_VKEY
@click.option("--tree-size", type=click.IntRange(min=1), help="Prove against this checkpoint.")
@click.option(
    "--leaf",
    "leaf_index",
    type=click.IntRange(min=0),
    help="Prove the leaf at this index instead (over --url: an audit entry's leaf).",
)
def prove_command(
    leaf_id: str | None,
    url: str | None,
    database_url: str | None,
    vkey: str,
    tree_size: int | None,
    leaf_index: int | None,
) -> None:
    """Print an inclusion proof of a check-in or audit entry ID (hex) and check it against a
    signed checkpoint. For an audit entry, also check the signed entry and print it."""
    from .log_client import AuditError, LogUnavailable, check_inclusion

    _one_source(url, database_url)
    verifier = _verifier(vkey)
    if (leaf_id is None) == (leaf_index is None):
        raise click.UsageError("give either an ID or --leaf")
    raw_id = b""
    if leaf_id is not None:
        with contextlib.suppress(ValueError):
            raw_id = bytes.fromhex(leaf_id)
        if len(raw_id) != 16 or leaf_id != raw_id.hex():
            raise click.BadParameter("an id is 32 lowercase hex digits", param_hint="ID")
    try:
        if url is not None:
            answer, entry = _proof_from_url(url, raw_id, leaf_index, tree_size)
        else:
            answer, entry = _proof_from_db(str(database_url), raw_id, leaf_index, tree_size)
        raw_id = bytes.fromhex(str(answer.get("id")))
        checked = check_inclusion(raw_id, answer, verifier)
        if entry is not None:
            _check_audit_answer(entry, answer, verifier)
    except (AuditError, LogUnavailable, ValueError) as exc:
        _fail(str(exc))
    what = "audit entry" if entry is not None else "check-in"
    click.echo(f"{what} {raw_id.hex()}")
    click.echo(f"leaf index {checked.leaf_index} of tree size {checked.tree_size}")
    click.echo(f"root {checked.root.hex()} (checkpoint signed by {verifier.name})")
    for i, node in enumerate(checked.proof):
        click.echo(f"proof[{i}] {node.hex()}")
    if entry is not None:
        click.echo(
            f"entry: {entry.action} by {entry.actor} ({entry.role}) at_ms {entry.at_ms} "
            f"case {entry.case.hex()} counts {entry.counts} reason {entry.reason!r}"
        )
    if not checked.bound_to_id:
        click.echo("note: the leaf's commitment was not given; its link to the id is unchecked")
    click.echo(f"OK: the {what} is included in the signed tree")


def _check_audit_answer(entry: Any, answer: dict, verifier: NoteVerifier) -> None:
    """The audit entry is signed by the ledger key and is the very leaf proved."""
    from .log_client import AuditError

    try:
        entry.verify(verifier.public_key)
    except ProtocolError as exc:
        raise AuditError(f"audit entry does not verify: {exc}") from exc
    if answer.get("kind") != "audit" or answer.get("leaf_hash") != entry.leaf_hash.hex():
        raise AuditError("the proved leaf is not this audit entry")


def _proof_from_url(
    url: str, raw_id: bytes, leaf_index: int | None, tree_size: int | None
) -> tuple[dict, Any]:
    """The proof answer (with ``id``) and, for an audit entry, the parsed signed entry."""
    import base64

    from protocol.audit_entry import parse_audit_entry

    from .log_client import AuditError, LogClient, LogUnavailable

    client = LogClient(url)
    listed: dict[str, Any] | None = None
    if leaf_index is not None:
        page = client.json(f"/v1/audit?start={leaf_index}&limit=1").get("entries")
        if not isinstance(page, list) or not page or not isinstance(page[0], dict):
            raise AuditError(f"no audit entry is listed at leaf {leaf_index}")
        listed = page[0]
        if listed.get("leaf_index") != leaf_index:
            raise AuditError(f"no audit entry is listed at leaf {leaf_index}")
        raw_id = bytes.fromhex(str(listed.get("id")))
    suffix = "" if tree_size is None else f"?tree_size={tree_size}"
    answer = client.json(f"/v1/proof/inclusion/{raw_id.hex()}{suffix}")
    answer["id"] = raw_id.hex()
    if answer.get("kind") != "audit":
        return answer, None
    if listed is None:
        try:
            listed = client.json(f"/v1/audit/{raw_id.hex()}")
        except LogUnavailable as exc:
            raise AuditError(f"the audit entry is not listed: {exc}") from exc
    entry = parse_audit_entry(base64.b64decode(str(listed.get("entry")), validate=True))
    if entry.audit_id != raw_id:
        raise AuditError("the listed audit entry has another id")
    return answer, entry


def _proof_from_db(
    database_url: str, raw_id: bytes, leaf_index: int | None, tree_size: int | None
) -> tuple[dict, Any]:
    import peewee

    from aggregator.audit_log import AuditLogEntry, by_audit_id
    from aggregator.proofs import (
        ProofError,
        StorageFault,
        TreeCache,
        inclusion,
        inclusion_of,
        leaf_by_index,
    )
    from protocol.audit_entry import parse_audit_entry

    db = _open_ledger(database_url)
    try:
        if leaf_index is None:
            answer = inclusion(TreeCache(), raw_id, tree_size).to_json()
            row = None
        else:
            row = leaf_by_index(leaf_index)
            if row is None:
                _fail(f"no sealed leaf {leaf_index}")
            answer = inclusion_of(TreeCache(), row, tree_size).to_json()
            raw_id = bytes(row.audit_id if isinstance(row, AuditLogEntry) else row.checkin_id)
        answer["id"] = raw_id.hex()
        if answer.get("kind") != "audit":
            return answer, None
        stored = by_audit_id(raw_id)
        assert stored is not None and stored.wire is not None  # it was just proved
        return answer, parse_audit_entry(bytes(stored.wire))
    except (ProofError, StorageFault, peewee.DatabaseError) as exc:
        _fail(str(exc))
    finally:
        db.close()


@ledger_group.command("witness-keygen")
@click.option("--name", required=True, help="The witness's name, e.g. witness.example.org/w1.")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (mode 0600, never overwritten).",
)
def witness_keygen(name: str, key_path: Path) -> None:
    """Make a witness key; print its public witness key (name+keyid+base64) for the log."""
    try:
        cosigner = Cosigner.generate(name)
    except NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc
    key_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise click.ClickException(f"{key_path} exists; not overwriting a witness key") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(cosigner.to_string() + "\n")
        out.flush()
        os.fsync(out.fileno())
    click.echo(cosigner.verifier().to_string())


def _trusted_state(path: Path, verifier: NoteVerifier) -> Any:
    """The witness state seeded from the checkpoint in ``path`` (StateError if it is bad)."""
    from .witness import StateError, trusted_state

    try:
        text = path.read_bytes()[: MAX_NOTE_BYTES + 1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(f"{path}: not a UTF-8 signed note") from exc
    return trusted_state(text, verifier)


@ledger_group.command("witness")
@click.option("--url", required=True, help="Base URL of the aggregator's read API.")
@_VKEY
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The witness private key file (from witness-keygen).",
)
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the last cosigned checkpoint.",
)
@click.option("--once", is_flag=True, help="Check and cosign once, then exit.")
@click.option(
    "--interval", type=click.FloatRange(min=0.1, max=86400), default=10.0, show_default=True
)
@click.option(
    "--trust-checkpoint",
    "trusted_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint (signed note) obtained out of band: with no state yet, start from it.",
)
@click.option(
    "--trust-first-seen/--no-trust-first-seen",
    default=True,
    show_default=True,
    help="With no state and no --trust-checkpoint, trust the first checkpoint seen.",
)
def witness_command(
    url: str,
    vkey: str,
    key_path: Path,
    state_dir: Path,
    once: bool,
    interval: float,
    trusted_file: Path | None,
    trust_first_seen: bool,
) -> None:
    """Follow the log's checkpoints; cosign each one consistent with the last one cosigned.

    Exits 1 and cosigns nothing if the log shows a checkpoint inconsistent with one this
    witness has signed (a fork or rewrite), or with the --trust-checkpoint it started from.
    """
    import signal

    from .log_client import LogClient
    from .witness import StateError, StateStore, Witness, run_witness

    verifier = _verifier(vkey)
    try:
        cosigner = Cosigner.from_string(key_path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise click.ClickException(f"{key_path}: not a witness private key: {exc}") from exc
    try:
        client = LogClient(url)
        trusted = None if trusted_file is None else _trusted_state(trusted_file, verifier)
        store = StateStore(state_dir)
        try:
            witness = Witness(
                client,
                verifier,
                cosigner,
                store,
                trusted=trusted,
                trust_first_seen=trust_first_seen,
            )
        except StateError:
            store.close()
            raise
    except (ValueError, StateError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if witness.state is None:
        click.echo(
            "witness: no state and no --trust-checkpoint: trusting the first checkpoint seen",
            err=True,
        )
    stop = threading.Event()
    if not once:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        status = run_witness(
            witness,
            once=once,
            interval=interval,
            say=lambda line: click.echo(line, err=line.startswith("REFUSED")),
            stop=stop.wait,
        )
    except StateError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    sys.exit(status)
