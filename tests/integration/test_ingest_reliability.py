"""Ingest processes on a real Mosquitto: shared subscriptions, kill -9, a locked database.

Real processes (``safecode aggregator ingest`` / ``sequence`` / ``run``), a real
broker, simulated kiosks that keep unreceipted rows and resend them.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from aggregator.api.metrics import LedgerCollector
from aggregator.audit import verify_ledger
from aggregator.config import load_config
from aggregator.db import CheckinEntry, open_database
from aggregator.placement import KioskClockEntry
from benchmarks.ingest import CollectedProcess, KioskFleet, make_site
from protocol import keys, topics
from protocol.status import encode_status
from simulator.broker import LocalBroker
from tests.unit.conftest import fresh_pg_schema
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

PYTHON = [sys.executable, "-m", "safecode", "aggregator"]


class Site:
    def __init__(
        self, tmp_path: Path, broker: LocalBroker, kiosks: int, url: str | None, **aggregator
    ) -> None:
        self.url = url or f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        self.config, self.issuer, self.specs = make_site(
            tmp_path / "site", self.url, broker.port, kiosks, **aggregator
        )
        self.procs: list[CollectedProcess] = []
        self.fleet = KioskFleet(broker.port, self.specs, keys.private_seed(self.issuer))

    def start(self, name: str, *args: str) -> CollectedProcess:
        proc = CollectedProcess(
            name, [*PYTHON, *args, "--config", str(self.config), "--summary-json"]
        )
        assert proc.wait_for("listening on", 30), proc.lines
        self.procs.append(proc)
        return proc

    def sealed(self) -> tuple[int, int, set[bytes]]:
        """(rows, distinct ids, sealed ids) in the ledger database."""
        db = open_database(self.url)
        rows = list(CheckinEntry.select(CheckinEntry.checkin_id, CheckinEntry.leaf_index))
        db.close()
        ids = {bytes(r.checkin_id) for r in rows}
        return len(rows), len(ids), {bytes(r.checkin_id) for r in rows if r.leaf_index is not None}

    def published(self) -> set[bytes]:
        with self.fleet.lock:
            return set(self.fleet.sent)

    def close(self) -> dict[str, dict]:
        summaries = {proc.name: proc.stop() for proc in self.procs}
        self.fleet.close()
        return summaries


@pytest.fixture
def make(tmp_path: Path, own_broker: LocalBroker) -> Iterator:
    made: list[Site] = []

    def _make(kiosks: int = 4, url: str | None = None, **aggregator) -> Site:
        site = Site(tmp_path, own_broker, kiosks, url, **aggregator)
        made.append(site)
        return site

    yield _make
    for site in made:
        for proc in site.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()


def _assert_all_sealed_once(site: Site) -> None:
    rows, distinct, sealed = site.sealed()
    published = site.published()
    assert rows == distinct, "a check-in stored twice"
    assert published <= sealed, f"{len(published - sealed)} check-in(s) lost"
    assert sealed <= published
    assert site.fleet.conflicts == 0, "a check-in sealed at two leaf indexes"
    db = open_database(site.url)
    ledger_key = keys.load_private(load_config(site.config).ledger_key_path)
    summary = verify_ledger(ledger_key.public_key(), "bench.localhost/ledger")
    db.close()
    assert summary.tree_size == len(sealed)


def test_two_ingest_processes_in_one_share_group_split_the_checkins(make) -> None:
    site = make(kiosks=4, shared_group="ingest", ingest_workers=2)
    site.start("ingest-1", "ingest", "--client-id", "ingest-1")
    site.start("ingest-2", "ingest", "--client-id", "ingest-2")
    site.start("sequence", "sequence")
    site.fleet.generate(60)
    result = site.fleet.run(6.0, 50, 80.0, 60.0)  # no resends: each message is sent once
    assert site.fleet.drain(60, 60.0) == 0
    summaries = site.close()
    handled = [
        summaries[n].get("stored", 0) + summaries[n].get("duplicate", 0)
        for n in ("ingest-1", "ingest-2")
    ]
    assert sum(handled) == result["published"] == 240, summaries
    assert min(handled) > 0, f"one consumer got nothing: {handled}"
    assert all(s.get("duplicate", 0) == 0 for s in summaries.values())
    _assert_all_sealed_once(site)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (a SQLite file in the site), then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_pg_schema() as url:
        yield url


def test_kill_9_of_an_ingest_process_loses_nothing_and_stores_nothing_twice(
    make, ledger_url: str | None
) -> None:
    site = make(kiosks=4, url=ledger_url, shared_group="ingest", ingest_workers=2)
    victim = site.start("ingest-1", "ingest", "--client-id", "ingest-1")
    site.start("ingest-2", "ingest", "--client-id", "ingest-2")
    site.start("sequence", "sequence")
    site.fleet.generate(100)
    site.fleet.run(2.0, 200, 100.0, 3.0)
    os.kill(victim.popen.pid, signal.SIGKILL)
    victim.popen.wait()
    site.procs.remove(victim)
    site.fleet.run(2.0, 200, 100.0, 3.0)  # publishing goes on while it is dead
    # A restart under the same client id takes up the session the broker kept for it.
    site.start("ingest-1b", "ingest", "--client-id", "ingest-1")
    assert site.fleet.drain(90, 3.0) == 0
    site.close()
    assert len(site.published()) >= 350  # paced: a few may be left unpublished
    _assert_all_sealed_once(site)


def _metrics(site: Site) -> dict[str, float]:
    """The unlabelled samples /metrics would show now."""
    db = open_database(site.url)
    try:
        families = list(LedgerCollector(time.time(), 60).collect())
    finally:
        db.close()
    return {s.name: s.value for f in families for s in f.samples if not s.labels}


def test_counters_agree_with_the_ledger_after_kill_9(make, ledger_url: str | None) -> None:
    # Counts are flushed once a minute: the killed processes die with theirs unflushed.
    site = make(kiosks=2, url=ledger_url, counter_flush_s=60)
    first = [
        site.start("ingest", "ingest", "--client-id", "ingest-1"),
        site.start("sequence", "sequence"),
    ]
    site.fleet.generate(60)
    site.fleet.run(1.5, 200, 60.0, 3.0)
    wait_until(lambda: len(site.sealed()[2]) >= 20, 30, message="check-ins sealed")
    for proc in first:
        os.kill(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()
        site.procs.remove(proc)
    site.start("ingest-b", "ingest", "--client-id", "ingest-1")
    site.start("sequence-b", "sequence")
    site.fleet.run(1.0, 200, 60.0, 3.0)
    assert site.fleet.drain(60, 3.0) == 0
    site.close()
    rows, _, sealed = site.sealed()
    got = _metrics(site)
    assert (got["safecode_ingested_total"], got["safecode_sealed_total"]) == (rows, len(sealed))
    assert got["safecode_tree_size"] == len(sealed) == rows


def test_a_locked_database_stops_receipts_and_everything_drains_after(make, tmp_path: Path) -> None:
    site = make(kiosks=2, ingest_workers=2)
    site.start("aggregator", "run")
    site.fleet.generate(100)
    site.fleet.run(1.5, 50, 40.0, 5.0)
    assert site.fleet.drain(30, 5.0) == 0
    before = len(site.fleet.done)
    lock = sqlite3.connect(tmp_path / "ledger.sqlite", timeout=30, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        run = site.fleet.run(14.0, 50, 10.0, 5.0)  # longer than the 10 s busy timeout
        with site.fleet.lock:
            receipted_while_locked = len(site.fleet.done) - before
            backlog = len(site.fleet.sent) - len(site.fleet.done)
        assert run["published"] > 0
        assert receipted_while_locked == 0, "a receipt came while nothing could be sealed"
        assert backlog >= run["published"], "the kiosks keep every unreceipted row"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert site.fleet.drain(90, 3.0) == 0
    summaries = site.close()
    assert summaries["aggregator"].get("error:database", 0) > 0, summaries
    _assert_all_sealed_once(site)


def _malformed_logs(proc: CollectedProcess) -> list[dict]:
    """The aggregator's JSON log lines about malformed check-ins so far."""
    logs = [json.loads(line) for line in list(proc.lines) if line.startswith('{"')]
    return [line for line in logs if line.get("reason") == "malformed"]


def test_hostile_payloads_through_the_broker_are_counted_and_logged_sparingly(
    make, own_broker: LocalBroker, tmp_path: Path
) -> None:
    site = make(kiosks=2, log_lines_per_reason=2, log_interval_s=1.0)
    proc = CollectedProcess(
        "aggregator",
        [*PYTHON, "run", "--config", str(site.config), "--summary-json", "--log-json"],
    )
    assert proc.wait_for("listening on", 30), proc.lines
    site.procs.append(proc)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile")
    client.connect(own_broker.host, own_broker.port)
    client.loop_start()
    topic = topics.topic("kiosk-1", topics.CHECKIN)
    status = encode_status(
        "online",
        clock_boot="ab" * 16,
        clock_mono_ms=1234,
        clock_wall_ms=1_700_000_000_000,
        clock_synced=True,
    )
    client.publish(topics.topic("kiosk-1", topics.STATUS), status, qos=1, retain=True)
    for n in range(50):
        client.publish(topic, b"\xff garbage %d" % n, qos=1)
    for _ in range(3):
        client.publish(topic, bytes(100_000), qos=1)
    client.publish("safecode/v1/kiosk/kiosk-1/checkin/extra", b"x", qos=1).wait_for_publish(5)
    site.fleet.generate(20)
    site.fleet.run(1.0, 50, None, 5.0)
    assert site.fleet.drain(60, 5.0) == 0
    wait_until(  # the suppressed-lines summary follows the 1 s interval
        lambda: any(line.get("suppressed", 0) >= 40 for line in _malformed_logs(proc)),
        10,
        interval=0.1,
        message="the suppressed-lines summary",
    )
    client.disconnect()
    client.loop_stop()
    summary = site.close()["aggregator"]
    assert summary["refused:malformed"] == 50
    assert summary["refused:oversize_payload"] == 3
    assert summary["stored"] == 40
    _assert_all_sealed_once(site)
    malformed = _malformed_logs(proc)
    assert 2 <= len(malformed) <= 4, malformed
    assert any(line.get("suppressed", 0) >= 40 for line in malformed), malformed
    assert not any("SC1:" in line for line in proc.lines)
    db = open_database(site.url)
    clock = KioskClockEntry.get_by_id("kiosk-1")
    assert (bytes(clock.boot_id), clock.mono_ms, clock.source) == (b"\xab" * 16, 1234, "kiosk")
    db.close()
