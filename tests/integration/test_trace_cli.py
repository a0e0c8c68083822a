"""``safecode trace case`` against a live ``aggregator run --issuer``: phones enrolled over
HTTP through the real wallet API, their visits stored by real ingest with the site's data
key, the official's whole case from the command line, and the audit entries sealed and
verified by ``safecode ledger verify``."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator import audit_log, vault
from aggregator.accounts.users import add_user
from aggregator.audit_log import AuditLogEntry
from aggregator.config import load_config
from aggregator.ingest import Ingestor, Result
from aggregator.issuer.tables import EnrolmentEntry
from aggregator.key_files import data_master_key_path
from aggregator.registry import enrol_kiosk
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.contact import open_contact
from protocol.issuance import day_start, local_day
from protocol.notice import notice_tag
from protocol.presentation import CodeType, present
from provisioning.site import Site
from simulator.broker import LocalBroker
from simulator.visitors import Wallet
from simulator.wallet_client import EnrolledPhone, enrol_phone
from tests.live_case import (
    authority_site,
    ledger_verify,
    running_aggregator,
    safecode,
    site_database,
)
from tests.unit.wire_checks import seeded
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
SEOUL = ZoneInfo("Asia/Seoul")
PASSWORD = "correct horse battery"
PASSPHRASE = "a passphrase for the HA key"
CASE, NEAR, FAR = "+821011112222", "+821033334444", "+821077778888"
KIOSK = seeded("trace-cli-kiosk")


@dataclass
class Live:
    site: Site
    base: str
    key_file: Path
    secrets: Path
    phones: dict[str, EnrolledPhone]
    authority: X25519PrivateKey
    day: dt.date


def _visit(wallet: Wallet, issuer_public: object, seq: int, at: float) -> None:
    """One scan at the cafe's entrance, ingested here with the site's data key."""
    wire = sign_checkin(
        KIOSK,
        checkin_id=hashlib.sha256(b"trace-cli-%d" % seq).digest()[:16],
        kiosk_id="cafe-door",
        venue_id="cafe-9",
        seq=seq,
        door="entrance",
        scanned_ms=int(at * 1000),
        clock=ClockState(True, bytes(16), seq),
        presentation=wallet.show(at).to_bytes(),
    )
    outcome = Ingestor([issuer_public], now=lambda: at).handle(
        topics.topic("cafe-door", topics.CHECKIN), wire
    )
    assert outcome.result is Result.STORED, outcome.reason


@pytest.fixture
def live(tmp_path: Path, broker: LocalBroker) -> Iterator[Live]:
    key_file = tmp_path / "official" / "ha.key"
    authority, site = authority_site(
        tmp_path / "site", key_file, PASSPHRASE, mqtt_port=broker.port, visitors=5
    )
    config = load_config(site.aggregator_config)
    with site_database(site):
        add_user("kim", "official", PASSWORD)
        add_user("park", "venue", PASSWORD, ["cafe-9"])
        enrol_kiosk("cafe-door", "cafe-9", keys.public_bytes(KIOSK))
    with running_aggregator(site, timeout=30) as base:
        phones = {n: enrol_phone(base, n, language="en") for n in (CASE, NEAR, FAR)}
        with site_database(site):
            try:
                vault.install(vault.Vault.from_file(data_master_key_path(config)))
                issuer_public = keys.load_private(config.issuer_key_path).public_key()
                now = time.time()
                day = local_day(now, SEOUL)
                first = max(day_start(day, SEOUL) + 60, now - 3 * 3600)
                _visit(phones[CASE].days[0], issuer_public, 1, first)  # [first, first + 60 min)
                _visit(phones[NEAR].days[0], issuer_public, 2, first + 10 * 60)  # 50 min
                _visit(phones[FAR].days[0], issuer_public, 3, first + 55 * 60)  # 5 min: too short
                secrets = tmp_path / "official"
                (secrets / "password").write_text(PASSWORD + "\n")
                (secrets / "passphrase").write_text(PASSPHRASE + "\n")
                (secrets / "wrong").write_text("not the passphrase at all\n")
                yield Live(site, base, key_file, secrets, phones, authority, day)
            finally:
                vault.install(None)


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read()


def _official(
    live: Live,
    *extra: str,
    user: str = "kim",
    password: str = "password",
    passphrase: str = "passphrase",
) -> subprocess.CompletedProcess[str]:
    """``safecode trace case`` as ``user``, with the HA key file; ``password`` and
    ``passphrase`` name files of the official's folder."""
    return safecode(
        "trace",
        "case",
        "--server",
        live.base,
        "--user",
        user,
        "--password-file",
        str(live.secrets / password),
        "--key",
        str(live.key_file),
        "--passphrase-file",
        str(live.secrets / passphrase),
        *extra,
        cwd=live.secrets,
    )


def _trace(
    live: Live, *extra: str, passphrase: str = "passphrase"
) -> subprocess.CompletedProcess[str]:
    day = live.day.isoformat()
    reason = ("--reason", "=confirmed case 41", "--from", day, "--to", day)
    return _official(live, *reason, *extra, passphrase=passphrase)


def test_a_case_from_the_command_line(live: Live) -> None:
    out = live.secrets / "calls.csv"
    done = _trace(live, "--phone", "010-1111-2222", "--csv", str(out), "--json", "--notify")
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stderr.splitlines() if line.startswith("trace: ")]
    assert len(steps) >= 5, done.stderr
    result = json.loads(done.stdout)
    assert [c["phone"] for c in result["calls"]] == [NEAR]
    assert result["calls"][0]["overlap_s"] == 3000.0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0][:3] == ["venue", "case_start", "case_end"]
    assert rows[1][0] == "cafe-9" and rows[1][5] == "50" and rows[1][8] == "'" + NEAR
    assert rows[1][9] == "en"
    assert out.stat().st_mode & 0o077 == 0
    # the notice: the exposed wallet's tag is in the public list, padded to 16
    notices = json.loads(_get(live.base + "/v1/notices"))["notices"]
    assert len(notices) == 1 and len(notices[0]["tags"]) == 16
    row = EnrolmentEntry.get(EnrolmentEntry.enrolment_id == live.phones[NEAR].enrolment)
    secret = open_contact(live.authority, bytes(row.contact)).notify_secret
    tag = notice_tag(secret, bytes.fromhex(notices[0]["notice"]))
    assert base64.urlsafe_b64encode(tag).decode().rstrip("=") in notices[0]["tags"]
    assert notices[0]["guidance"]["en"].startswith("You were at the same place")
    # by the wallet's diagnostic code, shown in person
    today = live.phones[CASE].days[0]
    code = present(today.key, today.credential, now=time.time(), code_type=CodeType.DIAGNOSTIC)
    by_code = _trace(live, "--code", code.to_text(), "--json")
    assert by_code.returncode == 0, by_code.stderr
    assert [c["phone"] for c in json.loads(by_code.stdout)["calls"]] == [NEAR]


def test_a_wrong_passphrase_is_audited_and_writes_nothing(live: Live) -> None:
    out = live.secrets / "never.csv"
    done = _trace(live, "--phone", CASE, "--csv", str(out), passphrase="wrong")
    assert done.returncode == 1
    assert "wrong passphrase" in done.stderr and not out.exists()
    actions = [row.action for row in AuditLogEntry.select().order_by(AuditLogEntry.id)]
    assert actions == ["case-opened", "decrypt-failed"]


def test_a_venue_owner_cannot_trace(live: Live) -> None:
    (live.secrets / "park").write_text(PASSWORD + "\n")
    period = ("--reason", "x", "--from", "2026-01-01", "--to", "2026-01-02")
    done = _official(live, "--phone", CASE, *period, user="park", password="park")
    assert done.returncode == 1 and "403 role_refused" in done.stderr


def test_the_audit_entries_are_sealed_and_verify(live: Live) -> None:
    assert _trace(live, "--phone", CASE, "--csv", str(live.secrets / "x.csv")).returncode == 0

    def sealed() -> bool:
        rows = list(AuditLogEntry.select())
        return len(rows) >= 5 and all(r.leaf_index is not None for r in rows)

    wait_until(sealed, timeout=30, message="the audit entries sealed")
    actions = [r.action for r in AuditLogEntry.select().order_by(AuditLogEntry.id)]
    assert actions == [
        "case-opened",
        "exposure-list",
        "contacts-decrypted",
        "contacts-decrypted",
        "export",
    ]
    verified = ledger_verify(live.site, cwd=live.secrets)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit entries: 5 signed" in verified.stdout


def _resume(live: Live, case: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _official(live, "--resume", case, *extra)


def test_a_case_is_resumed_by_its_id(live: Live) -> None:
    """Opened by the wallet code in one run, taken up again by id in the next."""
    today = live.phones[CASE].days[0]
    code = present(today.key, today.credential, now=time.time(), code_type=CodeType.DIAGNOSTIC)
    first = _trace(live, "--code", code.to_text(), "--json")
    assert first.returncode == 0, first.stderr
    opened = json.loads(first.stdout)
    again = _resume(live, opened["case"], "--json", "--notify")
    assert again.returncode == 0, again.stderr
    assert f"case {opened['case']} resumed: 0 batch list(s), 1 owner(s)" in again.stderr
    resumed = json.loads(again.stdout)
    assert resumed["calls"] == opened["calls"] and [c["phone"] for c in resumed["calls"]] == [NEAR]
    notices = json.loads(_get(live.base + "/v1/notices"))["notices"]
    assert notices[0]["from_day"] == notices[0]["to_day"] == live.day.isoformat()
    actions = [r.action for r in audit_log.for_case(bytes.fromhex(opened["case"]))]
    assert actions.count("case-resumed") == 1 and actions[-1] == "notice", actions
    assert actions.count("case-opened") == 1 and actions.count("batch-lists") == 2, actions
    unknown = _resume(live, "00" * 16, "--json")
    assert unknown.returncode == 1 and "404 no_such_case" in unknown.stderr
