"""Kiosk reliability with real processes and a real Mosquitto.

Each test lays out a site (``init_site``, as ``safecode provision init-site`` and the demo
do), starts its own broker on a free loopback port, ``safecode aggregator run`` and
``safecode kiosk run`` (simulated visitors walking up to the camera), and does something
rude to them: kill -9, a broker or aggregator outage, a damaged outbox file. Whatever a
kiosk said "accepted seq=N" for must reach the ledger exactly once.

An outage lasts until every kiosk has accepted ``SAFECODE_OUTAGE_CHECKINS`` check-ins
(default 10) while the service is down, and at least ``SAFECODE_OUTAGE_SECONDS``
(default 10; 60 for the real minute).
``SAFECODE_RELIABILITY_SEED`` fixes the random kill points and cut offsets.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Child, SiteRig
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = float(os.environ.get("SAFECODE_OUTAGE_SECONDS", "10"))
OUTAGE_CHECKINS = int(os.environ.get("SAFECODE_OUTAGE_CHECKINS", "10"))
SEED = int(os.environ.get("SAFECODE_RELIABILITY_SEED", str(random.randrange(1 << 30))))


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[Callable[..., SiteRig]]:
    rigs: list[SiteRig] = []

    def make(**options: Any) -> SiteRig:
        rig = SiteRig(tmp_path / f"rig{len(rigs)}", **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def _rng(test: str) -> random.Random:
    print(f"{test}: SAFECODE_RELIABILITY_SEED={SEED}")
    return random.Random(f"{SEED}:{test}")


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    wait_until(check, timeout, interval=0.5, message=what)


def _sit_out_outage(kiosks: list[Child], since: float) -> None:
    """Return once every kiosk stored OUTAGE_CHECKINS check-ins since ``since``, and
    OUTAGE_SECONDS have passed: a backlog worth draining, however fast the machine."""
    _wait_until(
        lambda: all(len(kiosk.accepted(since)) >= OUTAGE_CHECKINS for kiosk in kiosks),
        120 + OUTAGE_SECONDS,
        f"{OUTAGE_CHECKINS} check-ins per kiosk during the outage",
    )
    _wait_until(lambda: time.monotonic() - since >= OUTAGE_SECONDS, OUTAGE_SECONDS, "the outage")


def _assert_exactly_once(rig: SiteRig, number: int, logged: list[int]) -> list[int]:
    """The kiosk's outbox, its "accepted" lines and the ledger agree; returns ledger seqs."""
    kiosk_id = rig.kiosk_id(number)
    rows = rig.outbox_rows(number)
    assert rows, f"{kiosk_id} stored nothing"
    assert sorted(rows) == list(range(1, max(rows) + 1)), f"{kiosk_id}: outbox seqs have holes"
    assert len(logged) == len(set(logged)), f"{kiosk_id}: a seq was accepted twice (reused)"
    assert set(logged) <= set(rows), f"{kiosk_id}: accepted but not in the outbox"
    waiting = [seq for seq, row in rows.items() if not row["delivered"]]
    assert not waiting, f"{kiosk_id}: rows never receipted: {waiting[:20]}"
    entries = rig.ledger().get(kiosk_id, [])
    seqs = [e["seq"] for e in entries]
    assert len(seqs) == len(set(seqs)), f"{kiosk_id}: duplicated in the ledger"
    assert set(seqs) == set(rows), (
        f"{kiosk_id}: missing from the ledger {sorted(set(rows) - set(seqs))[:20]}, "
        f"not in the outbox {sorted(set(seqs) - set(rows))[:20]}"
    )
    assert all(e["leaf_index"] is not None for e in entries), f"{kiosk_id}: unsealed entries"
    return seqs


def _assert_ledger_verifies(rig: SiteRig) -> None:
    result = rig.verify_ledger()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK:"), result.stdout


def _stop_kiosk(kiosk: Child, timeout: float = 120) -> dict[str, Any]:
    assert kiosk.stop(timeout=timeout) == 0, kiosk.text()[-3000:]
    assert kiosk.summary is not None, kiosk.text()[-3000:]
    assert "Traceback" not in kiosk.text()
    return kiosk.summary


# -- kill -9 while scanning -------------------------------------------------------------------


@pytest.mark.slow
def test_kill9_while_scanning_then_restart_every_accepted_checkin_sealed_once(
    rig_factory: Callable[..., SiteRig],
) -> None:
    rng = _rng("kill9")
    rig = rig_factory(kiosks=1, visitors_per_kiosk=400, fps=30.0, resend_after_s=2.0)
    aggregator = rig.start_aggregator()
    logged: list[int] = []
    kills_with_unreceipted_rows = 0
    stored_high = 0
    for round_ in range(6):
        kiosk = rig.start_kiosk(1)
        if round_ % 2 == 0:
            # Right after an acceptance: the row is committed, its receipt not yet back.
            kiosk.wait_for(r"accepted seq=", 60)
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            time.sleep(rng.uniform(1.0, 5.0))  # anywhere in the scan loop
        kiosk.kill9()
        accepted = [seq for _, seq in kiosk.accepted()]
        assert all(seq > stored_high for seq in accepted), (
            f"round {round_}: a seq at or below {stored_high} was used again: {accepted}"
        )
        logged += accepted
        rows = rig.outbox_rows(1)  # read from a copy: the files stay as the kill left them
        lost = sorted(set(accepted) - set(rows))
        assert not lost, f"round {round_}: accepted before kill -9 but not stored: {lost}"
        kills_with_unreceipted_rows += any(not row["delivered"] for row in rows.values())
        stored_high = max(rows, default=0)
    assert kills_with_unreceipted_rows, "no kill caught a row waiting for its receipt"
    final = rig.start_kiosk(1, drain_seconds=60)
    final.wait_for(r"accepted seq=", 60)
    time.sleep(rng.uniform(2.0, 4.0))
    summary = _stop_kiosk(final)
    logged += [seq for _, seq in final.accepted()]
    assert summary["pending"] == 0, summary
    assert aggregator.stop(timeout=60) == 0
    seqs = _assert_exactly_once(rig, 1, logged)
    assert len(seqs) >= 10, f"too few check-ins to mean anything: {len(seqs)}"
    print(
        f"kill9: 6 kills ({kills_with_unreceipted_rows} with rows awaiting a receipt), "
        f"{len(seqs)} check-ins sealed once each"
    )
    _assert_ledger_verifies(rig)


# -- broker and aggregator outages ------------------------------------------------------------


def _in_order(entries: list[int], window: set[int]) -> bool:
    inside = [seq for seq in entries if seq in window]
    return inside == sorted(inside)


@pytest.mark.slow
def test_broker_then_aggregator_down_for_a_minute_backlog_drains_in_order(
    rig_factory: Callable[..., SiteRig],
) -> None:
    outage = OUTAGE_SECONDS
    rig = rig_factory(kiosks=2, visitors_per_kiosk=400, fps=15.0, resend_after_s=2.0)
    aggregator = rig.start_aggregator()
    kiosks = [rig.start_kiosk(n, drain_seconds=120) for n in (1, 2)]
    for kiosk in kiosks:
        kiosk.wait_for(r"receipt: ", 60)

    def sealed_all_accepted_before(moment: float) -> bool:
        ledger = rig.ledger()
        for number, kiosk in enumerate(kiosks, start=1):
            stored = {e["seq"] for e in ledger.get(rig.kiosk_id(number), [])}
            if not {seq for _, seq in kiosk.accepted(until=moment)} <= stored:
                return False
        return True

    # The broker goes away; the doors keep scanning and storing.
    broker_down = time.monotonic()
    rig.broker.stop()
    _sit_out_outage(kiosks, broker_down)
    rig.broker.start()
    broker_up = time.monotonic()
    for kiosk in kiosks:
        assert kiosk.accepted(broker_down, broker_up), f"{kiosk.name} stopped accepting"
    _wait_until(lambda: sealed_all_accepted_before(broker_up), 90, "the broker backlog")

    # The aggregator goes away; check-ins wait at the broker and in the outboxes.
    aggregator_down = time.monotonic()
    assert aggregator.stop(timeout=60) == 0
    _sit_out_outage(kiosks, aggregator_down)
    aggregator = rig.start_aggregator()
    aggregator_up = time.monotonic()
    for kiosk in kiosks:
        assert kiosk.accepted(aggregator_down, aggregator_up), f"{kiosk.name} stopped accepting"
    _wait_until(lambda: sealed_all_accepted_before(aggregator_up), 90, "the aggregator backlog")

    for kiosk in kiosks:
        assert _stop_kiosk(kiosk)["pending"] == 0
    assert aggregator.stop(timeout=60) == 0
    for number, kiosk in enumerate(kiosks, start=1):
        logged = [seq for _, seq in kiosk.accepted()]
        seqs = _assert_exactly_once(rig, number, logged)
        for name, (since, until) in {
            "broker outage": (broker_down, broker_up),
            "aggregator outage": (aggregator_down, aggregator_up),
        }.items():
            window = {seq for _, seq in kiosk.accepted(since, until)}
            inside = [seq for seq in seqs if seq in window]
            assert _in_order(seqs, window), f"{kiosk.name}: {name} backlog out of order: {inside}"
            print(f"{kiosk.name}: {len(window)} check-ins accepted during the {name}")
        print(f"{kiosk.name}: {len(seqs)} check-ins sealed once each, outages of {outage} s")
    _assert_ledger_verifies(rig)


# -- a damaged outbox file --------------------------------------------------------------------

_WRITER = """
import os, sys, time
from kiosk.outbox import Outbox
outbox = Outbox(sys.argv[1])
record = os.urandom(400)
while True:
    outbox.append(lambda seq: (os.urandom(16), record), int(time.time() * 1000))
"""


def _writer(path: Path) -> subprocess.Popen[bytes]:
    """A process appending to an outbox as fast as it can, through the real Outbox code."""
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])


def _files(path: Path) -> list[Path]:
    return [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]


def _inspect(path: Path, scratch: Path) -> tuple[bool, int | None]:
    """(intact, highest seq readable) of an outbox, judged on a scratch copy."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    copy = scratch / path.name
    for source, target in zip(_files(path)[:2], _files(copy)[:2], strict=True):
        if source.exists():
            shutil.copyfile(source, target)
    highest: list[int] = []
    intact = False
    try:
        db = sqlite3.connect(copy)
    except sqlite3.DatabaseError:
        return False, None
    try:
        for query, shift in (
            ("SELECT max(seq) FROM outbox", 0),
            ("SELECT value FROM counter WHERE name = 'next_seq'", -1),
        ):
            try:
                value = db.execute(query).fetchone()
            except sqlite3.DatabaseError:
                continue
            if value and value[0] is not None:
                highest.append(int(value[0]) + shift)
        try:
            intact = db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        except sqlite3.DatabaseError:
            intact = False
    finally:
        db.close()
    return intact, max(highest) if highest else None


def _filled_outbox(path: Path, rng: random.Random) -> None:
    """An outbox left as a power cut leaves it: the writer killed mid-append, WAL in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _writer(path)
    time.sleep(rng.uniform(1.5, 2.5))
    writer.kill()
    writer.wait()


def _checkpointed(path: Path) -> None:
    """Fold the WAL into the main file and remove it (what a clean shutdown leaves)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for extra in _files(path)[1:]:
        extra.unlink(missing_ok=True)


def _cut_wal(path: Path, rng: random.Random, scratch: Path) -> str:
    _filled_outbox(path, rng)
    wal = _files(path)[1]
    offset = rng.randrange(32, wal.stat().st_size)
    os.truncate(wal, offset)
    return f"WAL cut at byte {offset}"


def _cut_main(path: Path, rng: random.Random, scratch: Path) -> str:
    _filled_outbox(path, rng)
    _checkpointed(path)
    kept = path.read_bytes()
    for _ in range(20):  # a cut that leaves a damaged file (almost every cut does)
        offset = rng.randrange(100, len(kept) - 4096)
        path.write_bytes(kept[:offset])
        if not _inspect(path, scratch)[0]:
            return f"main file cut at byte {offset} of {len(kept)}"
    raise AssertionError("20 cuts of the main file all left an intact database")


def _copied_mid_write(path: Path, rng: random.Random, scratch: Path) -> str:
    """Copy the outbox (main file in chunks, a pause, then the WAL) while a writer appends."""
    source = path.parent / "live" / path.name
    for attempt in range(10):
        shutil.rmtree(source.parent, ignore_errors=True)
        source.parent.mkdir(parents=True)
        writer = _writer(source)
        try:
            time.sleep(rng.uniform(0.8, 1.5))
            with source.open("rb") as live, path.open("wb") as copy:
                while chunk := live.read(64 * 1024):
                    copy.write(chunk)
                    time.sleep(rng.uniform(0.0, 0.01))
            time.sleep(rng.uniform(0.3, 0.6))  # a slow copy tool: the writer checkpoints meanwhile
            shutil.copyfile(_files(source)[1], _files(path)[1])
        finally:
            writer.kill()
            writer.wait()
        if not _inspect(path, scratch)[0]:
            shutil.rmtree(source.parent)
            return f"copied mid-write (attempt {attempt + 1})"
        for target in _files(path):
            target.unlink(missing_ok=True)
    raise AssertionError("10 copies made mid-write were all intact")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_cut_wal, id="wal-cut"),
        pytest.param(_cut_main, id="main-cut"),
        pytest.param(_copied_mid_write, id="copied-mid-write"),
    ],
)
def test_damaged_outbox_is_detected_and_the_kiosk_recovers(
    rig_factory: Callable[..., SiteRig],
    damage: Callable[[Path, random.Random, Path], str],
    tmp_path: Path,
) -> None:
    rng = _rng(f"damage-{damage.__name__}")
    rig = rig_factory(kiosks=1, visitors_per_kiosk=200, fps=20.0)
    path = rig.outbox_path(1)
    how = damage(path, rng, tmp_path / "scratch")
    intact, known_high = _inspect(path, tmp_path / "scratch")
    damaged_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{how}: intact={intact}, highest readable seq={known_high}")

    previous = known_high or 0
    for run in range(2):  # start, and start again: no crash loop
        kiosk = rig.start_kiosk(1, drain_seconds=0)
        answer = kiosk.wait_for(r"accepted seq=(\d+)|FAULT.*", 60)
        assert answer[1], f"run {run} ({how}): {answer[0]}"
        first = int(answer[1])
        assert first > previous, f"run {run} ({how}): seq {first} reuses seq <= {previous}"
        time.sleep(1.0)
        _stop_kiosk(kiosk, timeout=30)
        assert "FAULT" not in kiosk.text(), kiosk.text()[-3000:]
        previous = max(seq for _, seq in kiosk.accepted())
        if run == 0 and not intact:
            assert "integrity" in kiosk.text().lower(), "no clear message about the damage"

    aside = [
        p
        for p in path.parent.glob(f"{path.name}.corrupt*")
        if not p.name.endswith(("-wal", "-shm"))
    ]
    if intact:
        assert not aside, f"an intact outbox was moved aside: {aside}"
    else:
        assert len(aside) == 1, f"{how}: the damaged file was not kept aside: {aside}"
        assert hashlib.sha256(aside[0].read_bytes()).hexdigest() == damaged_digest
        rows = rig.outbox_rows(1)
        assert rows and min(rows) > (known_high or 0), "the fresh outbox continues above"
