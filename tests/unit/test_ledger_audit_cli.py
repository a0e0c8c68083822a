"""``safecode ledger verify --url/--db`` and ``ledger prove`` against a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from aggregator.db import CheckinEntry, database_proxy, open_database
from aggregator.web import create_app
from auditor.cli import ledger_group
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import ORIGIN, VKEY, LedgerBuilder, serving
from tests.unit.wire_checks import seeded

CLI = click.Group(commands={"ledger": ledger_group})
OTHER_VKEY = NoteVerifier.from_public_key(ORIGIN, seeded("not-the-ledger").public_key()).to_string()


def ledger(*args: str) -> Result:
    return CliRunner().invoke(CLI, ["ledger", *args])


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_database(url)
    builder = LedgerBuilder()
    ids: list[bytes] = []
    for count in (2, 3, 1, 4):
        ids += builder.block(count)
    ids.append(builder.scan())  # not sealed
    yield url, ids
    if not database_proxy.is_closed():
        database_proxy.close()


def test_verify_over_http_and_from_the_database_agree(built: tuple[str, list[bytes]]) -> None:
    url, _ = built
    from_db = ledger("verify", "--db", url, "--vkey", VKEY)
    assert from_db.exit_code == 0, from_db.output
    with serving(create_app({"DATABASE_URL": url})) as base:
        remote = ledger("verify", "--url", base, "--vkey", VKEY)
        assert remote.exit_code == 0, remote.output
        wrong_key = ledger("verify", "--url", base, "--vkey", OTHER_VKEY)
        assert wrong_key.exit_code == 1 and "header does not verify" in wrong_key.output
    assert "OK: 4 blocks, tree size 10, root" in remote.output
    root = from_db.output.split("root ")[1].split()[0]
    assert f"root {root}" in remote.output
    both = ledger("verify", "--url", "http://127.0.0.1:1", "--db", url, "--vkey", VKEY)
    assert both.exit_code == 2 and "exactly one of --url and --db" in both.output


def test_verify_over_http_catches_a_rewritten_leaf(built: tuple[str, list[bytes]]) -> None:
    url, _ = built
    row = CheckinEntry.get(CheckinEntry.leaf_index == 6)
    row.leaf_hash = bytes(32)
    row.save()
    with serving(create_app({"DATABASE_URL": url})) as base:
        result = ledger("verify", "--url", base, "--vkey", VKEY)
    assert result.exit_code == 1
    assert "FAILED: block 3: recomputed root differs from the signed root" in result.output


def test_verify_over_http_reports_an_unreachable_server() -> None:
    result = ledger("verify", "--url", "http://127.0.0.1:9", "--vkey", VKEY)
    assert result.exit_code == 1 and "FAILED" in result.output


def test_prove_over_http_and_from_the_database(built: tuple[str, list[bytes]]) -> None:
    url, ids = built
    with serving(create_app({"DATABASE_URL": url})) as base:
        for index in (0, 4, 9):
            result = ledger("prove", ids[index].hex(), "--url", base, "--vkey", VKEY)
            assert result.exit_code == 0, result.output
            assert f"leaf index {index} of tree size 10" in result.output
            assert "OK: the check-in is included" in result.output
            assert "unchecked" not in result.output
        older = ledger("prove", ids[1].hex(), "--url", base, "--vkey", VKEY, "--tree-size", "5")
        assert older.exit_code == 0 and "of tree size 5" in older.output
        unsealed = ledger("prove", ids[-1].hex(), "--url", base, "--vkey", VKEY)
        assert unsealed.exit_code == 1 and "not sealed" in unsealed.output
        wrong_key = ledger("prove", ids[0].hex(), "--url", base, "--vkey", OTHER_VKEY)
        assert wrong_key.exit_code == 1 and "checkpoint does not verify" in wrong_key.output
    local = ledger("prove", ids[3].hex(), "--db", url, "--vkey", VKEY)
    assert local.exit_code == 0 and "leaf index 3 of tree size 10" in local.output
    unknown = ledger("prove", "ab" * 16, "--db", url, "--vkey", VKEY)
    assert unknown.exit_code == 1 and "no such check-in" in unknown.output
    bad = ledger("prove", "xyz", "--db", url, "--vkey", VKEY)
    assert bad.exit_code == 2 and "32 lowercase hex digits" in bad.output


def test_prove_refuses_a_proof_for_another_leaf(built: tuple[str, list[bytes]]) -> None:
    """A server answering with a valid proof of some other leaf is caught."""
    from auditor.log_client import AuditError, check_inclusion

    url, ids = built
    with serving(create_app({"DATABASE_URL": url})) as base:
        from auditor.log_client import LogClient

        answer = LogClient(base).json(f"/v1/proof/inclusion/{ids[2].hex()}")
    verifier = NoteVerifier.from_string(VKEY)
    check_inclusion(ids[2], answer, verifier)
    with pytest.raises(AuditError, match="does not name this check-in"):
        check_inclusion(ids[3], answer, verifier)
    tampered = {**answer, "leaf_index": answer["leaf_index"] + 1}
    with pytest.raises(AuditError):
        check_inclusion(ids[2], tampered, verifier)


def test_the_server_refuses_to_prove_from_damaged_leaves(built: tuple[str, list[bytes]]) -> None:
    url, ids = built
    client = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
    assert client.get(f"/v1/proof/inclusion/{ids[0].hex()}").status_code == 200
    row = CheckinEntry.get(CheckinEntry.leaf_index == 9)
    row.leaf_hash = bytes(32)
    row.save()
    fresh = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
    for path in (f"/v1/proof/inclusion/{ids[0].hex()}", "/v1/proof/consistency?old=2"):
        response = fresh.get(path)
        assert response.status_code == 500
        assert response.get_json()["error"] == "storage_fault"
