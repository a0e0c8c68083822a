"""A small town for tracing tests: venues with entrance and exit kiosks, visitors, cards.

Every visit goes through real ingest (signed record, verified presentation), so the
rows carry the tag and venue ingest stores.
"""

from __future__ import annotations

import hashlib

from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.tables import CheckinEntry
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.credential import issue_credential
from protocol.presentation import Presentation, make_card
from simulator.visitors import Wallet, enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("trace-issuer")
#: Midnight UTC of day 20416 (2025-11-24), and ten in the morning that day.
DAY0 = 20_416 * 86_400
T0 = DAY0 + 10 * 3600
MINUTE = 60
#: kiosk id -> (venue, door)
KIOSKS = {
    "cafe-in": ("cafe-1", "entrance"),
    "cafe-out": ("cafe-1", "exit"),
    "gym-in": ("gym-1", "both"),
    "bar-in": ("bar-1", "entrance"),
}


class Town:
    """Enrolled kiosks; ``visit`` ingests one scan, received the moment it is made."""

    def __init__(self) -> None:
        self.devices = {kiosk: seeded(f"trace-{kiosk}") for kiosk in KIOSKS}
        for kiosk, (venue, _) in KIOSKS.items():
            enrol_kiosk(kiosk, venue, keys.public_bytes(self.devices[kiosk]))
        self.seq = dict.fromkeys(KIOSKS, 0)

    def visitor(self) -> Wallet:
        return enrol_visitor(ISSUER, DAY0 - 86_400)

    def card(self) -> Presentation:
        key = keys.generate()
        credential = issue_credential(
            ISSUER, keys.public_bytes(key), not_before=DAY0 - 86_400, not_after=DAY0 + 20 * 86_400
        )
        return make_card(credential, key, timestamp=DAY0 - 86_400)

    def visit(
        self, who: Wallet | Presentation, kiosk: str, at: float, stored_at: float | None = None
    ) -> CheckinEntry:
        """``who`` scans at ``kiosk`` at ``at`` (s), stored then or at ``stored_at``; the row."""
        self.seq[kiosk] += 1
        code = who if isinstance(who, Presentation) else who.show(at)
        venue, door = KIOSKS[kiosk]
        wire = sign_checkin(
            self.devices[kiosk],
            checkin_id=hashlib.sha256(b"%s-%d" % (kiosk.encode(), self.seq[kiosk])).digest()[:16],
            kiosk_id=kiosk,
            venue_id=venue,
            seq=self.seq[kiosk],
            door=door,
            scanned_ms=int(at * 1000),
            clock=ClockState(True, bytes(16), self.seq[kiosk]),
            presentation=code.to_bytes(),
        )
        received = at if stored_at is None else stored_at
        ingestor = Ingestor([ISSUER.public_key()], now=lambda: received)
        outcome = ingestor.handle(topics.topic(kiosk, topics.CHECKIN), wire)
        assert outcome.result is Result.STORED, outcome.reason
        assert outcome.entry is not None
        return outcome.entry


def cid(who: Wallet | Presentation) -> bytes:
    """The credential id of a wallet or card."""
    return who.credential.credential_id
