"""The sequencer loop: batching by size and age, one lock holder, database outages."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from urllib.parse import urlparse

import peewee
import pytest

from aggregator.audit import verify_ledger
from aggregator.db import BlockEntry, CheckinEntry, open_database
from aggregator.ingest import Ingestor, Result
from aggregator.seqlock import FileLock, PgAdvisoryLock, lock_for
from aggregator.sequencer import SealedBlock, Sequencer, _pause, run_sequencer, seal_once
from protocol import topics
from protocol.receipt import ReceiptEntry, parse_receipt
from tests.unit.ledger_site import ISSUER, LEDGER, ORIGIN, LedgerSite, prefill
from tests.unit.tcp_proxy import TcpProxy

T0 = 1_764_000_000.0


def unsealed() -> int:
    return CheckinEntry.select().where(CheckinEntry.leaf_index.is_null()).count()


def check_chain(count: int) -> None:
    """Every check-in sealed exactly once, leaves 0..count-1, and the ledger verifies."""
    indexes = [r.leaf_index for r in CheckinEntry.select().order_by(CheckinEntry.leaf_index)]
    assert indexes == list(range(count))
    summary = verify_ledger(LEDGER.public_key(), ORIGIN)
    assert summary.tree_size == count


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- due: by size and by age --------------------------------------------------------------


def test_a_block_is_due_by_size_or_by_age(db: peewee.Database) -> None:
    clock = Clock(T0)
    seq = Sequencer(LEDGER, ORIGIN, batch_size=10, now=clock)
    assert not seq.due(0.25)
    prefill(3, received_ms=int(T0 * 1000))
    assert not seq.due(0.25), "3 of 10, just arrived"
    assert seq.until_due_s is not None and 0.2 < seq.until_due_s <= 0.25
    clock.t = T0 + 0.1
    assert not seq.due(0.25)
    assert seq.until_due_s is not None and 0.1 < seq.until_due_s <= 0.15
    clock.t = T0 + 0.3
    assert seq.due(0.25), "the oldest has waited 300 ms"
    clock.t = T0
    prefill(7, start=3, received_ms=int(T0 * 1000))
    assert seq.due(0.25), "a full batch waits"


def test_the_loop_waits_until_the_oldest_is_due_and_looks_often_enough_when_idle() -> None:
    seq = Sequencer(LEDGER, ORIGIN, batch_size=10)
    seq.until_due_s = 0.18
    assert _pause(seq, 0, poll_s=0.05, max_age_s=0.25) == 0.18
    assert _pause(seq, 3, poll_s=0.05, max_age_s=0.25) == 0.125, "just sealed: look again"
    seq.until_due_s = None
    assert _pause(seq, 0, poll_s=0.05, max_age_s=0.25) == 0.125, "seen before it is due"
    assert _pause(seq, 0, poll_s=0.05, max_age_s=0.04) == 0.05
    seq.until_due_s = 9.0  # a clock far ahead: never longer than the age limit
    assert _pause(seq, 0, poll_s=0.05, max_age_s=0.25) == 0.25


def test_a_clock_ahead_on_the_ingest_side_does_not_stall_sealing(db: peewee.Database) -> None:
    seq = Sequencer(LEDGER, ORIGIN, batch_size=10, now=lambda: T0)
    prefill(1, received_ms=int(T0 * 1000) + 3_600_000)  # an hour "in the future"
    assert not seq.due(0.05)
    time.sleep(0.08)
    assert seq.due(0.05), "waited 80 ms as this sequencer saw it"


def test_run_sequencer_seals_by_age_and_drains_on_stop(db: peewee.Database) -> None:
    seq = Sequencer(LEDGER, ORIGIN, batch_size=100)
    blocks: list[SealedBlock] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=run_sequencer, args=(seq, stop, blocks.append), kwargs={"max_age_s": 0.1}
    )
    prefill(5, received_ms=int(time.time() * 1000))
    thread.start()
    try:
        wait_for(lambda: len(blocks) == 1)
        assert blocks[0].leaf_count == 5
        prefill(250, start=5, received_ms=int(time.time() * 1000))
        wait_for(lambda: sum(b.leaf_count for b in blocks) == 255)
        assert [b.leaf_count for b in blocks[1:4]] == [100, 100, 50]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    check_chain(255)


# --- receipts after a crash between commit and publish ------------------------------------


def test_a_kiosk_resend_after_a_crash_before_publishing_gets_a_receipt(
    db: peewee.Database,
) -> None:
    site = LedgerSite("resend")
    wire = site.wire(T0)
    ingestor = Ingestor([ISSUER.public_key()], now=lambda: T0)
    topic = topics.topic("kiosk-a", topics.CHECKIN)
    assert ingestor.handle(topic, wire).result is Result.STORED
    seq = Sequencer(LEDGER, ORIGIN, now=lambda: T0 + 1)

    def crash(block: SealedBlock) -> None:
        raise RuntimeError("killed between commit and publish")

    assert seal_once(seq, crash, max_age_s=0) == 1  # durable, but no receipt went out
    assert seq.counts["error:publish"] == 1
    again = ingestor.handle(topic, wire)  # the kiosk, still without a receipt, resends
    assert again.result is Result.DUPLICATE and again.entry is not None
    receipt = parse_receipt(Sequencer(LEDGER, ORIGIN).receipt_again(again.entry))
    receipt.verify(LEDGER.public_key())
    assert receipt.entries == (ReceiptEntry(bytes(again.entry.checkin_id), 1, 0),)


def test_receipt_again_after_a_crash_before_publishing(db: peewee.Database) -> None:
    row = LedgerSite("resend2").scan(T0)
    seq = Sequencer(LEDGER, ORIGIN, now=lambda: T0 + 1)
    assert seal_once(seq, lambda block: None, max_age_s=0) == 1
    restarted = Sequencer(LEDGER, ORIGIN)  # a new process finds the row by its id
    stored = CheckinEntry.get(CheckinEntry.checkin_id == bytes(row.checkin_id))
    receipt = parse_receipt(restarted.receipt_again(stored))
    receipt.verify(LEDGER.public_key())
    block = BlockEntry.get_by_id(0)
    assert (receipt.block, receipt.tree_size, receipt.root) == (0, 1, bytes(block.root))
    assert receipt.entries == (ReceiptEntry(bytes(row.checkin_id), 1, 0),)


# --- one lock holder ----------------------------------------------------------------------


def test_the_lock_is_exclusive_and_says_who_holds_it(db: peewee.Database) -> None:
    first = lock_for(db, ORIGIN, owner="first-sequencer")
    second = lock_for(db, ORIGIN, owner="second-sequencer")
    other_ledger = lock_for(db, "ledger.example/another")
    assert isinstance(first, FileLock | PgAdvisoryLock)
    try:
        assert first.try_acquire()
        assert first.still_held()
        assert not second.try_acquire()
        assert "first-sequencer" in second.holder()
        if isinstance(first, PgAdvisoryLock):  # SQLite: one ledger per database file
            assert other_ledger.try_acquire(), "another origin has another lock"
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        for lock in (first, second, other_ledger):
            lock.release()


def test_a_second_sequencer_waits_and_takes_over(
    db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator.sequencer")
    a, b = Sequencer(LEDGER, ORIGIN, batch_size=50), Sequencer(LEDGER, ORIGIN, batch_size=50)
    sealed_by: dict[str, list[SealedBlock]] = {"a": [], "b": []}
    stop_a, stop_b = threading.Event(), threading.Event()
    ta = threading.Thread(target=run_sequencer, args=(a, stop_a, sealed_by["a"].append))
    tb = threading.Thread(target=run_sequencer, args=(b, stop_b, sealed_by["b"].append))
    ta.start()
    wait_for(lambda: a.counts["lock_taken"] == 1)
    tb.start()
    try:
        prefill(120, received_ms=int(time.time() * 1000))
        wait_for(lambda: sum(x.leaf_count for x in sealed_by["a"]) == 120)
        wait_for(lambda: "waiting for the sequencer lock held by" in caplog.text)
        assert b.counts["lock_taken"] == 0 and sealed_by["b"] == []
        stop_a.set()  # the first one goes away
        ta.join(10)
        wait_for(lambda: b.counts["lock_taken"] == 1)
        prefill(30, start=120, received_ms=int(time.time() * 1000))
        wait_for(lambda: sum(x.leaf_count for x in sealed_by["b"]) == 30)
        assert unsealed() == 0
    finally:
        stop_a.set()
        stop_b.set()
        ta.join(10)
        tb.join(10)
    check_chain(150)


# --- the database goes away ---------------------------------------------------------------


@pytest.mark.sqlite_only
def test_sqlite_locked_by_another_writer_counts_errors_and_seals_after(
    db: peewee.Database,
) -> None:
    prefill(40, received_ms=0)
    blocks: list[SealedBlock] = []
    seq = Sequencer(LEDGER, ORIGIN, batch_size=1000)
    other = sqlite3.connect(urlparse(db.database).path or db.database)
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        db.execute_sql("PRAGMA busy_timeout = 100")
        assert seal_once(seq, blocks.append) == -1
        assert seq.counts["error:database"] == 1
        assert blocks == [] and unsealed() == 40
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert seal_once(seq, blocks.append) == 40
    assert len(blocks) == 1
    check_chain(40)


@pytest.fixture
def proxied(db_url: str, db: peewee.Database):
    """The test database reached through a TCP forwarder that can be cut (PostgreSQL only)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server that goes away: PostgreSQL only")
    target = urlparse(db_url)
    proxy = TcpProxy((target.hostname, target.port or 5432))
    proxy.start()
    db.close()
    url = db_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}", 1)
    database = open_database(url)
    yield proxy
    proxy.cut()
    database.close()


def test_postgres_outage_counts_errors_sends_nothing_and_seals_after(
    proxied: TcpProxy,
) -> None:
    prefill(60, received_ms=0)
    blocks: list[SealedBlock] = []
    seq = Sequencer(LEDGER, ORIGIN, batch_size=1000)
    proxied.cut()
    assert seal_once(seq, blocks.append) == -1  # the open connection breaks
    assert seal_once(seq, blocks.append) == -1  # and no new one can be made
    assert seq.counts["error:database"] == 2
    assert blocks == []
    proxied.start()
    assert seal_once(seq, blocks.append) == 60
    assert [b.leaf_count for b in blocks] == [60]
    check_chain(60)


def test_postgres_outage_under_run_sequencer(proxied: TcpProxy) -> None:
    prefill(30, received_ms=0)
    seq = Sequencer(LEDGER, ORIGIN, batch_size=1000)
    blocks: list[SealedBlock] = []
    stop = threading.Event()
    thread = threading.Thread(target=run_sequencer, args=(seq, stop, blocks.append))
    thread.start()
    try:
        wait_for(lambda: len(blocks) == 1)
        proxied.cut()  # the lock's connection and the sealing one both break
        wait_for(lambda: seq.counts["error:lock"] + seq.counts["error:database"] > 0)
        proxied.start()
        wait_for(lambda: seq.counts["lock_taken"] == 2)
        assert seq.counts["lock_lost"] == 1
        mine = CheckinEntry._meta.database.obj  # this thread's connection broke too
        try:
            mine.close()
        except peewee.PeeweeException:
            mine.dispose()
        prefill(20, start=30, received_ms=0)
        wait_for(lambda: sum(b.leaf_count for b in blocks) == 50)
    finally:
        stop.set()
        thread.join(10)
    check_chain(50)


@pytest.mark.sqlite_only
def test_an_unusable_lock_file_is_counted_and_waited_on(
    db: peewee.Database, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregator.sequencer")
    seq = Sequencer(LEDGER, ORIGIN)
    stop = threading.Event()
    lock = FileLock(tmp_path / "missing-dir" / "ledger.sqlite.sequencer-lock")
    thread = threading.Thread(target=run_sequencer, args=(seq, stop, print), kwargs={"lock": lock})
    thread.start()
    try:
        wait_for(lambda: seq.counts["error:lock"] >= 2)
        assert "cannot reach the lock" in caplog.text
        assert seq.counts["lock_taken"] == 0
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.spawns
def test_processes_opening_a_fresh_database_together_do_not_race(db_url: str) -> None:
    """Four processes create the tables of one fresh database at the same moment."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "import sys; from aggregator.db import open_database; open_database(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = [p.communicate(timeout=60)[1] for p in procs if p.wait(60) != 0]
    assert failures == []
    open_database(db_url)
    assert CheckinEntry.select().count() == 0
