"""Sequencer reliability with real processes on both databases: kill -9, two at once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import peewee
import pytest

from aggregator.db import BlockEntry, CheckinEntry
from protocol import keys
from protocol.block import parse_block
from protocol.note import NoteSigner
from tests.unit.ledger_site import LEDGER, ORIGIN, prefill
from tests.unit.tcp_proxy import TcpProxy
from tests.unit.test_sequencer_loop import check_chain, unsealed, wait_for
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class SequencerProcess:
    """``python -m aggregator.sequencer_main`` with its output in files."""

    def __init__(self, tmp: Path, name: str, db_url: str, *, batch_size: int) -> None:
        key = tmp / "ledger.pem"
        if not key.exists():
            keys.save_private(LEDGER, key)
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        with self.out.open("ab") as out, self.err.open("ab") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aggregator.sequencer_main",
                    "--db",
                    db_url,
                    "--ledger-key",
                    str(key),
                    "--origin",
                    ORIGIN,
                    "--batch-size",
                    str(batch_size),
                    "--max-age-ms",
                    "0",
                    "--poll-ms",
                    "20",
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=err,
            )

    def sealed(self) -> list[dict]:
        lines = self.out.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def log(self) -> str:
        return self.err.read_text()

    def kill(self, sig: int = signal.SIGKILL) -> float:
        self.proc.send_signal(sig)
        self.proc.wait(10)
        return time.time()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)


def blocks() -> int:
    return BlockEntry.select().count()


def check_blocks_are_contiguous() -> None:
    """Each block seals exactly the leaves after the previous one: none sealed twice."""
    expected_first = 0
    for entry in BlockEntry.select().order_by(BlockEntry.height):
        header = parse_block(bytes(entry.wire))
        assert header.first_leaf == expected_first
        in_block = CheckinEntry.select().where(CheckinEntry.block_height == entry.height)
        assert in_block.count() == header.leaf_count
        expected_first = header.tree_size


def test_kill_9_mid_batch_loses_nothing_and_seals_nothing_twice(
    db: peewee.Database, db_url: str, tmp_path: Path
) -> None:
    total = 4000
    prefill(total, received_ms=0)
    rng = random.Random(9)
    kills_with_work_left = 0
    for run in range(6):
        before = blocks()
        proc = SequencerProcess(tmp_path, f"run{run}", db_url, batch_size=50)
        try:
            # Killed a random few blocks in (not after a random time: a fast machine would
            # have sealed everything by then), wherever the next batch happens to be.
            target = before + rng.randint(1, 3)
            wait_until(
                lambda t=target: blocks() >= t or unsealed() == 0,
                30,
                interval=0.002,
                message=f"block {target}",
            )
        finally:
            proc.kill()
        if unsealed():
            kills_with_work_left += 1
    assert kills_with_work_left >= 3, "the kills must land while sealing"
    last = SequencerProcess(tmp_path, "last", db_url, batch_size=50)
    try:
        wait_for(lambda: "holding the sequencer lock" in last.log(), timeout=60)
        wait_for(lambda: unsealed() == 0, timeout=60)
    finally:
        last.stop()
    assert last.proc.returncode == 0, last.log()
    check_blocks_are_contiguous()
    check_chain(total)
    assert f"tree size {total}," in audit_cli(db_url)


def audit_cli(db_url: str) -> str:
    """``safecode ledger verify --db URL --vkey VKEY`` as an auditor runs it."""
    vkey = NoteSigner.from_private_key(ORIGIN, LEDGER).verifier().to_string()
    done = subprocess.run(
        [sys.executable, "-m", "safecode", "ledger", "verify", "--db", db_url, "--vkey", vkey],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_sequencers_started_at_once_one_seals_the_other_waits(
    db: peewee.Database, db_url: str, tmp_path: Path
) -> None:
    prefill(600, received_ms=0)
    first = SequencerProcess(tmp_path, "one", db_url, batch_size=50)
    second = SequencerProcess(tmp_path, "two", db_url, batch_size=50)
    procs = [first, second]
    try:
        wait_for(lambda: unsealed() == 0, timeout=60)
        wait_for(lambda: sum(b["leaves"] for p in procs for b in p.sealed()) == 600)
        sealing = [p for p in procs if p.sealed()]
        assert len(sealing) == 1, "exactly one sequencer sealed"
        holder = sealing[0]
        waiter = second if holder is first else first
        wait_for(lambda: "waiting for the sequencer lock held by" in waiter.log())
        assert f"pid {holder.proc.pid}" in waiter.log(), waiter.log()
        assert "holding the sequencer lock" not in waiter.log()

        died = holder.kill()  # kill -9: the lock goes with the process
        prefill(100, start=600, received_ms=0)
        wait_for(lambda: sum(b["leaves"] for b in waiter.sealed()) == 100, timeout=30)
        assert "holding the sequencer lock" in waiter.log()
        assert min(b["t"] for b in waiter.sealed()) >= died
    finally:
        for p in procs:
            p.stop()
    check_blocks_are_contiguous()
    check_chain(700)


def test_database_outage_stops_sealing_and_everything_seals_after(
    db: peewee.Database, db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: the server goes away under a running sequencer process and comes back.
    SQLite: another process holds the write lock for a while."""
    prefill(200, received_ms=0)
    if db_url.startswith("postgresql"):
        target = urlparse(db_url)
        proxy = TcpProxy((target.hostname, target.port or 5432))
        proxy.start()
        url = db_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}", 1)
        proc = SequencerProcess(tmp_path, "outage", url, batch_size=50)
        try:
            wait_for(lambda: unsealed() == 0, timeout=30)
            errors_before = proc.log().lower().count("error")
            proxy.cut()
            prefill(100, start=200, received_ms=0)  # ingest, on its own link, goes on storing
            # The sequencer has tried, and failed, to reach the database since the cut.
            wait_for(lambda: proc.log().lower().count("error") > errors_before)
            assert unsealed() == 100, "nothing is sealed while the database is unreachable"
            assert sum(b["leaves"] for b in proc.sealed()) == 200, "and no receipt goes out"
            assert "database" in proc.log() and "error" in proc.log().lower()
            proxy.start()
            wait_for(lambda: unsealed() == 0, timeout=30)
            wait_for(lambda: sum(b["leaves"] for b in proc.sealed()) == 300)
        finally:
            proc.stop()
            proxy.cut()
        assert "lost the sequencer lock" in proc.log()
    else:
        path = urlparse(db_url).path
        proc = SequencerProcess(tmp_path, "outage", db_url, batch_size=50)
        try:
            wait_for(lambda: unsealed() == 0, timeout=30)
            # Pause it only to make the order certain: rows wait, then the lock is taken.
            proc.proc.send_signal(signal.SIGSTOP)
            prefill(100, start=200, received_ms=0)
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # the database is not writable for a while
            proc.proc.send_signal(signal.SIGCONT)
            try:
                time.sleep(1.5)
                assert unsealed() == 100, "nothing is sealed while the database is locked"
                assert sum(b["leaves"] for b in proc.sealed()) == 200, "and no receipt goes out"
            finally:
                other.execute("ROLLBACK")
                other.close()
            wait_for(lambda: sum(b["leaves"] for b in proc.sealed()) == 300, timeout=30)
        finally:
            proc.stop()
    check_blocks_are_contiguous()
    check_chain(300)
