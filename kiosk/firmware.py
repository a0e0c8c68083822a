"""The kiosk loop: frame → decode → verify → outbox commit → light → publish.

One thread does all the work, so the outbox has one writer. Receipts arrive on
the link's queue and are applied between frames; unreceipted rows are sent
again after ``resend_after_s``; at most ``max_in_flight`` rows wait for a
receipt at any time.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.checkin import sign_checkin
from protocol.errors import ProtocolError, WrongTypeError
from protocol.receipt import Refusal, parse_answer

from .clock import KioskClock
from .config import KioskConfig
from .decoders import Decoder
from .frames import FrameSource
from .lights import Feedback
from .link import Link
from .outbox import Outbox
from .verifier import DoorVerifier, Outcome, Verdict

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
    refusals: dict[str, int] = field(default_factory=dict)


class Kiosk:
    """A door kiosk wired from its parts; ``run`` scans until told to stop."""

    SEND_CHECK_S = 1.0

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
            now=self.clock.now,
        )
        self.ledger_key = config.ledger_public_key()
        self.counters = KioskCounters(refusals=self.verifier.refusals)
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._last_status = 0.0
        self._last_send_check = 0.0

    def _event(self, text: str) -> None:
        self._on_event(f"{self.config.kiosk_id}: {text}")

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- scanning ---------------------------------------------------------------------------

    def process_frame(self, image: np.ndarray) -> list[Verdict]:
        """Decode one frame and answer every new code in it."""
        self.counters.frames += 1
        verdicts = []
        for decoded in self.decoder.decode(image):
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
        try:
            seq = self._commit(verdict)
        except peewee.DatabaseError as exc:
            # Never green without a committed row: the visitor is asked to try again.
            self.counters.faults += 1
            self.feedback.refused()
            self._event(f"FAULT: could not store the check-in ({exc}); visitor refused")
            return
        self.verifier.remember_checked_in(verdict.presentation)
        self.counters.accepted += 1
        self.feedback.accepted()
        self._event(f"accepted seq={seq} (code {code})")
        self.send_due()

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

        return self.outbox.append(build, scanned_ms)

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
                self._event(f"refused a receipt ({exc.reason}: {exc})")
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

    def publish_status(self) -> None:
        """Send the retained online status with queue figures."""
        stats = self.outbox.stats()
        now_ms = self._now_ms()
        oldest = None if stats.oldest_pending_ms is None else now_ms - stats.oldest_pending_ms
        self.link.publish_status(
            firmware=FIRMWARE_VERSION,
            queue=stats.pending,
            oldest_unsent_ms=oldest,
            scanned=self.counters.scanned,
            accepted=self.counters.accepted,
            clock_synced=self.clock.state().synced,
        )

    # -- the loop ---------------------------------------------------------------------------

    def step(self, frame_timeout: float = 0.2) -> None:
        """One turn of the loop: a frame if one comes, receipts, resends, status."""
        frame = self.source.read(timeout=frame_timeout)
        if frame is not None:
            self.process_frame(frame.image)
        delivered = self.apply_receipts()
        # Accepts send at once (see _answer); otherwise the outbox is asked once a
        # second (resends, a link back up) or when receipts free room: not every frame.
        if delivered or time.monotonic() - self._last_send_check >= self.SEND_CHECK_S:
            self._last_send_check = time.monotonic()
            self.send_due()
        if time.monotonic() - self._last_status > 10:
            self._last_status = time.monotonic()
            self.publish_status()

    def run(self, stop: threading.Event, *, drain_seconds: float = 0.0) -> KioskCounters:
        """Scan until ``stop`` is set; then wait up to ``drain_seconds`` for receipts."""
        self.feedback.starting()
        self.link.start()
        self.feedback.ready()
        self._event("scanning")
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - the loop's last line of defence
                    # Whatever broke (camera, disk, a bug), the door keeps working and
                    # stored rows stay stored; the fault is counted and logged in full.
                    self.counters.faults += 1
                    log.exception("kiosk %s: fault in the scan loop", self.config.kiosk_id)
                    stop.wait(0.5)
            self.drain(drain_seconds)
        finally:
            self.link.stop()
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
