"""``safecode kiosk status`` and the read-only outbox reader (kiosk.outbox_reader)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.config import load_config
from kiosk.firmware import FIRMWARE_VERSION
from kiosk.outbox import Outbox
from kiosk.outbox_reader import OutboxReadError, read_outbox
from safecode.cli import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        cli, ["provision", "init-site", str(tmp_path / "site"), "--kiosks", "1"]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "site" / "kiosks" / "kiosk-1" / "kiosk.toml"


@pytest.fixture
def outbox(config: Path) -> Iterator[Outbox]:
    box = Outbox(load_config(config).outbox_path)
    yield box
    box.close()


def add(box: Outbox, created_ms: int) -> int:
    return box.append(lambda seq: (os.urandom(16), b"signed record"), created_ms)


def status(config: Path, *extra: str):
    return CliRunner().invoke(cli, ["kiosk", "status", "--config", str(config), *extra])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill(box: Outbox, now_ms: int) -> None:
    """Six rows: 2 never sent, 1 sent and waiting, 2 receipted, 1 refused."""
    for age_s in (600, 500, 400, 300, 200, 100):
        add(box, now_ms - age_s * 1000)
    Row = box.Row
    box.mark_sent([1, 2, 3, 4], now_ms - 50_000)
    Row.update(delivered_ms=now_ms - 40_000, wire=b"").where(Row.seq == 1).execute()
    Row.update(delivered_ms=now_ms - 30_000, wire=b"").where(Row.seq == 2).execute()
    Row.update(rejected_ms=now_ms - 20_000, rejected_reason="replayed").where(
        Row.seq == 3
    ).execute()


def test_a_missing_outbox_is_a_clear_error_and_is_not_created(config: Path) -> None:
    state = load_config(config).state_dir
    path = load_config(config).outbox_path
    result = status(config)
    assert result.exit_code == 1
    assert "no outbox database" in result.output and str(path) in result.output
    assert not path.exists()
    assert sorted(p.name for p in state.iterdir()) == ["device.key"]


def test_the_figures(config: Path, outbox: Outbox) -> None:
    now_ms = int(time.time() * 1000)
    fill(outbox, now_ms)
    result = status(config, "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["kiosk"] == "kiosk-1"
    assert figures["queue_depth"] == 3  # seqs 4, 5, 6
    assert figures["never_sent"] == 2 and figures["awaiting_receipt"] == 1
    assert figures["refused"] == 1 and figures["delivered_kept"] == 2
    assert figures["last_seq"] == 6
    assert figures["last_receipt_ms"] == now_ms - 30_000
    assert 300 <= figures["oldest_unsent_age_s"] < 300 + 60
    assert 30 <= figures["last_receipt_age_s"] < 30 + 60
    assert (
        figures["disk_free_bytes"] > 0 and figures["disk_total_bytes"] >= figures["disk_free_bytes"]
    )
    assert isinstance(figures["clock_synced"], bool)
    assert figures["firmware"] == FIRMWARE_VERSION


def test_the_table(config: Path, outbox: Outbox) -> None:
    fill(outbox, int(time.time() * 1000))
    result = status(config)
    assert result.exit_code == 0, result.output
    lines = {line.split("  ")[0].strip(): line for line in result.output.splitlines()}
    assert "3 waiting for a receipt" in lines["queue depth"]
    assert lines["oldest unsent"].rstrip().endswith("min ago")
    assert "1 (kept for the operator" in lines["refused"]
    assert lines["last sequence"].split()[-1] == "6"
    assert "UTC" in lines["last receipt"]
    assert FIRMWARE_VERSION in lines["firmware"]


def test_an_empty_outbox(config: Path, outbox: Outbox) -> None:
    figures = json.loads(status(config, "--json").output)
    assert figures["queue_depth"] == 0 and figures["last_seq"] is None
    assert figures["oldest_unsent_age_s"] is None and figures["last_receipt_ms"] is None
    table = status(config).output
    assert "none waiting" in table and "none yet" in table and "none recorded" in table


def test_status_reads_while_the_kiosk_writes_and_changes_nothing(
    config: Path, outbox: Outbox
) -> None:
    path = load_config(config).outbox_path
    add(outbox, 1_000)
    outbox.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(path)
    for _ in range(3):
        assert json.loads(status(config, "--json").output)["queue_depth"] == 1
    assert digest(path) == before  # the database file itself is untouched
    add(outbox, 2_000)  # the kiosk keeps writing beside the reader
    assert json.loads(status(config, "--json").output)["queue_depth"] == 2


def test_the_reader_cannot_write(tmp_path: Path) -> None:
    """mode=ro really is read-only: the same connection set-up refuses a write."""
    from kiosk.outbox_reader import connect_read_only

    path = tmp_path / "ro.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    conn = connect_read_only(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()


def test_a_database_without_the_outbox_table(config: Path) -> None:
    path = load_config(config).outbox_path
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    result = status(config)
    assert result.exit_code == 1 and "not a safecode outbox (no outbox table)" in result.output


def test_an_outbox_missing_columns(config: Path) -> None:
    path = load_config(config).outbox_path
    sqlite3.connect(path).execute("CREATE TABLE outbox (seq, created_ms)").connection.commit()
    result = status(config)
    assert result.exit_code == 1 and "missing delivered_ms, last_sent_ms" in result.output


def test_a_file_that_is_not_sqlite(config: Path) -> None:
    path = load_config(config).outbox_path
    path.write_bytes(b"\x00garbage" * 1000)
    result = status(config)
    assert result.exit_code == 1
    assert "cannot" in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_integrity_is_checked_on_request(config: Path, outbox: Outbox) -> None:
    add(outbox, 1)
    path = load_config(config).outbox_path
    assert read_outbox(path, integrity=True).integrity == "ok"
    assert read_outbox(path).integrity is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(max_size=4096), keep_header=st.booleans())
def test_fuzz_any_file_reads_or_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, junk: bytes, keep_header: bool
) -> None:
    path = tmp_path_factory.mktemp("junk") / "outbox.sqlite"
    path.write_bytes((b"SQLite format 3\x00" if keep_header else b"") + junk)
    try:
        snapshot = read_outbox(path, integrity=True)
    except OutboxReadError as exc:
        assert str(path) in str(exc)
    else:
        assert snapshot.pending >= 0


def test_the_last_receipt_survives_pruning_of_delivered_rows(config: Path, outbox: Outbox) -> None:
    now_ms = int(time.time() * 1000)
    fill(outbox, now_ms)
    outbox._set_meta("last_receipt_ms", str(now_ms - 10_000).encode())
    outbox.prune(now_ms, delivered_after_ms=0, rejected_after_ms=0)
    figures = json.loads(status(config, "--json").output)
    assert figures["delivered_kept"] == 0
    assert figures["last_receipt_ms"] == now_ms - 10_000
