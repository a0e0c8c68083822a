"""Audit entries over the read API (``GET /v1/audit``) and in ``safecode ledger verify/prove``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from aggregator.audit_log import AuditLogEntry, append_audit
from aggregator.db import database_proxy, open_database
from aggregator.web import create_app
from auditor.cli import ledger_group
from auditor.log_client import LogClient, verify_remote_ledger
from protocol.audit_entry import parse_audit_entry, sign_audit_entry
from protocol.encoding import encode
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import LEDGER, NOW, VKEY, LedgerBuilder, serving
from tests.unit.wire_checks import seeded

CLI = click.Group(commands={"ledger": ledger_group})
CASE = bytes(range(16))


def ledger(*args: str) -> Result:
    return CliRunner().invoke(CLI, ["ledger", *args])


def append(action: str, reason: str = "confirmed case 7") -> bytes:
    return append_audit(
        action=action,
        actor="kim.official",
        role="health-official",
        case=CASE,
        reason=reason,
        counts={"visits": 20},
        now=lambda: NOW,
    )


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """Leaves 0-1 check-ins; 2 audit, 3 check-in; 4-6 audit; one audit entry unsealed."""
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_database(url)
    builder = LedgerBuilder()
    checkins = builder.block(2)
    audits = [append("case-opened")]
    checkins += builder.block(1)
    audits += [append("exposure-list"), append("contacts-decrypted"), append("export")]
    assert builder.sequencer.seal() is not None
    audits.append(append("notice"))  # not sealed
    yield url, checkins, audits
    if not database_proxy.is_closed():
        database_proxy.close()


def test_listing_pages_by_leaf_index(built: tuple[str, list[bytes], list[bytes]]) -> None:
    url, _, audits = built
    client = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
    first = client.get("/v1/audit?limit=2").get_json()
    assert [e["leaf_index"] for e in first["entries"]] == [2, 4] and first["next"] == 5
    rest = client.get(f"/v1/audit?start={first['next']}&limit=2").get_json()
    assert [e["leaf_index"] for e in rest["entries"]] == [5, 6] and rest["next"] is None
    entries = first["entries"] + rest["entries"]
    assert [e["id"] for e in entries] == [a.hex() for a in audits[:4]]  # unsealed not listed
    assert [e["block"] for e in entries] == [1, 2, 2, 2]
    one = entries[1]
    assert one["action"] == "exposure-list" and one["case"] == CASE.hex()
    assert one["counts"] == {"visits": 20} and one["at_ms"] == NOW * 1000
    entry = parse_audit_entry(base64.b64decode(one["entry"]))
    entry.verify(LEDGER.public_key())
    assert client.get(f"/v1/audit/{audits[1].hex()}").get_json() == one
    assert client.get(f"/v1/audit/{audits[4].hex()}").status_code == 404  # not sealed yet
    assert client.get(f"/v1/audit/{'ab' * 16}").status_code == 404
    assert client.get("/v1/audit/" + "AB" * 16).get_json()["error"] == "bad_audit_id"
    for bad in ("/v1/audit/xyz", "/v1/audit?limit=0", "/v1/audit?start=-1", "/v1/audit?x=1"):
        assert client.get(bad).status_code == 400, bad


def test_verify_and_prove_with_audit_entries(built: tuple[str, list[bytes], list[bytes]]) -> None:
    url, checkins, audits = built
    from_db = ledger("verify", "--db", url, "--vkey", VKEY)
    assert from_db.exit_code == 0, from_db.output
    assert "tree size 7" in from_db.output and "audit entries: 4 signed" in from_db.output
    with serving(create_app({"DATABASE_URL": url})) as base:
        remote = ledger("verify", "--url", base, "--vkey", VKEY)
        assert remote.exit_code == 0, remote.output
        assert "audit entries: 4 listed, signed and in their leaves" in remote.output
        proved = ledger("prove", audits[2].hex(), "--url", base, "--vkey", VKEY)
        assert proved.exit_code == 0, proved.output
        assert "leaf index 5 of tree size 7" in proved.output
        assert "entry: contacts-decrypted by kim.official" in proved.output
        assert "OK: the audit entry is included" in proved.output
        by_leaf = ledger("prove", "--leaf", "4", "--url", base, "--vkey", VKEY)
        assert by_leaf.exit_code == 0 and f"audit entry {audits[1].hex()}" in by_leaf.output
        not_audit = ledger("prove", "--leaf", "3", "--url", base, "--vkey", VKEY)
        assert not_audit.exit_code == 1 and "no audit entry is listed at leaf 3" in not_audit.output
        checkin = ledger("prove", checkins[2].hex(), "--url", base, "--vkey", VKEY)
        assert checkin.exit_code == 0 and "OK: the check-in is included" in checkin.output
        unsealed = ledger("prove", audits[4].hex(), "--url", base, "--vkey", VKEY)
        assert unsealed.exit_code == 1 and "not sealed" in unsealed.output
    local = ledger("prove", "--leaf", "6", "--db", url, "--vkey", VKEY)
    assert local.exit_code == 0 and f"audit entry {audits[3].hex()}" in local.output
    local_checkin = ledger("prove", "--leaf", "3", "--db", url, "--vkey", VKEY)
    assert local_checkin.exit_code == 0 and f"check-in {checkins[2].hex()}" in local_checkin.output
    neither = ledger("prove", "--db", url, "--vkey", VKEY)
    assert neither.exit_code == 2 and "either an ID or --leaf" in neither.output


def _resign(audit_id: bytes, **changes: object) -> None:
    row = AuditLogEntry.get(AuditLogEntry.audit_id == audit_id)
    fields = parse_audit_entry(bytes(row.wire)).fields()
    fields.update(changes)
    wire = sign_audit_entry(LEDGER, fields)
    AuditLogEntry.update(draft=encode(fields), wire=wire).where(
        AuditLogEntry.id == row.id
    ).execute()


def test_a_tampered_entry_fails_both_verifications(
    built: tuple[str, list[bytes], list[bytes]],
) -> None:
    """Rewritten (even re-signed with the ledger key), an entry is not the sealed leaf."""
    url, _, audits = built
    _resign(audits[1], reason="routine check", counts={"visits": 2})
    from_db = ledger("verify", "--db", url, "--vkey", VKEY)
    assert from_db.exit_code == 1
    assert "FAILED: block 2: audit entry at leaf 4 does not match its leaf" in from_db.output
    with serving(create_app({"DATABASE_URL": url})) as base:
        remote = ledger("verify", "--url", base, "--vkey", VKEY)
        assert remote.exit_code == 1
        assert "block 2: leaf 4 is not the audit entry listed there" in remote.output
        proved = ledger("prove", audits[1].hex(), "--url", base, "--vkey", VKEY)
        assert proved.exit_code == 1 and "not this audit entry" in proved.output


def test_remote_verify_refuses_entries_not_signed_by_the_ledger(
    built: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, _, audits = built
    row = AuditLogEntry.get(AuditLogEntry.audit_id == audits[0])
    other = sign_audit_entry(seeded("not-the-ledger"), parse_audit_entry(bytes(row.wire)).fields())
    AuditLogEntry.update(wire=other).where(AuditLogEntry.id == row.id).execute()
    verifier = NoteVerifier.from_string(VKEY)
    with serving(create_app({"DATABASE_URL": url})) as base:
        result = ledger("verify", "--url", base, "--vkey", VKEY)
        assert result.exit_code == 1
        assert "audit entry at leaf 2 does not verify" in result.output
        # Trusting that key as an audit key, the entry verifies but is not the sealed leaf.
        from auditor.log_client import AuditError

        with pytest.raises(AuditError, match="leaf 2 is not the audit entry"):
            verify_remote_ledger(
                LogClient(base), verifier, audit_keys=[seeded("not-the-ledger").public_key()]
            )


def test_a_witness_cosigns_a_checkpoint_over_audit_leaves(
    built: tuple[str, list[bytes], list[bytes]], tmp_path: Path
) -> None:
    """Audit leaves are just leaves: the witness cosigns, verify --witness takes the quorum."""
    url, _, _ = built
    key = tmp_path / "w1.key"
    made = ledger("witness-keygen", "--name", "witness.example/w1", "--key", str(key))
    assert made.exit_code == 0, made.output
    witness_vkey = made.stdout.strip()
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WITNESSES": [witness_vkey]})
    with serving(app) as base:
        args = ("--url", base, "--vkey", VKEY, "--key", str(key), "--state", str(tmp_path / "w"))
        cosigned = ledger("witness", *args, "--once")
        assert cosigned.exit_code == 0 and "cosigned: tree size 7" in cosigned.output
        remote = ledger("verify", "--url", base, "--vkey", VKEY, "--witness", witness_vkey)
        assert remote.exit_code == 0, remote.output
        assert "audit entries: 4 listed" in remote.output and "cosigned by 1 of 1" in remote.output


def test_append_from_a_web_request_then_sealed(
    built: tuple[str, list[bytes], list[bytes]],
) -> None:
    """The web process (its own per-request database binding) appends; the sequencer seals."""
    url, _, _ = built
    app = create_app({"DATABASE_URL": url, "TESTING": True})

    def open_case() -> dict[str, str]:
        audit_id = append("case-opened", reason="  from a form  ")
        return {"audit": audit_id.hex()}

    app.add_url_rule("/test/open-case", view_func=open_case, methods=["POST"])
    answer = app.test_client().post("/test/open-case").get_json()
    row = AuditLogEntry.get(AuditLogEntry.audit_id == bytes.fromhex(answer["audit"]))
    assert row.leaf_index is None
    LedgerBuilder().sequencer.seal()
    row = AuditLogEntry.get(AuditLogEntry.id == row.id)
    assert row.leaf_index == 8  # after the fixture's waiting "notice" entry, in append order
    assert parse_audit_entry(bytes(row.wire)).reason == "from a form"
    assert ledger("verify", "--db", url, "--vkey", VKEY).exit_code == 0
