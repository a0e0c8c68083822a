"""The kiosk loop (kiosk.firmware) with real parts except the uplink.

Real decoders, verifier, outbox (SQLite on tmp_path) and lights (gpiozero MockFactory);
the uplink is an in-memory :class:`FakeLink` (the MQTT path has its own integration test).
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.clock import KioskClock
from kiosk.config import KioskConfig
from kiosk.decoders import Decoder, default_decoder
from kiosk.disk import MB, DiskMonitor
from kiosk.firmware import FIRMWARE_VERSION, Kiosk, RateLimitedEvents
from kiosk.frames import FrameSource, GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link import Link
from kiosk.outbox import LINK_DOWN_MS, LINK_UP_MS, Outbox
from kiosk.verifier import Outcome
from kiosk.watchdog import Notifier, Watchdog
from protocol import keys
from protocol.checkin import parse_checkin
from protocol.kiosk_config import sign_kiosk_config
from protocol.receipt import ReceiptEntry, sign_receipt
from protocol.status import encode_status, parse_status
from simulator.render import blank_frame, render_code_frame
from simulator.visitors import Wallet, enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("firmware-issuer")
LEDGER = seeded("firmware-ledger")
DEVICE = seeded("firmware-device")
IMPOSTOR = seeded("firmware-impostor")
KIOSK_ID = "kiosk-7"
VENUE_ID = "venue-3"
NOW = 1_764_000_000.0
MONOTONIC = 4321.5
RESEND_S = 10.0


class FakeLink(Link):
    """An uplink in memory: records what is published, hands out queued receipts."""

    def __init__(self) -> None:
        self.receipts: queue.Queue[bytes] = queue.Queue()
        self.configs: queue.Queue[bytes] = queue.Queue()
        self.published: list[bytes] = []
        self.statuses: list[dict[str, Any]] = []
        self.is_connected = True
        self.refuse_after: int | None = None  # publish_checkin fails once this many are out
        self.started = False
        self.stopped = False

    def start(self) -> None:
        self.started = True

    def publish_checkin(self, wire: bytes) -> bool:
        if not self.is_connected:
            return False
        if self.refuse_after is not None and len(self.published) >= self.refuse_after:
            return False
        self.published.append(bytes(wire))
        return True

    def publish_status(self, **figures: Any) -> None:
        self.statuses.append(figures)

    @property
    def connected(self) -> bool:
        return self.is_connected

    def poll_config(self) -> bytes | None:
        try:
            return self.configs.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        self.stopped = True


class Usage:
    """What shutil.disk_usage returns, set by hand (no disk is filled)."""

    def __init__(self, free_mb: float = 10_000, total_mb: float = 32_000) -> None:
        self.free_mb, self.total_mb = free_mb, total_mb

    def __call__(self, path: str):
        total, free = int(self.total_mb * MB), int(self.free_mb * MB)
        return shutil._ntuple_diskusage(total, total - free, free)


class Wall:
    """The kiosk's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return default_decoder()


@pytest.fixture(scope="module")
def wallets() -> list[Wallet]:
    return [enrol_visitor(ISSUER, NOW) for _ in range(4)]


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


@pytest.fixture
def feedback() -> Iterator[Feedback]:
    factory = mock_pin_factory()
    with Feedback(load_pins(), pin_factory=factory) as fb:
        yield fb
    factory.reset()
    factory.close()


def make_config(tmp_path: Path, **overrides: Any) -> KioskConfig:
    options: dict[str, Any] = {
        "kiosk_id": KIOSK_ID,
        "venue_id": VENUE_ID,
        "state_dir": tmp_path,
        "issuer_keys": (keys.did_key(ISSUER),),
        "ledger_key": keys.did_key(LEDGER),
        "door": "exit",
        "resend_after_s": RESEND_S,
        "max_in_flight": 2,
    }
    options.update(overrides)
    return KioskConfig(**options)


@pytest.fixture
def usage() -> Usage:
    return Usage()


@pytest.fixture
def make_kiosk(tmp_path, wall, link, outbox, feedback, decoder, usage):
    events: list[str] = []

    def make(
        source=None, *, synced=lambda: True, notifier=None, box=None, **overrides: Any
    ) -> Kiosk:
        kiosk = Kiosk(
            make_config(tmp_path, **overrides),
            device_key=DEVICE,
            source=source or GeneratedFrameSource(lambda i: None).open(),
            decoder=decoder,
            feedback=feedback,
            link=link,
            outbox=box or outbox,
            clock=KioskClock(synced=synced, wall=wall, monotonic=lambda: MONOTONIC),
            disk=DiskMonitor(tmp_path, usage=usage, cache_s=0),
            watchdog=Watchdog(notifier or Notifier({})),
            on_event=events.append,
        )
        kiosk.events = events  # type: ignore[attr-defined]
        return kiosk

    return make


@pytest.fixture
def kiosk(make_kiosk) -> Kiosk:
    return make_kiosk()


def frame(text: str, seed: int = 1) -> np.ndarray:
    return render_code_frame(text, rng=np.random.default_rng(seed))


def show(kiosk: Kiosk, text: str, seed: int = 1):
    return kiosk.process_frame(frame(text, seed))


def wait_for(predicate, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def receipt_for(
    wires: list[bytes],
    *,
    key: Ed25519PrivateKey = LEDGER,
    kiosk_id: str = KIOSK_ID,
    block: int = 5,
) -> bytes:
    records = [parse_checkin(w) for w in wires]
    return sign_receipt(
        key,
        kiosk_id=kiosk_id,
        entries=[ReceiptEntry(r.checkin_id, r.seq, 100 + i) for i, r in enumerate(records)],
        block=block,
        tree_size=100 + len(records),
        root=bytes(32),
        issued_ms=int(NOW * 1000),
    )


# -- scanning -----------------------------------------------------------------------------


def test_accepted_code_is_committed_before_the_green_light(
    kiosk: Kiosk, outbox: Outbox, feedback: Feedback, wallets: list[Wallet], tmp_path: Path
) -> None:
    seen_at_light: list[tuple[int, int]] = []
    original = feedback.accepted

    def accepted() -> None:
        reader = sqlite3.connect(tmp_path / "outbox.sqlite")  # what is on disk right now
        try:
            on_disk = reader.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        finally:
            reader.close()
        seen_at_light.append((outbox.stats().pending, on_disk))
        original()

    feedback.accepted = accepted  # type: ignore[method-assign]
    presentation = wallets[0].show(NOW)
    verdicts = show(kiosk, presentation.to_text())

    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED]
    assert verdicts[0].presentation == presentation
    assert seen_at_light == [(1, 1)]
    assert outbox.stats().pending == 1
    assert outbox.stats().next_seq == 2
    assert (kiosk.counters.frames, kiosk.counters.scanned, kiosk.counters.accepted) == (1, 1, 1)
    assert wait_for(lambda: feedback.green.is_lit)
    assert not feedback.red.is_lit
    assert any(f"accepted seq=1 (code {presentation.fingerprint()})" in e for e in kiosk.events)
    assert not any(presentation.to_text()[4:40] in e for e in kiosk.events)  # no whole codes


def test_published_record_is_signed_and_complete(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    presentation = wallets[0].show(NOW)
    wall_ms = int(NOW * 1000)
    show(kiosk, presentation.to_text())

    assert len(link.published) == 1
    record = parse_checkin(link.published[0])
    record.verify(DEVICE.public_key())
    assert record.presentation == presentation.to_bytes()
    assert record.parsed_presentation() == presentation
    assert (record.kiosk_id, record.venue_id, record.door, record.seq) == (
        KIOSK_ID,
        VENUE_ID,
        "exit",
        1,
    )
    assert record.scanned_ms == wall_ms
    assert record.clock.synced is True
    assert record.clock.monotonic_ms == int(MONOTONIC * 1000)
    assert record.clock.boot_id == kiosk.clock.boot_id
    row = outbox.Row.get_by_id(1)
    assert bytes(row.wire) == link.published[0]
    assert bytes(row.checkin_id) == record.checkin_id
    assert (row.attempts, row.last_sent_ms, row.created_ms) == (1, wall_ms, wall_ms)


def test_sequence_numbers_follow_accepted_visitors(
    kiosk: Kiosk, link: FakeLink, wallets: list[Wallet]
) -> None:
    kiosk.config = make_config(kiosk.config.state_dir, max_in_flight=10)
    for wallet in wallets[:3]:
        show(kiosk, wallet.show(NOW).to_text())
    records = [parse_checkin(w) for w in link.published]
    assert [r.seq for r in records] == [1, 2, 3]
    assert len({r.checkin_id for r in records}) == 3


def test_same_showing_and_repeat_visit_make_no_second_row(
    kiosk: Kiosk, outbox: Outbox, feedback: Feedback, wall: Wall, wallets: list[Wallet]
) -> None:
    text = wallets[0].show(NOW).to_text()
    assert [v.outcome for v in show(kiosk, text, seed=1)] == [Outcome.ACCEPTED]
    assert show(kiosk, text, seed=2) == []  # the phone is still in view
    wall.t += 60
    again = show(kiosk, wallets[0].show(wall.t).to_text())
    assert [v.outcome for v in again] == [Outcome.ALREADY]
    assert outbox.stats().pending == 1
    assert (kiosk.counters.scanned, kiosk.counters.accepted, kiosk.counters.already) == (2, 1, 1)
    assert wait_for(lambda: feedback.green.is_lit)


def test_a_code_checked_in_is_still_known_after_a_restart(
    make_kiosk, tmp_path: Path, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    """Shown, the kiosk restarted, shown again within its validity: no second check-in."""
    text = wallets[1].show(NOW).to_text()
    assert [v.outcome for v in show(make_kiosk(), text)] == [Outcome.ACCEPTED]
    outbox.close()
    wall.t += 20
    reopened = Outbox(tmp_path / "outbox.sqlite")
    try:
        restarted = make_kiosk(box=reopened)
        assert [v.outcome for v in show(restarted, text)] == [Outcome.ALREADY]
        assert reopened.stats().next_seq == 2  # one check-in, not two
        assert restarted.counters.already == 1
    finally:
        reopened.close()


def test_refused_code_makes_no_row_and_shows_red(
    kiosk: Kiosk, outbox: Outbox, link: FakeLink, feedback: Feedback, wallets: list[Wallet]
) -> None:
    verdicts = show(kiosk, wallets[0].show(NOW - 120).to_text())
    assert [(v.outcome, v.reason) for v in verdicts] == [(Outcome.REFUSED, "expired")]
    assert outbox.stats().pending == 0
    assert outbox.stats().next_seq == 1
    assert link.published == []
    assert (kiosk.counters.refused, kiosk.counters.accepted) == (1, 0)
    assert kiosk.counters.refusals == {"expired": 1}
    assert wait_for(lambda: feedback.red.is_lit)
    assert not feedback.green.is_lit
    assert any("refused (expired)" in e for e in kiosk.events)


def test_frame_without_a_code_does_nothing(kiosk: Kiosk, outbox: Outbox) -> None:
    assert kiosk.process_frame(blank_frame(rng=np.random.default_rng(3))) == []
    assert (kiosk.counters.frames, kiosk.counters.scanned) == (1, 0)
    assert outbox.stats().next_seq == 1


def test_step_reads_the_source(make_kiosk, outbox: Outbox, wallets: list[Wallet]) -> None:
    text = wallets[1].show(NOW).to_text()
    frames = [frame(text), blank_frame(rng=np.random.default_rng(4))]
    source = GeneratedFrameSource(lambda i: frames[i] if i < len(frames) else None)
    kiosk = make_kiosk(source)
    with source:
        kiosk.step(frame_timeout=1.0)
        kiosk.step(frame_timeout=1.0)
    assert kiosk.counters.frames == 2
    assert kiosk.counters.accepted == 1
    assert outbox.stats().pending == 1


# -- delivery -----------------------------------------------------------------------------


def test_send_due_respects_max_in_flight_and_resend_time(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    for wallet in wallets[:3]:
        show(kiosk, wallet.show(NOW).to_text())
    assert [parse_checkin(w).seq for w in link.published] == [1, 2]  # max_in_flight = 2
    assert kiosk.send_due() == 0

    wall.t = NOW + RESEND_S - 0.01
    assert kiosk.send_due() == 0
    assert len(link.published) == 2

    wall.t = NOW + RESEND_S
    # The never-sent row goes first, then the longest-unanswered row is sent again.
    assert kiosk.send_due() == 2
    assert [parse_checkin(w).seq for w in link.published] == [1, 2, 3, 1]
    assert link.published[3] == link.published[0]  # the same signed bytes
    assert kiosk.send_due() == 0

    link.receipts.put(receipt_for(link.published[:2]))
    assert kiosk.apply_receipts() == 2
    assert kiosk.send_due() == 0  # row 3 is in flight; 1 and 2 are delivered
    assert outbox.Row.get_by_id(1).attempts == 2
    assert outbox.Row.get_by_id(3).attempts == 1


def test_send_due_stops_when_the_link_refuses(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    kiosk.config = make_config(kiosk.config.state_dir, max_in_flight=10)
    link.is_connected = False
    for wallet in wallets[:3]:
        show(kiosk, wallet.show(NOW).to_text())
    link.is_connected = True
    link.refuse_after = 1
    assert kiosk.send_due() == 1
    assert [r.last_sent_ms is not None for r in outbox.Row.select().order_by(outbox.Row.seq)] == [
        True,
        False,
        False,
    ]


def test_valid_receipt_marks_the_row_delivered(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    link.receipts.put(receipt_for(link.published, block=9))
    wall.t += 2
    assert kiosk.apply_receipts() == 1
    assert outbox.stats().pending == 0 and outbox.stats().delivered == 1
    row = outbox.Row.get_by_id(1)
    assert (row.delivered_ms, row.block, row.leaf_index) == (int(wall.t * 1000), 9, 100)
    assert (kiosk.counters.receipts, kiosk.counters.delivered, kiosk.counters.bad_receipts) == (
        1,
        1,
        0,
    )
    wall.t += RESEND_S * 3
    assert kiosk.send_due() == 0  # delivered rows are never sent again
    link.receipts.put(receipt_for(link.published, block=9))
    assert kiosk.apply_receipts() == 0  # a repeated receipt changes nothing
    assert kiosk.counters.delivered == 1


@pytest.mark.parametrize("case", ["other key", "other kiosk", "garbage", "empty", "checkin"])
def test_bad_receipts_are_refused_and_mark_nothing(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet], case: str
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    payload = {
        "other key": lambda: receipt_for(link.published, key=IMPOSTOR),
        "other kiosk": lambda: receipt_for(link.published, kiosk_id="kiosk-8"),
        "garbage": lambda: b"\x00garbage\xff",
        "empty": lambda: b"",
        "checkin": lambda: link.published[0],
    }[case]()
    link.receipts.put(payload)
    assert kiosk.apply_receipts() == 0
    assert kiosk.counters.bad_receipts == 1
    assert (kiosk.counters.receipts, kiosk.counters.delivered) == (0, 0)
    assert outbox.stats().pending == 1 and outbox.stats().delivered == 0
    assert any("refused a receipt" in e for e in kiosk.events)


def test_bad_receipt_does_not_block_the_good_one_behind_it(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    link.receipts.put(receipt_for(link.published, key=IMPOSTOR))
    link.receipts.put(b"junk")
    link.receipts.put(receipt_for(link.published))
    assert kiosk.apply_receipts() == 1
    assert kiosk.counters.bad_receipts == 2
    assert outbox.stats().delivered == 1


def test_receipt_naming_another_checkin_id_marks_nothing(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    record = parse_checkin(link.published[0])
    wire = sign_receipt(
        LEDGER,
        kiosk_id=KIOSK_ID,
        entries=[ReceiptEntry(bytes(16), record.seq, 0)],
        block=1,
        tree_size=1,
        root=bytes(32),
        issued_ms=0,
    )
    link.receipts.put(wire)
    assert kiosk.apply_receipts() == 0
    assert (kiosk.counters.receipts, kiosk.counters.bad_receipts) == (1, 0)
    assert outbox.stats().pending == 1


def test_nothing_is_published_while_disconnected(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    link.is_connected = False
    verdicts = show(kiosk, wallets[0].show(NOW).to_text())
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED]  # the door still works
    assert outbox.stats().pending == 1
    wall.t += RESEND_S * 2
    assert kiosk.send_due() == 0
    assert link.published == []
    assert outbox.Row.get_by_id(1).attempts == 0

    link.is_connected = True
    assert kiosk.send_due() == 1
    assert [parse_checkin(w).seq for w in link.published] == [1]
    assert parse_checkin(link.published[0]).scanned_ms == int(NOW * 1000)  # time of the scan


def test_publish_status_reports_the_heartbeat(
    kiosk: Kiosk, link: FakeLink, wall: Wall, wallets: list[Wallet], usage: Usage
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    show(kiosk, "hello")
    usage.free_mb = 40
    wall.t = NOW + 2.5
    kiosk.publish_status()
    figures = link.statuses[-1]
    assert parse_status(encode_status("online", **figures))  # strict JSON, documented types
    fps, decode_ms = figures.pop("fps"), figures.pop("decode_ms")
    assert fps > 0 and 0 < decode_ms < 5000
    assert figures == {
        "firmware": FIRMWARE_VERSION,
        "queue": 1,
        "oldest_unsent_ms": 2500,
        "in_flight": 1,
        "last_receipt_age_ms": None,
        "clock_synced": True,
        "clock_boot": kiosk.clock.boot_id.hex(),
        "clock_mono_ms": int(MONOTONIC * 1000),
        "clock_wall_ms": int((NOW + 2.5) * 1000),
        "disk_free_mb": 40.0,
        "disk_low": True,
        "config_serial": None,
        "outbox_recoveries": 0,
        "scanned": 2,
        "accepted": 1,
        "already": 0,
        "refused": 1,
        "faults": 0,
        "delivered": 0,
        "rejected": 0,
        "bad_receipts": 0,
        "bad_configs": 0,
        "disk_full": 0,
    }
    link.receipts.put(receipt_for(link.published))
    kiosk.apply_receipts()
    wall.t += 4
    kiosk.publish_status()
    assert link.statuses[-1]["last_receipt_age_ms"] == 4000
    assert link.statuses[-1]["queue"] == 0
    # Each heartbeat notes the link's state in the outbox, for `kiosk selftest`.
    link.is_connected = False
    kiosk.publish_status()
    link.is_connected = True
    wall.t += 1
    kiosk.publish_status()
    assert kiosk.outbox.get_meta(LINK_DOWN_MS) == str(int((NOW + 6.5) * 1000)).encode()
    assert kiosk.outbox.get_meta(LINK_UP_MS) == str(int((NOW + 7.5) * 1000)).encode()


# -- draining and running -----------------------------------------------------------------


def test_drain_returns_zero_once_the_receipt_arrives(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    assert kiosk.drain(0) == 1  # nothing receipted yet: the row is kept
    link.receipts.put(receipt_for(link.published))
    start = time.monotonic()
    assert kiosk.drain(5.0) == 0
    assert time.monotonic() - start < 2.0  # returns as soon as nothing is pending
    assert outbox.stats().delivered == 1


def test_drain_waits_for_a_receipt_arriving_later(
    kiosk: Kiosk, link: FakeLink, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    wire = receipt_for(link.published)
    timer = threading.Timer(0.2, link.receipts.put, args=(wire,))
    timer.start()
    try:
        assert kiosk.drain(5.0) == 0
    finally:
        timer.cancel()


def test_run_until_stopped(kiosk: Kiosk, link: FakeLink, feedback: Feedback) -> None:
    stop = threading.Event()
    stop.set()
    counters = kiosk.run(stop, drain_seconds=0)
    assert counters is kiosk.counters
    assert link.started and link.stopped
    assert not feedback.amber.is_lit
    assert any("scanning" in e for e in kiosk.events)


# -- refusals from the aggregator -----------------------------------------------------------


def refusal_for(
    wires: list[bytes],
    *,
    key: Ed25519PrivateKey = LEDGER,
    kiosk_id: str = KIOSK_ID,
    reason: str = "replayed",
) -> bytes:
    from protocol.receipt import RefusalEntry, sign_refusal

    records = [parse_checkin(w) for w in wires]
    return sign_refusal(
        key,
        kiosk_id=kiosk_id,
        entries=[RefusalEntry(r.checkin_id, r.seq, reason) for r in records],
        issued_ms=int(NOW * 1000),
    )


def test_valid_refusal_marks_the_row_rejected_for_good(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    assert len(link.published) == 1
    link.receipts.put(refusal_for(link.published, reason="venue_mismatch"))
    wall.t += 2
    assert kiosk.apply_receipts() == 0  # nothing delivered
    assert kiosk.counters.rejected == 1
    assert (kiosk.counters.receipts, kiosk.counters.delivered, kiosk.counters.bad_receipts) == (
        0,
        0,
        0,
    )
    row = outbox.Row.get_by_id(1)
    assert (row.rejected_ms, row.rejected_reason) == (int(wall.t * 1000), "venue_mismatch")
    assert row.delivered_ms is None
    assert bytes(row.wire) == link.published[0]  # kept for the operator
    stats = outbox.stats()
    assert (stats.pending, stats.delivered, stats.rejected) == (0, 0, 1)
    assert any("refused 1 check-in(s) for good (venue_mismatch)" in e for e in kiosk.events)

    for _ in range(3):  # never sent again, however long we wait
        wall.t += RESEND_S * 5
        assert kiosk.send_due() == 0
    assert len(link.published) == 1

    link.receipts.put(refusal_for([row.wire]))  # the same refusal again changes nothing
    assert kiosk.apply_receipts() == 0
    assert kiosk.counters.rejected == 1
    assert outbox.Row.get_by_id(1).rejected_reason == "venue_mismatch"


def test_refusal_of_one_row_leaves_the_others_to_be_sent(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    show(kiosk, wallets[1].show(NOW).to_text())
    assert [parse_checkin(w).seq for w in link.published] == [1, 2]
    link.receipts.put(refusal_for(link.published[:1]))
    kiosk.apply_receipts()
    wall.t += RESEND_S
    assert kiosk.send_due() == 1
    assert parse_checkin(link.published[-1]).seq == 2
    assert outbox.stats().pending == 1


@pytest.mark.parametrize("case", ["other key", "device key", "other kiosk"])
def test_bad_refusals_are_refused_and_change_nothing(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet], case: str
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    payload = {
        "other key": lambda: refusal_for(link.published, key=IMPOSTOR),
        "device key": lambda: refusal_for(link.published, key=DEVICE),
        "other kiosk": lambda: refusal_for(link.published, kiosk_id="kiosk-8"),
    }[case]()
    link.receipts.put(payload)
    assert kiosk.apply_receipts() == 0
    assert kiosk.counters.bad_receipts == 1
    assert kiosk.counters.rejected == 0
    row = outbox.Row.get_by_id(1)
    assert (row.rejected_ms, row.rejected_reason) == (None, None)
    assert outbox.stats().pending == 1 and outbox.stats().rejected == 0
    assert any("refused a receipt" in e for e in kiosk.events)
    wall.t += RESEND_S
    assert kiosk.send_due() == 1  # still sent again


def test_refusal_naming_another_checkin_id_marks_nothing(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    from protocol.receipt import RefusalEntry, sign_refusal

    show(kiosk, wallets[0].show(NOW).to_text())
    record = parse_checkin(link.published[0])
    wire = sign_refusal(
        LEDGER,
        kiosk_id=KIOSK_ID,
        entries=[RefusalEntry(bytes(16), record.seq, "replayed")],
        issued_ms=0,
    )
    link.receipts.put(wire)
    assert kiosk.apply_receipts() == 0
    assert (kiosk.counters.rejected, kiosk.counters.bad_receipts) == (0, 0)
    assert outbox.stats().pending == 1 and outbox.stats().rejected == 0


def test_refusal_between_receipts_is_applied_in_turn(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    kiosk.config = make_config(kiosk.config.state_dir, max_in_flight=10)
    for wallet in wallets[:3]:
        show(kiosk, wallet.show(NOW).to_text())
    first, second, third = link.published
    link.receipts.put(receipt_for([first]))
    link.receipts.put(refusal_for([second]))
    link.receipts.put(receipt_for([third]))
    assert kiosk.apply_receipts() == 2
    assert (kiosk.counters.delivered, kiosk.counters.rejected, kiosk.counters.receipts) == (
        2,
        1,
        2,
    )
    stats = outbox.stats()
    assert (stats.pending, stats.delivered, stats.rejected) == (0, 2, 1)


# -- the record's scan time ------------------------------------------------------------------


def test_record_is_stamped_with_the_time_the_code_was_checked(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    check = kiosk.verifier.check
    checked: list[float] = []

    def slow_check(text: str):
        verdict = check(text)
        if verdict is not None:
            checked.append(verdict.checked_at)
        wall.t += 3.25  # the commit happens well after the check
        return verdict

    kiosk.verifier.check = slow_check  # type: ignore[method-assign]
    show(kiosk, wallets[0].show(NOW).to_text())
    assert checked == [NOW]
    assert wall.t == NOW + 3.25
    record = parse_checkin(link.published[0])
    assert record.scanned_ms == int(NOW * 1000)
    row = outbox.Row.get_by_id(1)
    assert row.created_ms == int(NOW * 1000)
    assert row.last_sent_ms == int((NOW + 3.25) * 1000)  # sending uses the time it happens


# -- the loop survives faults -----------------------------------------------------------------


class FlakySource(FrameSource):
    """A camera that fails ``failures`` times, then delivers no frames at all."""

    def __init__(self, failures: int = 2) -> None:
        super().__init__()
        self.failures = failures
        self.reads = 0

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _read(self, timeout: float) -> None:
        self.reads += 1
        if self.reads <= self.failures:
            raise RuntimeError("camera unplugged")
        time.sleep(min(timeout, 0.01))
        return None


def test_scan_loop_counts_faults_and_keeps_running(make_kiosk, link: FakeLink) -> None:
    source = FlakySource(failures=2)
    kiosk = make_kiosk(source)
    stop = threading.Event()
    results: list[Any] = []
    with source:
        thread = threading.Thread(
            target=lambda: results.append(kiosk.run(stop, drain_seconds=0)), daemon=True
        )
        thread.start()
        try:
            assert wait_for(lambda: kiosk.counters.faults >= 2 and source.reads >= 6, 5.0)
            assert thread.is_alive()
            reads = source.reads
            assert wait_for(lambda: source.reads > reads + 2, 2.0)  # still reading
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=5)
    assert not thread.is_alive()
    assert kiosk.counters.faults == 2
    assert results == [kiosk.counters]
    assert link.started and link.stopped


def test_idle_frames_do_not_query_the_outbox_every_time(
    make_kiosk, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    blank = blank_frame(rng=np.random.default_rng(9))
    source = GeneratedFrameSource(lambda i: blank if i < 20 else None).open()
    kiosk = make_kiosk(source)
    calls = []
    real_due = outbox.due
    monkeypatch.setattr(outbox, "due", lambda *a, **k: calls.append(1) or real_due(*a, **k))
    for _ in range(20):
        kiosk.step(frame_timeout=0.01)
    assert kiosk.counters.frames == 20
    assert 1 <= len(calls) <= 3, "one look a second, not one a frame"
    source.close()


# -- kiosk config from the aggregator: revocation list ----------------------------------------


def config_wire(
    serial: int, revoked: list[bytes], *, key=LEDGER, kiosk_id: str = KIOSK_ID
) -> bytes:
    return sign_kiosk_config(
        key, kiosk_id=kiosk_id, serial=serial, issued_ms=int(NOW * 1000), revoked=revoked
    )


def test_revoked_credential_is_refused_after_a_config_arrives(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, feedback: Feedback, wallets: list[Wallet]
) -> None:
    revoked = wallets[0].credential.credential_id
    link.configs.put(config_wire(5, [revoked]))
    assert kiosk.apply_configs() == 1
    verdicts = show(kiosk, wallets[0].show(NOW).to_text())
    assert [(v.outcome, v.reason) for v in verdicts] == [(Outcome.REFUSED, "revoked")]
    assert kiosk.counters.refusals == {"revoked": 1}
    assert outbox.stats().next_seq == 1
    assert wait_for(lambda: feedback.red.is_lit)
    assert [v.outcome for v in show(kiosk, wallets[1].show(NOW).to_text())] == [Outcome.ACCEPTED]
    assert kiosk.counters.configs == 1 and kiosk.kiosk_config.serial == 5
    assert any("kiosk config 5 in force: 1 revoked" in e for e in kiosk.events)


def test_config_survives_a_restart(
    make_kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    first = make_kiosk()
    link.configs.put(config_wire(5, [wallets[0].credential.credential_id]))
    first.apply_configs()
    second = make_kiosk()  # a new firmware instance on the same outbox database
    assert second.kiosk_config is not None and second.kiosk_config.serial == 5
    verdicts = show(second, wallets[0].show(NOW).to_text())
    assert [v.reason for v in verdicts] == ["revoked"]
    link.configs.put(config_wire(4, []))  # an older one is still a rollback after restart
    assert second.apply_configs() == 0
    assert second.counters.bad_configs == 1


def test_newer_config_replaces_the_list_and_redelivery_is_quiet(
    kiosk: Kiosk, link: FakeLink, wallets: list[Wallet]
) -> None:
    first = config_wire(5, [wallets[0].credential.credential_id])
    link.configs.put(first)
    link.configs.put(first)  # the broker sends the retained message again on reconnect
    assert kiosk.apply_configs() == 1
    assert kiosk.counters.bad_configs == 0
    link.configs.put(config_wire(6, []))  # un-revoked
    assert kiosk.apply_configs() == 1
    assert [v.outcome for v in show(kiosk, wallets[0].show(NOW).to_text())] == [Outcome.ACCEPTED]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "bad_signature"),
        ("device key", "bad_signature"),
        ("other kiosk", "wrong_type"),
        ("older", "rollback"),
        ("same serial, other list", "rollback"),
        ("garbage", "malformed"),
        ("empty", "truncated"),
        ("receipt", "wrong_type"),
    ],
)
def test_bad_config_messages_are_refused_counted_and_change_nothing(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet], case: str, reason: str
) -> None:
    revoked = wallets[0].credential.credential_id
    link.configs.put(config_wire(5, [revoked]))
    kiosk.apply_configs()
    held = outbox.get_meta("kiosk_config")
    payload = {
        "forged": lambda: config_wire(9, [], key=IMPOSTOR),
        "device key": lambda: config_wire(9, [], key=DEVICE),
        "other kiosk": lambda: config_wire(9, [], kiosk_id="kiosk-8"),
        "older": lambda: config_wire(4, []),
        "same serial, other list": lambda: config_wire(5, []),
        "garbage": lambda: b"\x00garbage",
        "empty": lambda: b"",
        "receipt": _a_receipt,
    }[case]()
    link.configs.put(payload)
    assert kiosk.apply_configs() == 0
    assert kiosk.counters.bad_configs == 1
    assert kiosk.counters.bad_input == {f"config:{reason}": 1}
    assert kiosk.kiosk_config.serial == 5 and kiosk.verifier.revoked == {revoked}
    assert outbox.get_meta("kiosk_config") == held
    assert any(f"refused a config ({reason}" in e for e in kiosk.events)


def _a_receipt() -> bytes:
    return sign_receipt(
        LEDGER,
        kiosk_id=KIOSK_ID,
        entries=[ReceiptEntry(bytes(16), 1, 0)],
        block=1,
        tree_size=1,
        root=bytes(32),
        issued_ms=0,
    )


def test_a_flood_of_bad_messages_is_counted_but_logged_sparingly(
    kiosk: Kiosk, link: FakeLink
) -> None:
    for i in range(500):
        link.configs.put(b"junk-%d" % i)
        link.receipts.put(b"junk-%d" % i)
    kiosk.apply_configs()
    kiosk.apply_receipts()
    assert kiosk.counters.bad_configs == 500 and kiosk.counters.bad_receipts == 500
    logged = [e for e in kiosk.events if "refused a" in e]
    assert len(logged) == 10  # five of each kind a minute
    assert not any("junk" in e for e in logged) or all(len(e) < 300 for e in logged)


# -- standing conditions, disk, pruning, watchdog -------------------------------------------


def test_conditions_reach_the_lights_every_turn(
    make_kiosk, link: FakeLink, feedback: Feedback, wallets: list[Wallet], usage: Usage
) -> None:
    text = wallets[0].show(NOW).to_text()
    source = GeneratedFrameSource(lambda i: frame(text) if i == 0 else blank_frame((640, 480)))
    kiosk = make_kiosk(source.open(), synced=lambda: False)
    link.is_connected = False
    kiosk.step(frame_timeout=1.0)
    assert kiosk.conditions() == {
        "offline_backlog": True,
        "clock_unsynced": True,
        "fault": False,
        "disk_low": False,
    }
    assert feedback.condition == "offline_backlog"  # it outranks the clock
    link.is_connected = True
    usage.free_mb = 30
    kiosk.step(frame_timeout=1.0)
    assert kiosk.conditions()["disk_low"] is True
    assert kiosk.conditions()["offline_backlog"] is False
    assert feedback.condition == "disk_low"
    source.close()


def test_a_stalled_camera_is_a_fault(make_kiosk, feedback: Feedback) -> None:
    kiosk = make_kiosk(camera_stall_s=1)
    kiosk._started -= 5  # started five seconds ago and no frame since
    assert kiosk.conditions()["fault"] is True
    kiosk.last_frame_at = time.monotonic()
    assert kiosk.conditions()["fault"] is False


def test_full_disk_refuses_the_visitor_and_keeps_counting(
    kiosk: Kiosk, outbox: Outbox, feedback: Feedback, wallets: list[Wallet], usage: Usage
) -> None:
    usage.free_mb = 3  # under the 5 MB reserve
    verdicts = show(kiosk, wallets[0].show(NOW).to_text())
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED]  # the code itself was good
    assert outbox.stats().next_seq == 1  # nothing stored, nothing shown green
    assert (kiosk.counters.accepted, kiosk.counters.faults, kiosk.counters.disk_full) == (0, 1, 1)
    assert wait_for(lambda: feedback.red.is_lit)
    assert not feedback.green.is_lit
    assert kiosk.conditions()["fault"] and kiosk.conditions()["disk_low"]
    assert any("disk full" in e for e in kiosk.events)
    usage.free_mb = 1000
    assert [v.outcome for v in show(kiosk, wallets[1].show(NOW).to_text())] == [Outcome.ACCEPTED]
    assert kiosk.counters.accepted == 1


def test_sqlite_full_error_is_counted_as_disk_full(
    kiosk: Kiosk, outbox: Outbox, monkeypatch: pytest.MonkeyPatch, wallets: list[Wallet]
) -> None:
    import peewee

    def full(*args, **kwargs):
        raise peewee.OperationalError("database or disk is full")

    monkeypatch.setattr(outbox, "append", full)
    show(kiosk, wallets[0].show(NOW).to_text())
    assert (kiosk.counters.accepted, kiosk.counters.faults, kiosk.counters.disk_full) == (0, 1, 1)
    assert kiosk.conditions()["fault"] is True


def test_sqlite_reporting_a_full_disk_is_a_full_disk(
    make_kiosk, outbox: Outbox, feedback: Feedback, wallets: list[Wallet]
) -> None:
    from tests.unit.sqlite_full import fill_to_the_brim, make_room

    kiosk = make_kiosk(disk_reserve_mb=0)  # free space says fine; SQLite itself says full
    show(kiosk, wallets[0].show(NOW).to_text())
    filled = fill_to_the_brim(outbox)
    stored = [(r.seq, bytes(r.wire)) for r in outbox.Row.select().order_by(outbox.Row.seq)]
    assert len(stored) == filled + 1
    verdicts = show(kiosk, wallets[1].show(NOW).to_text())
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED]  # the code itself was good
    assert (kiosk.counters.accepted, kiosk.counters.faults, kiosk.counters.disk_full) == (1, 1, 1)
    assert wait_for(lambda: feedback.red.is_lit)
    assert not feedback.green.is_lit
    assert kiosk.conditions()["fault"] and kiosk.conditions()["disk_low"]  # red, then amber
    assert kiosk.events[-1].endswith("FAULT: disk full, check-in not stored; visitor refused")
    assert not any("rollback" in e for e in kiosk.events)
    rows = [(r.seq, bytes(r.wire)) for r in outbox.Row.select().order_by(outbox.Row.seq)]
    assert rows == stored  # nothing stored before is lost
    make_room(outbox)
    assert [v.outcome for v in show(kiosk, wallets[2].show(NOW).to_text())] == [Outcome.ACCEPTED]
    assert kiosk.counters.accepted == 2 and not kiosk.conditions()["disk_low"]
    assert outbox.stats().next_seq == filled + 3


def test_step_prunes_old_delivered_rows(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wall: Wall, wallets: list[Wallet]
) -> None:
    show(kiosk, wallets[0].show(NOW).to_text())
    link.receipts.put(receipt_for(link.published))
    kiosk.apply_receipts()
    assert kiosk.prune() == 0
    wall.t += 24 * 3600
    kiosk._last_prune = None
    kiosk.step(frame_timeout=0.01)
    assert outbox.Row.select().count() == 0 and kiosk.counters.pruned == 1
    assert outbox.stats().next_seq == 2


def test_watchdog_pings_while_frames_arrive(
    make_kiosk, tmp_path: Path, wallets: list[Wallet]
) -> None:
    path = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(2)
    blank = blank_frame((640, 480))
    source = GeneratedFrameSource(lambda i: blank if i < 1 else None).open()
    kiosk = make_kiosk(source, notifier=Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}))
    try:
        kiosk.step(frame_timeout=1.0)
        first = drain(listener)
        assert "WATCHDOG=1" in first
        assert any(m.startswith("STATUS=queue 0") for m in first)  # the first heartbeat
        kiosk.last_frame_at = time.monotonic() - 60  # the camera stalls
        time.sleep(0.02)  # a ping is due again (every 10 ms here)
        kiosk.step(frame_timeout=0.01)
        assert drain(listener) == []
        assert kiosk.watchdog.withheld >= 1
    finally:
        listener.close()
        source.close()


def drain(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out


def test_heartbeat_goes_out_on_reconnect(kiosk: Kiosk, link: FakeLink) -> None:
    kiosk.step(frame_timeout=0.01)
    count = len(link.statuses)
    link.is_connected = False
    kiosk.step(frame_timeout=0.01)
    link.is_connected = True
    kiosk.step(frame_timeout=0.01)
    assert len(link.statuses) == count + 1


@pytest.mark.parametrize("door", ["entrance", "exit", "both"])
def test_every_record_names_the_configured_door(
    make_kiosk, link: FakeLink, wallets: list[Wallet], door: str
) -> None:
    kiosk = make_kiosk(door=door, max_in_flight=10)
    for wallet in wallets[:2]:
        show(kiosk, wallet.show(NOW).to_text())
    assert [parse_checkin(w).door for w in link.published] == [door, door]


def test_rate_limited_events_summarise_what_they_held_back() -> None:
    lines: list[str] = []
    clock = [0.0]
    events = RateLimitedEvents(lines.append, burst=2, per_s=60, monotonic=lambda: clock[0])
    assert [events("receipt", f"bad {i}") for i in range(5)] == [True, True, False, False, False]
    assert events("config", "other kind") is True  # each kind has its own budget
    clock[0] = 60
    assert events("receipt", "bad again") is True
    assert lines == [
        "bad 0",
        "bad 1",
        "other kind",
        "3 more receipt message(s) not logged",
        "bad again",
    ]


def test_loop_fault_tracebacks_are_rate_limited(make_kiosk, caplog) -> None:
    source = FlakySource(failures=1000)
    kiosk = make_kiosk(source)
    stop = threading.Event()
    with source, caplog.at_level("ERROR"):
        thread = threading.Thread(target=lambda: kiosk.run(stop, drain_seconds=0), daemon=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(stop, "wait", lambda t: None)  # no half-second pause between faults
            thread.start()
            assert wait_for(lambda: kiosk.counters.faults >= 50, 10.0)
            stop.set()
            thread.join(timeout=5)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert 1 <= len(tracebacks) <= 5
    assert kiosk.counters.faults >= 50


def test_a_long_prune_backlog_goes_in_small_batches_a_second_apart(
    kiosk: Kiosk, outbox: Outbox, wall: Wall
) -> None:
    for _ in range(Kiosk.PRUNE_BATCH + 5):
        outbox.append(lambda seq: (os.urandom(16), b""), int(NOW * 1000))
    outbox.Row.update(delivered_ms=int(NOW * 1000)).execute()
    wall.t += 2 * 86400
    kiosk.step(frame_timeout=0.01)
    assert kiosk.counters.pruned == Kiosk.PRUNE_BATCH
    kiosk.step(frame_timeout=0.01)
    assert kiosk.counters.pruned == Kiosk.PRUNE_BATCH  # not on every turn
    kiosk._last_prune -= Kiosk.SEND_CHECK_S
    kiosk.step(frame_timeout=0.01)
    assert kiosk.counters.pruned == Kiosk.PRUNE_BATCH + 5


# -- printed cards ------------------------------------------------------------------------


def _card(days: int = 28):
    from protocol.credential import issue_credential
    from protocol.presentation import make_card

    one_off = keys.generate()
    start = int(NOW) - 86_400
    credential = issue_credential(
        ISSUER, keys.public_bytes(one_off), not_before=start, not_after=start + days * 86_400
    )
    return make_card(credential, one_off, timestamp=start)


def test_a_card_checks_in_once_per_card_gap_even_across_prune_and_restart(
    make_kiosk, tmp_path: Path, outbox: Outbox, wall: Wall, link: FakeLink
) -> None:
    card = _card()
    kiosk = make_kiosk(card_gap_minutes=5.0)
    assert [v.outcome for v in show(kiosk, card.to_text())] == [Outcome.ACCEPTED]
    assert parse_checkin(link.published[0]).parsed_presentation() == card
    wall.t += 60
    again = show(kiosk, card.to_text(), seed=2)
    assert [(v.outcome, v.reason) for v in again] == [(Outcome.REFUSED, "card_repeat")]
    assert kiosk.counters.refusals == {"card_repeat": 1}
    kiosk._last_prune = None
    kiosk.prune()  # the card's fingerprint outlives a prune (it is not a "clock jump")
    outbox.close()
    wall.t += 60
    reopened = Outbox(tmp_path / "outbox.sqlite")
    try:
        restarted = make_kiosk(box=reopened, card_gap_minutes=5.0)
        refused = show(restarted, card.to_text(), seed=3)
        assert [v.reason for v in refused] == ["card_repeat"]
        assert reopened.stats().next_seq == 2  # still one check-in
        wall.t = NOW + 5 * 60 + 1
        assert [v.outcome for v in show(restarted, card.to_text(), seed=4)] == [Outcome.ACCEPTED]
        assert reopened.stats().next_seq == 3
    finally:
        reopened.close()
