"""The official's side in Python (authority/casework.py) against the case API over HTTP,
and ``safecode trace case``'s refusals before anything is sent."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator import audit_log
from aggregator.audit_log import AuditLogEntry
from authority.case_client import CaseApiError, CaseClient
from authority.casework import CaseworkError, WrongKeyError, publish_notices, trace_case
from authority.trace_cli import trace_group
from tests.unit.case_site import (
    CARD_PHONE,
    CASE_PHONE,
    END_MS,
    HA,
    NEAR_PHONE,
    PASSWORD,
    START_MS,
    Site,
)
from tests.unit.ledger_builder import serving
from tests.unit.trace_town import MINUTE, T0

TODAY = datetime.datetime.now(datetime.UTC).date()
CASE, NEAR, OTHER, CARD = CASE_PHONE, NEAR_PHONE, "+821044445555", CARD_PHONE


@pytest.fixture
def base(case_site: Site) -> Iterator[str]:
    site = case_site
    case = site.phone(CASE, "Case")
    near, other = site.phone(NEAR, "=cmd|' /C calc'!A0"), site.phone(OTHER, "Lee")
    card = site.card(CARD, "Oh")
    site.town.visit(case.days[0], "cafe-in", T0)  # [T0, T0 + 60 min)
    site.town.visit(case.days[0], "gym-in", T0 + 2 * 3600)  # [T0 + 2 h, T0 + 3 h)
    site.town.visit(near.days[0], "cafe-in", T0 + 10 * MINUTE)  # 50 min
    site.town.visit(card, "cafe-in", T0 + 30 * MINUTE)  # 30 min
    site.town.visit(other.days[0], "gym-in", T0 + 2 * 3600 + 20 * MINUTE)  # 40 min
    with serving(site.app()) as url:
        yield url


def client(base: str, user: str = "kim") -> CaseClient:
    c = CaseClient(base)
    c.login(user, PASSWORD)
    return c


def actions() -> list[str]:
    return [row.action for row in AuditLogEntry.select().order_by(AuditLogEntry.id)]


def test_the_whole_flow_gives_the_call_list_by_overlap(base: str) -> None:
    lines: list[str] = []
    c = client(base)
    result = trace_case(
        c,
        lambda: HA,
        reason="case 3",
        start_ms=START_MS,
        end_ms=END_MS,
        phone=CASE,
        progress=lines.append,
    )
    rows = result.call_rows()
    assert [(r.phone, r.overlap_s, r.code_type) for r in rows] == [
        (NEAR, 3000.0, "checkin"),
        (OTHER, 2400.0, "checkin"),
        (CARD, 1800.0, "card"),
    ]
    assert rows[0].name == "=cmd|' /C calc'!A0" and rows[2].name == "Oh"
    assert {v["venue"] for v in result.case_visits} == {"cafe-1", "gym-1"}
    assert len(lines) == 4
    contacts = [e.contact for e in result.exposed if e.contact is not None]
    assert (
        len(
            publish_notices(
                c,
                result.case,
                contacts,
                from_day=str(TODAY - datetime.timedelta(days=2)),
                to_day=str(TODAY),
                guidance={"ko": "검사", "en": "Get tested"},
            )
        )
        == 1
    )
    assert actions() == [
        "case-opened",
        "exposure-list",
        "contacts-decrypted",
        "contacts-decrypted",
        "notice",
    ]
    token = c.token
    c.logout()
    with pytest.raises(CaseApiError, match="401 bad_token"):
        CaseClient(base, token).request("GET", f"/v1/cases/{result.case}")


def test_a_wrong_key_is_audited_and_stops_the_flow(base: str) -> None:
    wrong = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"not the HA").digest())
    with pytest.raises(WrongKeyError, match="cannot open the case's batch lists"):
        trace_case(
            client(base),
            lambda: wrong,
            reason="case 4",
            start_ms=START_MS,
            end_ms=END_MS,
            phone=CASE,
        )
    assert actions() == ["case-opened", "decrypt-failed"]
    row = AuditLogEntry.select().order_by(AuditLogEntry.id.desc()).get()
    assert audit_log.entry_json  # the entry is there; its counts say one blob failed
    assert b"blobs" in bytes(row.draft)


def test_an_unopenable_key_file_is_audited(base: str) -> None:
    def no_key() -> X25519PrivateKey:
        raise CaseworkError("cannot open ha.key: wrong passphrase, or not a PEM private key")

    with pytest.raises(CaseworkError, match="wrong passphrase"):
        trace_case(
            client(base), no_key, reason="case 5", start_ms=START_MS, end_ms=END_MS, phone=CASE
        )
    assert actions() == ["case-opened", "decrypt-failed"]


def test_an_unknown_phone_traces_nothing(base: str) -> None:
    result = trace_case(
        client(base),
        lambda: HA,
        reason="case 6",
        start_ms=START_MS,
        end_ms=END_MS,
        phone="+821099998888",
    )
    assert result.credentials == [] and result.call_rows() == []
    assert actions() == ["case-opened"]


def test_refusals_reach_the_caller(base: str) -> None:
    with pytest.raises(CaseApiError, match="401 login_failed"):
        CaseClient(base).login("kim", "wrong password!!")
    with pytest.raises(CaseApiError, match="403 role_refused"):
        CaseClient(base).login("park", PASSWORD)
    with pytest.raises(CaseApiError, match="cannot reach"):
        CaseClient("http://127.0.0.1:9").login("kim", PASSWORD)
    with pytest.raises(CaseApiError, match="http"):
        CaseClient("ftp://x")


def test_cli_refuses_before_sending_anything(tmp_path: Path) -> None:
    key = tmp_path / "ha.key"
    key.write_text("x")
    base_args = [
        "case",
        "--server",
        "http://127.0.0.1:9",
        "--user",
        "kim",
        "--password-file",
        str(key),
        "--key",
        str(key),
        "--passphrase-file",
        str(key),
        "--reason",
        "r",
    ]
    runner = CliRunner()
    both = runner.invoke(
        trace_group,
        [*base_args, "--from", "2025-11-01", "--to", "2025-11-02", "--phone", "1", "--code", "2"],
    )
    assert both.exit_code == 2 and "exactly one of --phone, --code and --resume" in both.output
    day = runner.invoke(
        trace_group, [*base_args, "--from", "11/01", "--to", "2025-11-02", "--phone", "1"]
    )
    assert day.exit_code == 2 and "is not a day YYYY-MM-DD" in day.output
    exists = runner.invoke(
        trace_group,
        [
            *base_args,
            "--from",
            "2025-11-01",
            "--to",
            "2025-11-02",
            "--phone",
            "1",
            "--csv",
            str(key),
        ],
    )
    assert exists.exit_code == 1 and "never overwritten" in exists.output
    zone = runner.invoke(
        trace_group,
        [
            *base_args,
            "--from",
            "2025-11-01",
            "--to",
            "2025-11-02",
            "--phone",
            "1",
            "--time-zone",
            "Mars/Base",
        ],
    )
    assert zone.exit_code == 2 and "unknown time zone" in zone.output
    unreachable = runner.invoke(
        trace_group, [*base_args, "--from", "2025-11-01", "--to", "2025-11-02", "--phone", "1"]
    )
    assert unreachable.exit_code == 1 and "cannot reach the server" in unreachable.output


def test_a_case_is_taken_up_again_by_another_login(base: str) -> None:
    """Opened once, resumed by id from a new login: the same call list, cards included."""
    first = trace_case(
        client(base), lambda: HA, reason="case 8", start_ms=START_MS, end_ms=END_MS, phone=CASE
    )
    lines: list[str] = []
    again = trace_case(client(base), lambda: HA, resume=first.case, progress=lines.append)
    assert again.call_rows() == first.call_rows()
    assert [r.phone for r in again.call_rows()] == [NEAR, OTHER, CARD]
    assert (again.start_ms, again.end_ms) == (START_MS, END_MS)
    assert lines[0].startswith(f"case {first.case} resumed: 1 batch list(s), 0 owner(s), 0 card(s)")
    resumed = ["case-resumed", "exposure-list", "contacts-decrypted", "contacts-decrypted"]
    assert actions()[4:] == resumed
    with pytest.raises(CaseApiError, match="404 no_such_case"):
        trace_case(client(base, "han"), lambda: HA, resume=first.case)
    with pytest.raises(CaseApiError, match="404 no_such_case"):
        trace_case(client(base), lambda: HA, resume="00" * 16)


def test_cli_resume_refuses_a_mixed_or_malformed_call(tmp_path: Path) -> None:
    key = tmp_path / "ha.key"
    key.write_text("x")
    args = ["case", "--server", "http://127.0.0.1:9", "--user", "kim", "--key", str(key)]
    args += ["--password-file", str(key), "--passphrase-file", str(key)]
    runner = CliRunner()
    mixed = runner.invoke(trace_group, [*args, "--resume", "ab" * 16, "--phone", "1"])
    assert mixed.exit_code == 2 and "drop --phone" in mixed.output
    for bad in ("AB" * 16, "ab" * 15, "xyz", "ab" * 16 + "/x"):
        malformed = runner.invoke(trace_group, [*args, "--resume", bad])
        assert malformed.exit_code == 2 and "32 lower-case hex digits" in malformed.output
    new = runner.invoke(trace_group, [*args, "--phone", "1", "--reason", "r"])
    assert new.exit_code == 2 and "a new case needs --from, --to" in new.output
    unreachable = runner.invoke(trace_group, [*args, "--resume", "ab" * 16])
    assert unreachable.exit_code == 1 and "cannot reach the server" in unreachable.output
