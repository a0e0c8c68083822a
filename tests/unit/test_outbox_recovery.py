"""Outbox startup check (kiosk.outbox_recovery): damaged files moved aside, seqs never reused."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.outbox import Outbox
from kiosk.outbox_recovery import (
    SEQ_MARGIN,
    OutboxOpenError,
    inspect_outbox_file,
    move_aside,
)
from safecode.cli import cli

T0 = 1_764_000_000_000
SECRET = b"visitor-presentation-0123456789"


def build(seq: int) -> tuple[bytes, bytes]:
    return hashlib.sha256(b"%d" % seq).digest()[:16], SECRET + b"-%d" % seq


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.sqlite"


def filled(path: Path, rows: int) -> None:
    """An outbox with ``rows`` check-ins, closed cleanly (WAL folded into the main file)."""
    box = Outbox(path)
    for _ in range(rows):
        box.append(build, T0)
    box.close()


def aside_files(path: Path) -> list[Path]:
    return sorted(
        p
        for p in path.parent.glob(f"{path.name}.corrupt-*")
        if not p.name.endswith(("-wal", "-shm"))
    )


def damage(path: Path) -> bytes:
    """Overwrite the middle of the file with garbage, as a torn write would; its new bytes."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 8192] = os.urandom(8192)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_intact_file_is_left_where_it_is(path: Path) -> None:
    filled(path, 5)
    check = inspect_outbox_file(path)
    assert check.intact and check.highest_seq == 5
    box = Outbox(path)
    try:
        assert box.recovery is None
        assert box.append(build, T0) == 6
        assert box.recoveries() == 0
    finally:
        box.close()
    assert aside_files(path) == []


def test_missing_file_is_a_fresh_outbox(path: Path) -> None:
    assert inspect_outbox_file(path).intact
    box = Outbox(path)
    try:
        assert box.recovery is None and box.append(build, T0) == 1
    finally:
        box.close()


def test_stale_counter_is_raised_above_the_stored_rows(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy whose counter page is older than its rows must not collide on every append."""
    filled(path, 7)
    db = sqlite3.connect(path)
    db.execute("UPDATE counter SET value = 3 WHERE name = 'next_seq'")
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="kiosk.outbox"):
        box = Outbox(path)
    try:
        assert box.recovery is None
        assert box.next_seq() == 8
        assert box.append(build, T0) == 8
    finally:
        box.close()
    assert any("lagged" in r.getMessage() for r in caplog.records)


def test_damaged_file_is_moved_aside_and_the_fresh_outbox_continues_above(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    filled(path, 40)
    damaged = damage(path)
    Path(f"{path}-wal").write_bytes(b"not really a wal")
    check = inspect_outbox_file(path)
    assert not check.intact
    with caplog.at_level(logging.WARNING, logger="kiosk.outbox"):
        box = Outbox(path)
    try:
        recovery = box.recovery
        assert recovery is not None
        assert recovery.aside.read_bytes() == damaged  # kept byte for byte, never deleted
        assert Path(f"{recovery.aside}-wal").read_bytes() == b"not really a wal"
        floor = (recovery.highest_seq or 0) + 1 + SEQ_MARGIN
        assert recovery.next_seq == floor >= 1 + SEQ_MARGIN
        assert box.append(build, T0) == floor
        assert box.recoveries() == 1 and box.stats().recoveries == 1
    finally:
        box.close()
    assert aside_files(path) == [recovery.aside]
    assert recovery.aside.name.startswith("outbox.sqlite.corrupt-")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "integrity" in text and str(path) in text and str(recovery.aside) in text
    assert f"seq {floor}" in text
    assert SECRET.decode() not in caplog.text  # no record contents in the log


def test_highest_seq_comes_from_the_counter_when_the_rows_are_unreadable(path: Path) -> None:
    filled(path, 3)
    db = sqlite3.connect(path)
    db.execute("UPDATE counter SET value = 500 WHERE name = 'next_seq'")
    db.execute("DROP TABLE outbox")  # max(seq) cannot be read; the counter still can
    db.commit()
    db.close()
    check = inspect_outbox_file(path)
    assert check.highest_seq == 499


def test_second_recovery_is_counted_and_keeps_the_first_copy(path: Path) -> None:
    filled(path, 10)
    damage(path)
    first = Outbox(path)
    assert first.recovery is not None
    first_aside = first.recovery.aside
    for _ in range(5):
        first.append(build, T0)
    first.close()
    damage(path)
    second = Outbox(path)
    try:
        assert second.recovery is not None
        assert second.recovery.aside != first_aside and first_aside.exists()
        assert second.recoveries() in (1, 2)  # 2 when the old counter was still readable
    finally:
        second.close()
    assert len(aside_files(path)) == 2


def test_same_second_recoveries_get_distinct_names(tmp_path: Path) -> None:
    names = []
    for n in range(3):
        target = tmp_path / "outbox.sqlite"
        target.write_bytes(b"copy %d" % n)
        names.append(move_aside(target, now=1_764_000_000.0))
    assert [p.name for p in names] == [
        "outbox.sqlite.corrupt-20251124T160000Z",
        "outbox.sqlite.corrupt-20251124T160000Z-2",
        "outbox.sqlite.corrupt-20251124T160000Z-3",
    ]
    assert [p.read_bytes() for p in names] == [b"copy 0", b"copy 1", b"copy 2"]


def test_wal_without_its_database_is_moved_aside(path: Path) -> None:
    path.parent.mkdir(parents=True)
    Path(f"{path}-wal").write_bytes(b"stray wal")
    box = Outbox(path)
    try:
        assert box.recovery is not None and box.recovery.highest_seq is None
        assert Path(f"{box.recovery.aside}-wal").read_bytes() == b"stray wal"
    finally:
        box.close()


def test_outbox_that_cannot_be_created_raises_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_bytes(b"a file where the folder should be")
    with pytest.raises(OutboxOpenError, match="cannot open the outbox"):
        Outbox(tmp_path / "state" / "outbox.sqlite")


def test_raise_next_seq_never_lowers(path: Path) -> None:
    filled(path, 4)
    box = Outbox(path)
    try:
        assert box.raise_next_seq(2) == 5
        assert box.raise_next_seq(100) == 100
        assert box.append(build, T0) == 100
        box.close()
        box = Outbox(path)  # it survives a restart
        assert box.next_seq() == 101
    finally:
        box.close()


@pytest.mark.spawns
def test_kiosk_run_without_an_outbox_exits_with_a_message_and_no_traceback(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    site = tmp_path / "site"
    made = CliRunner().invoke(cli, ["provision", "init-site", str(site), "--kiosks", "1"])
    assert made.exit_code == 0, made.output
    config = site / "kiosks" / "kiosk-1" / "kiosk.toml"
    outbox = config.parent / "state" / "outbox.sqlite"
    outbox.symlink_to(tmp_path / "nowhere" / "outbox.sqlite")  # neither opens nor is created
    result = subprocess.run(
        [sys.executable, "-m", "safecode", "kiosk", "run", "--config", str(config), "--mock-pins"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot open the outbox" in result.stderr and "not scanning" in result.stderr
    assert "Traceback" not in result.stderr


def test_file_locked_by_another_process_is_not_moved_aside(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Busy is not damage: a second kiosk on the same file must not move the first's aside."""
    import kiosk.outbox_recovery as recovery

    filled(path, 3)
    monkeypatch.setattr(recovery, "BUSY_TIMEOUT_S", 0.05)
    holder = sqlite3.connect(path)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OutboxOpenError, match="locked by another process"):
            Outbox(path)
    finally:
        holder.rollback()
        holder.close()
    assert aside_files(path) == []
    assert inspect_outbox_file(path).intact
