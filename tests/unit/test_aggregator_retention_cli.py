"""``safecode aggregator retention``: destroy day keys past the retention period."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator import key_files
from aggregator.config import ConfigError, load_config
from aggregator.db import open_database
from safecode.cli import cli
from simulator.site import init_simulated_site


def run(*args: str):
    return CliRunner().invoke(cli, ["aggregator", "retention", *args])


def test_old_day_keys_go_and_new_ones_stay(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    config = load_config(site.aggregator_config)
    db = open_database(config.database_url)
    keeper = key_files.data_vault(config)
    today = int(time.time() // 86400)
    for day in (today - 40, today - 29, today):
        keeper.seal(bytes(16), b"visit", day)
    db.close()
    result = run("--config", str(site.aggregator_config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert report["retention_days"] == 28
    assert report["days_destroyed"] == [today - 40, today - 29]
    again = json.loads(run("--config", str(site.aggregator_config), "--days", "8").output)
    assert again["days_destroyed"] == []  # today's key is younger than 8 days' retention


def test_retention_must_outlast_the_outbox_age(tmp_path: Path) -> None:
    # Forgetting blanks the hash that stops a replayed code; ingest still takes codes up
    # to max_outbox_age_days (7) old, so a shorter retention would seal one code twice.
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    refused = run("--config", str(site.aggregator_config), "--days", "7")
    assert refused.exit_code != 0 and "max_outbox_age_days" in refused.output
    text = site.aggregator_config.read_text()
    site.aggregator_config.write_text(
        text.replace("[aggregator]\n", "[aggregator]\nretention_days = 3\n")
    )
    with pytest.raises(ConfigError, match="max_outbox_age_days"):
        load_config(site.aggregator_config)


def test_retention_days_is_checked(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    text = site.aggregator_config.read_text()
    site.aggregator_config.write_text(
        text.replace("[aggregator]\n", "[aggregator]\nretention_days = 0\n")
    )
    with pytest.raises(ConfigError, match="retention_days"):
        load_config(site.aggregator_config)
    result = run("--config", str(site.aggregator_config))
    assert result.exit_code != 0 and "retention_days" in result.output


def test_the_issuers_records_past_retention_go_with_the_visits(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from aggregator import revocations
    from aggregator.desk.cards import CardEntry
    from aggregator.issuer.tables import BatchEntry, IssuedCredentialEntry
    from protocol.authority_key import format_public_key

    authority = format_public_key(X25519PrivateKey.generate())
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=0, authority_key=authority)
    config = load_config(site.aggregator_config)
    assert config.issuer is not None and config.issuer["time_zone"] == "Asia/Seoul"
    now = int(time.time())
    db = open_database(config.database_url)
    for n, ended in enumerate((now - 40 * 86400, now - 2 * 86400, now + 86400)):
        IssuedCredentialEntry.create(
            credential_id=bytes([n]) * 8, sealed_owner=b"o", revoke_hash=b"h", not_after=ended
        )
        CardEntry.create(
            card_id=bytes([n]) * 16,
            contact=b"c",
            phone_tag=b"t",
            owner_sealed=b"o",
            credential_id=bytes([n]) * 8,
            issued_ms=0,
            expires_s=ended,
        )
    # Revoked: credentials and cards that ended 40 and 2 days ago, live ones, a manual one.
    revocations.revoke([bytes([n]) * 8 for n in range(3)] + [b"manual!!"])
    BatchEntry.create(enrolment_id=bytes(16), day="2000-01-01", sealed_credentials=b"s")
    BatchEntry.create(enrolment_id=bytes(16), day="2999-01-01", sealed_credentials=b"s")
    db.close()
    result = run("--config", str(site.aggregator_config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert (report["credentials_forgotten"], report["cards_forgotten"]) == (1, 1)
    assert report["batches_forgotten"] == 1
    db = open_database(config.database_url)
    try:
        assert IssuedCredentialEntry.select().count() == CardEntry.select().count() == 2
        # Off the kiosks' list once ended a day ago; a revocation of unknown end stays.
        assert revocations.revoked_ids() == [bytes([2]) * 8, b"manual!!"]
    finally:
        db.close()


def test_notices_published_over_28_days_ago_go(tmp_path: Path) -> None:
    from aggregator.notices import NoticeEntry

    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=0)
    config = load_config(site.aggregator_config)
    now_ms = int(time.time() * 1000)
    db = open_database(config.database_url)
    for n, age_days in enumerate((40, 29, 27, 0)):
        NoticeEntry.create(
            notice_id=bytes([n]) * 16,
            case_id=bytes(16),
            audit_id=bytes(16),
            tags=bytes(16 * 16),
            tag_count=16,
            from_day="2000-01-01",
            to_day="2000-01-02",
            guidance_ko="ko",
            guidance_en="en",
            published_ms=now_ms - age_days * 86_400_000,
        )
    db.close()
    result = run("--config", str(site.aggregator_config), "--days", "60")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["notices_forgotten"] == 2  # always 28 days
    db = open_database(config.database_url)
    try:
        assert sorted(bytes(r.notice_id)[0] for r in NoticeEntry.select()) == [2, 3]
    finally:
        db.close()


def test_case_handles_go_with_the_visits(tmp_path: Path) -> None:
    from aggregator.cases.tables import CaseEntry, CaseHandle, CaseOpening

    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=0)
    config = load_config(site.aggregator_config)
    now_ms = int(time.time() * 1000)
    db = open_database(config.database_url)
    for n, age_days in enumerate((40, 10)):
        case = bytes([n]) * 16
        CaseEntry.create(
            case_id=case,
            opener="kim",
            reason="r",
            start_ms=0,
            end_ms=1,
            opened_ms=now_ms - age_days * 86_400_000,
        )
        CaseHandle.insert_many(
            [{"case_id": case, "handle": f"{h:016x}"} for h in range(3)]
        ).execute()
        CaseOpening.create(case_id=case, sealed=b"\xa0")
    db.close()
    result = run("--config", str(site.aggregator_config), "--days", "28")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert report["case_handles_forgotten"] == 3
    # start_ms 0: both periods began long ago, so neither case can be taken up again
    assert report["case_openings_forgotten"] == 2
    db = open_database(config.database_url)
    try:
        assert CaseOpening.select().count() == 0
        assert {bytes(r.case_id)[0] for r in CaseHandle.select()} == {1}
        assert CaseEntry.select().count() == 2  # cases stay: no visitor data, named by audits
    finally:
        db.close()
