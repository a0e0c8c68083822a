"""A small ledger site for tests: enrolled kiosks whose check-ins go through real ingest."""

from __future__ import annotations

import hashlib

from aggregator.db import CheckinEntry, KioskEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.sequencer import Sequencer
from benchmarks.seal import store_standin_checkins
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("site-issuer")
LEDGER = seeded("site-ledger")
ORIGIN = "ledger.example/site"
KIOSKS = {"kiosk-a": seeded("site-device-a"), "kiosk-b": seeded("site-device-b")}


class LedgerSite:
    """Two kiosks at one venue; ``scan(at)`` signs, ingests and stores one check-in."""

    def __init__(self, label: str = "site") -> None:
        for kiosk, device in KIOSKS.items():
            enrol_kiosk(kiosk, "venue-1", keys.public_bytes(device))
        self.label = label
        self.seq = dict.fromkeys(KIOSKS, 0)
        self.made = 0

    def wire(self, at: float, kiosk: str = "kiosk-a") -> bytes:
        """A new signed check-in scanned at ``at`` (seconds)."""
        self.seq[kiosk] += 1
        self.made += 1
        return sign_checkin(
            KIOSKS[kiosk],
            checkin_id=hashlib.sha256(b"%s-%d" % (self.label.encode(), self.made)).digest()[:16],
            kiosk_id=kiosk,
            venue_id="venue-1",
            seq=self.seq[kiosk],
            door="entrance",
            scanned_ms=int(at * 1000),
            clock=ClockState(True, bytes(16), self.made),
            presentation=enrol_visitor(ISSUER, int(at) - 3600).show(int(at)).to_bytes(),
        )

    def scan(self, at: float, kiosk: str = "kiosk-a") -> CheckinEntry:
        """Ingest one new check-in received at ``at``; returns its stored row."""
        ingestor = Ingestor([ISSUER.public_key()], now=lambda: at)
        outcome = ingestor.handle(topics.topic(kiosk, topics.CHECKIN), self.wire(at, kiosk))
        assert outcome.result is Result.STORED, outcome.reason
        assert outcome.entry is not None
        return outcome.entry


def sequencer(batch_size: int = 1000, now: float | None = None) -> Sequencer:
    clock = (lambda: now) if now is not None else None
    if clock is None:
        return Sequencer(LEDGER, ORIGIN, batch_size=batch_size)
    return Sequencer(LEDGER, ORIGIN, batch_size=batch_size, now=clock)


def prefill(count: int, *, start: int = 0, received_ms: int = 0) -> None:
    """Store ``count`` check-ins of kiosk-a quickly (as ingest would after verifying them).

    Their records are stand-ins: commitment and leaf hash agree, so the ledger verifies.
    """
    if not KioskEntry.get_or_none(KioskEntry.kiosk_id == "kiosk-a"):
        enrol_kiosk("kiosk-a", "venue-1", keys.public_bytes(KIOSKS["kiosk-a"]))
    store_standin_checkins("kiosk-a", count, label=b"prefill", start=start, received_ms=received_ms)
