"""The kiosk loop: frame → decode → verify → outbox commit → light → publish.

One thread does all the work, so the outbox has one writer. Receipts and config
messages arrive on the link's queues and are applied between frames; unreceipted
rows are sent again after ``resend_after_s``; at most ``max_in_flight`` rows wait for
a receipt at any time. Each turn also sets the standing light conditions (offline
with a backlog, clock not synchronised, fault, disk low) and pings the systemd
watchdog while frames and the outbox make progress; every ``heartbeat_s`` a status
goes out, and old delivered or refused rows are pruned a small batch at a time.
"""

from __future__ import annotations

import logging
import os
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.checkin import sign_checkin
from protocol.errors import ProtocolError, WrongTypeError
from protocol.kiosk_config import KioskConfigMessage, parse_kiosk_config
from protocol.receipt import Refusal, parse_answer
from support.quota import WindowedQuota

from .clock import KioskClock
from .config import KioskConfig
from .decoders import Decoder
from .disk import DiskMonitor, is_disk_full
from .frames import FrameSource
from .lights import Feedback
from .link import Link
from .outbox import KIOSK_CONFIG, LINK_DOWN_MS, LINK_UP_MS, Outbox
from .verifier import DoorVerifier, Outcome, Verdict
from .watchdog import Notifier, Watchdog

log = logging.getLogger(__name__)

FIRMWARE_VERSION = "0.1.0"


@dataclass
class KioskCounters:
    """What this kiosk has done since it started."""

    frames: int = 0
    scanned: int = 0
    accepted: int = 0
    already: int = 0
    refused: int = 0
    receipts: int = 0
    delivered: int = 0
    bad_receipts: int = 0
    rejected: int = 0
    faults: int = 0
    disk_full: int = 0
    configs: int = 0
    bad_configs: int = 0
    pruned: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    bad_input: dict[str, int] = field(default_factory=dict)


class RateLimitedEvents:
    """At most ``burst`` lines per ``per_s`` seconds for each kind; the rest are counted.

    A flood of hostile messages must not fill the disk with log lines.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        burst: int = 5,
        per_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._quota = WindowedQuota(burst, per_s, monotonic)

    def __call__(self, kind: str, text: str) -> bool:
        """Emit ``text`` unless ``kind`` is over its budget; True if emitted."""
        allowed, held = self._quota.take(kind)
        if held:
            self._emit(f"{held} more {kind} message(s) not logged")
        if allowed:
            self._emit(text)
        return allowed


class Kiosk:
    """A door kiosk wired from its parts; ``run`` scans until told to stop."""

    SEND_CHECK_S = 1.0
    PRUNE_EVERY_S = 60.0
    PRUNE_BATCH = 100
    FAULT_SHOWN_S = 30.0
    DECODE_SAMPLES = 64

    def __init__(
        self,
        config: KioskConfig,
        *,
        device_key: Ed25519PrivateKey,
        source: FrameSource,
        decoder: Decoder,
        feedback: Feedback,
        link: Link,
        outbox: Outbox,
        clock: KioskClock | None = None,
        disk: DiskMonitor | None = None,
        watchdog: Watchdog | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.device_key = device_key
        self.source = source
        self.decoder = decoder
        self.feedback = feedback
        self.link = link
        self.outbox = outbox
        self.clock = clock or KioskClock()
        self.verifier = DoorVerifier(
            config.issuer_public_keys(),
            window=config.window_s,
            skew=config.skew_s,
            repeat_minutes=config.repeat_minutes,
            card_gap_minutes=config.card_gap_minutes,
            now=self.clock.now,
            checked_in=outbox.seen,
        )
        self.ledger_key = config.ledger_public_key()
        self.counters = KioskCounters(refusals=self.verifier.refusals)
        self.disk = disk or DiskMonitor(
            config.outbox_path.parent,
            low_free_mb=config.disk_low_mb,
            low_free_percent=config.disk_low_percent,
            reserve_mb=config.disk_reserve_mb,
        )
        self.watchdog = watchdog or Watchdog(Notifier(), frame_stall_s=config.camera_stall_s)
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._bad_input_event = RateLimitedEvents(self._event)
        # Full tracebacks for loop faults, but not one every half second for hours.
        self._fault_log = RateLimitedEvents(lambda text: log.error("%s", text, exc_info=True))
        self._last_status: float | None = None
        self._last_send_check = 0.0
        self._last_prune: float | None = None
        self._last_fault: float | None = None
        self._was_connected = False
        self._pending = 0
        self._outbox_ok = True
        self._storage_full = False  # the last commit failed with SQLite reporting no room
        self._started = time.monotonic()
        self.last_frame_at: float | None = None
        self._frames_at_status = 0
        self._decode_ms: deque[float] = deque(maxlen=self.DECODE_SAMPLES)
        self.kiosk_config: KioskConfigMessage | None = None
        self._load_kiosk_config()

    def _event(self, text: str) -> None:
        self._on_event(f"{self.config.kiosk_id}: {text}")

    def _fault(self) -> None:
        self.counters.faults += 1
        self._last_fault = time.monotonic()

    def _bad_input(self, what: str, exc: ProtocolError) -> None:
        """Count a refused receipt or config message and log it, rate-limited."""
        key = f"{what}:{exc.reason}"
        self.counters.bad_input[key] = self.counters.bad_input.get(key, 0) + 1
        self._bad_input_event(what, f"refused a {what} ({exc.reason}: {str(exc)[:160]})")

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- scanning ---------------------------------------------------------------------------

    def process_frame(self, image: np.ndarray) -> list[Verdict]:
        """Decode one frame and answer every new code in it."""
        self.counters.frames += 1
        self.last_frame_at = time.monotonic()
        verdicts = []
        started = time.perf_counter()
        found = self.decoder.decode(image)
        self._decode_ms.append((time.perf_counter() - started) * 1000)
        for decoded in found:
            verdict = self.verifier.check(decoded.text)
            if verdict is None:
                continue
            self.counters.scanned += 1
            self._answer(verdict)
            verdicts.append(verdict)
        return verdicts

    def _answer(self, verdict: Verdict) -> None:
        if verdict.outcome is Outcome.REFUSED:
            self.counters.refused += 1
            self.feedback.refused()
            self._event(f"refused ({verdict.reason})")
            return
        assert verdict.presentation is not None
        code = verdict.presentation.fingerprint()
        if verdict.outcome is Outcome.ALREADY:
            self.counters.already += 1
            self.feedback.already_checked_in()
            self._event(f"already checked in (code {code})")
            return
        if self.disk.state().full:
            # Too little room to be sure the row lands on disk: refuse, count, never drop.
            self._refuse_disk_full()
            return
        try:
            seq = self._commit(verdict)
        except peewee.DatabaseError as exc:
            # Never green without a committed row: the visitor is asked to try again.
            if is_disk_full(exc):  # SQLite itself found no room (also when its rollback failed)
                self._storage_full = True
                self._refuse_disk_full()
                return
            self._fault()
            self._outbox_ok = False
            self.feedback.refused()
            self._event(f"FAULT: could not store the check-in ({exc}); visitor refused")
            return
        self._outbox_ok = True
        self._storage_full = False
        self._pending += 1
        self.verifier.remember_checked_in(verdict.presentation)
        self.counters.accepted += 1
        self.feedback.accepted()
        self._event(f"accepted seq={seq} (code {code})")
        self.send_due()

    def _refuse_disk_full(self) -> None:
        """The disk-full refusal: red light and fault, counted; the disk-low light stays on."""
        self._fault()
        self.counters.disk_full += 1
        self.feedback.refused()
        self._event("FAULT: disk full, check-in not stored; visitor refused")

    def _commit(self, verdict: Verdict) -> int:
        """Sign the check-in record and commit it to the outbox (fsync'd) before any light."""
        assert verdict.presentation is not None
        presentation = verdict.presentation.to_bytes()
        scanned_ms = int(verdict.checked_at * 1000)
        clock_state = self.clock.state()

        def build(seq: int) -> tuple[bytes, bytes]:
            checkin_id = os.urandom(16)
            wire = sign_checkin(
                self.device_key,
                checkin_id=checkin_id,
                kiosk_id=self.config.kiosk_id,
                venue_id=self.config.venue_id,
                seq=seq,
                door=self.config.door,
                scanned_ms=scanned_ms,
                clock=clock_state,
                presentation=presentation,
            )
            return checkin_id, wire

        seen = self.verifier.seen_code(verdict.presentation, verdict.checked_at)
        return self.outbox.append(build, scanned_ms, seen=seen)

    # -- delivery ---------------------------------------------------------------------------

    def send_due(self) -> int:
        """Publish rows never sent or unreceipted for too long, within the in-flight window."""
        if not self.link.connected:
            return 0
        now_ms = self._now_ms()
        resend_ms = int(self.config.resend_after_s * 1000)
        room = self.config.max_in_flight - self.outbox.in_flight(now_ms, resend_ms)
        if room <= 0:
            return 0
        sent = []
        for row in self.outbox.due(now_ms, resend_ms, room):
            if not self.link.publish_checkin(bytes(row.wire)):
                break
            sent.append(row.seq)
        self.outbox.mark_sent(sent, now_ms)
        return len(sent)

    def apply_receipts(self) -> int:
        """Verify and apply every answer waiting on the link; returns rows delivered."""
        delivered = 0
        while True:
            try:
                payload = self.link.receipts.get_nowait()
            except queue.Empty:
                break
            try:
                answer = parse_answer(payload)
                answer.verify(self.ledger_key)
                if answer.kiosk_id != self.config.kiosk_id:
                    raise WrongTypeError(f"answer is for kiosk {answer.kiosk_id!r}")
            except ProtocolError as exc:
                self.counters.bad_receipts += 1
                self._bad_input("receipt", exc)
                continue
            now_ms = self._now_ms()
            if isinstance(answer, Refusal):
                done = self.outbox.mark_rejected(answer, now_ms)
                self.counters.rejected += done
                reasons = ", ".join(sorted({e.reason for e in answer.entries}))
                self._event(f"aggregator refused {done} check-in(s) for good ({reasons})")
                continue
            self.counters.receipts += 1
            done = self.outbox.mark_delivered(answer, now_ms)
            self.counters.delivered += done
            delivered += done
            if done:
                self._event(f"receipt: {done} check-in(s) sealed in block {answer.block}")
        return delivered

    def heartbeat(self) -> dict[str, object]:
        """The figures of a status message (see protocol.status for each field)."""
        stats = self.outbox.stats()
        self._pending = stats.pending
        now_ms = self._now_ms()
        mono = time.monotonic()
        oldest = (
            None if stats.oldest_pending_ms is None else max(0, now_ms - stats.oldest_pending_ms)
        )
        last_receipt = self.outbox.last_receipt_ms()
        since = mono - (self._last_status if self._last_status is not None else self._started)
        frames = self.counters.frames - self._frames_at_status
        self._frames_at_status = self.counters.frames
        disk = self.disk.state()
        clock = self.clock.state()
        c = self.counters
        return {
            "firmware": FIRMWARE_VERSION,
            "queue": stats.pending,
            "oldest_unsent_ms": oldest,
            "in_flight": self.outbox.in_flight(now_ms, int(self.config.resend_after_s * 1000)),
            "last_receipt_age_ms": None if last_receipt is None else max(0, now_ms - last_receipt),
            "fps": round(frames / since, 2) if since > 0 else 0.0,
            "decode_ms": round(statistics.median(self._decode_ms), 3) if self._decode_ms else None,
            "clock_synced": clock.synced,
            "clock_boot": clock.boot_id.hex(),
            "clock_mono_ms": clock.monotonic_ms,
            "clock_wall_ms": now_ms,
            "disk_free_mb": disk.free_mb,
            "disk_low": disk.low,
            "config_serial": None if self.kiosk_config is None else self.kiosk_config.serial,
            "outbox_recoveries": stats.recoveries,
            "scanned": c.scanned,
            "accepted": c.accepted,
            "already": c.already,
            "refused": c.refused,
            "faults": c.faults,
            "delivered": c.delivered,
            "rejected": c.rejected,
            "bad_receipts": c.bad_receipts,
            "bad_configs": c.bad_configs,
            "disk_full": c.disk_full,
        }

    def publish_status(self) -> None:
        """Send the retained online status (the heartbeat) and tell systemd in brief."""
        figures = self.heartbeat()
        self._last_status = time.monotonic()
        self.link.publish_status(**figures)
        # For `kiosk selftest` beside this process (it cannot log in as the kiosk then).
        link_key = LINK_UP_MS if self.link.connected else LINK_DOWN_MS
        self.outbox.set_meta(link_key, str(self._now_ms()).encode())
        self.watchdog.notifier.status(
            f"queue {figures['queue']}, accepted {figures['accepted']}, "
            f"{'online' if self.link.connected else 'offline'}"
        )

    # -- config from the aggregator ---------------------------------------------------------

    def _load_kiosk_config(self) -> None:
        """Apply the config kept from the last run, if it still verifies."""
        wire = self.outbox.get_meta(KIOSK_CONFIG)
        if wire is None:
            return
        try:
            message = self._check_config(wire, held_serial=None)
        except ProtocolError as exc:
            self._event(f"kept kiosk config no longer verifies ({exc.reason}); ignored")
            return
        self._apply_config(message, store=False)

    def _check_config(self, wire: bytes, held_serial: int | None) -> KioskConfigMessage:
        message = parse_kiosk_config(wire)
        message.verify(self.ledger_key)
        message.check_for(self.config.kiosk_id, held_serial)
        return message

    def _apply_config(self, message: KioskConfigMessage, *, store: bool) -> None:
        if message.next_seq_floor is not None:
            # Seqs the aggregator already holds may have been lost here in a WAL cut:
            # never give them out again. Raised before the config is stored, and again
            # from the kept config at each start, so a crash in between loses nothing.
            before = self.outbox.next_seq()
            after = self.outbox.raise_next_seq(message.next_seq_floor)
            if after != before:
                self._event(f"sequence raised from {before} to {after} by the kiosk config")
        if store:
            self.outbox.set_meta(KIOSK_CONFIG, message.wire)
        self.verifier.set_revoked(message.revoked)
        self.kiosk_config = message
        self._event(
            f"kiosk config {message.serial} in force: {len(message.revoked)} revoked credential(s)"
        )

    def apply_configs(self) -> int:
        """Verify and apply config messages waiting on the link; returns how many applied.

        The broker sends the retained config again on every reconnect: the very bytes
        already in force are ignored quietly. Anything else not newer is a rollback.
        """
        applied = 0
        while (wire := self.link.poll_config()) is not None:
            held = self.kiosk_config
            if held is not None and wire == held.wire:
                continue
            try:
                message = self._check_config(wire, None if held is None else held.serial)
            except ProtocolError as exc:
                self.counters.bad_configs += 1
                self._bad_input("config", exc)
                continue
            self._apply_config(message, store=True)
            self.counters.configs += 1
            applied += 1
        return applied

    # -- housekeeping -----------------------------------------------------------------------

    def prune(self) -> int:
        """Delete one small batch of rows past their retention; returns how many.

        Checked-in code fingerprints past their validity (a card's: past the card gap) go
        too (not counted).
        """
        now_ms = self._now_ms()
        self.outbox.seen.prune(now_ms, int(self.verifier.longest_memory_s * 1000))
        done = self.outbox.prune(
            now_ms,
            delivered_after_ms=int(self.config.retention_hours * 3_600_000),
            rejected_after_ms=int(self.config.rejected_retention_days * 86_400_000),
            batch=self.PRUNE_BATCH,
        )
        self.counters.pruned += done
        return done

    def conditions(self) -> dict[str, bool]:
        """The standing light conditions right now."""
        now = time.monotonic()
        stalled = now - (self.last_frame_at or self._started) > self.config.camera_stall_s
        recent_fault = self._last_fault is not None and now - self._last_fault < self.FAULT_SHOWN_S
        return {
            "offline_backlog": not self.link.connected and self._pending > 0,
            "clock_unsynced": not self.clock.synced(),
            "fault": recent_fault or stalled or not self._outbox_ok,
            "disk_low": self.disk.state().low or self._storage_full,
        }

    # -- the loop ---------------------------------------------------------------------------

    def step(self, frame_timeout: float = 0.2) -> None:
        """One turn of the loop: a frame if one comes, answers, resends, housekeeping."""
        frame = self.source.read(timeout=frame_timeout)
        if frame is not None:
            self.process_frame(frame.image)
        self.apply_configs()
        delivered = self.apply_receipts()
        now = time.monotonic()
        connected = self.link.connected
        # Accepts send at once (see _answer); otherwise the outbox is asked once a
        # second (resends, a link back up) or when receipts free room: not every frame.
        if delivered or now - self._last_send_check >= self.SEND_CHECK_S:
            self._last_send_check = now
            self.send_due()
            self._pending = self.outbox.pending()
            self._outbox_ok = True
        if self._last_prune is None or now - self._last_prune >= self.PRUNE_EVERY_S:
            self._last_prune = now
            if self.prune() == self.PRUNE_BATCH:
                # More to prune: the next small batch in a second, not in a minute.
                self._last_prune = now - self.PRUNE_EVERY_S + self.SEND_CHECK_S
        heartbeat_due = (
            self._last_status is None or now - self._last_status >= self.config.heartbeat_s
        )
        if heartbeat_due or (connected and not self._was_connected):
            self.publish_status()
        self._was_connected = connected
        self.feedback.set_conditions(**self.conditions())
        self.watchdog.tick(self.last_frame_at, self._outbox_ok)

    def run(self, stop: threading.Event, *, drain_seconds: float = 0.0) -> KioskCounters:
        """Scan until ``stop`` is set; then wait up to ``drain_seconds`` for receipts."""
        self.feedback.starting()
        self.link.start()
        self.feedback.ready()
        self._event("scanning")
        self.watchdog.notifier.ready("scanning")
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception as exc:  # noqa: BLE001 - the loop's last line of defence
                    # Whatever broke (camera, disk, a bug), the door keeps working and
                    # stored rows stay stored; the fault is counted and logged in full.
                    self._fault()
                    if isinstance(exc, peewee.DatabaseError):
                        self._outbox_ok = False
                    self._fault_log("fault", f"kiosk {self.config.kiosk_id}: fault in the loop")
                    stop.wait(0.5)
            self.watchdog.notifier.stopping()
            self.drain(drain_seconds)
        finally:
            self.link.stop()
            self.watchdog.notifier.close()
        return self.counters

    def drain(self, seconds: float) -> int:
        """Stop scanning; deliver and await receipts for up to ``seconds``; rows left."""
        deadline = time.monotonic() + seconds
        while True:
            self.apply_receipts()
            pending = self.outbox.stats().pending
            if pending == 0 or time.monotonic() >= deadline:
                if pending:
                    self._event(f"stopping with {pending} check-in(s) kept for next start")
                return pending
            self.send_due()
            time.sleep(0.05)
