"""Ingest's checks for printed cards (``CodeType.CARD``): validity and travel time.

A card is the same code for its whole life, so the presentation's own freshness and
one-time hash cannot stop a copy. Instead:

- the card is judged at the placed scan time by :meth:`Presentation.verify_card`
  (credential validity, at most 28 days, both signatures), not by the 30-s window;
  a record placed only at its arrival is not judged by its code's date either (the
  code is dated at the desk), so the outbox-age bound is then met by its arrival;
- a card seen at two *different* venues closer in time than ``min_gap_s`` (travel
  time) is refused as ``card_travel``: one of the two is a copy. The registry holds
  no venue coordinates (aggregator.placement places scans in time, not space), so
  the gap is one fixed figure (``aggregator.card_travel_minutes``, 10 by default).
  The refusal goes the ordinary way: counted, logged, and answered to the kiosk
  with a refusal receipt; nothing is lost. The first of the two stays stored: ingest
  cannot tell which one is the copy, only that they cannot both be the card.

Sightings (card, venue, placed time) are kept for :attr:`CardChecks.horizon_ms`
(the longest a record may wait in an outbox plus the gap), then deleted. The card
is named by a hash of its credential id, never the code. A record's
``presentation_hash`` for a card also names that one use (kiosk and scan time), since
the card's bytes repeat by design.

A stored check-in says it was a card: its sealed record carries the presentation,
whose code type :func:`code_type_of` reads (tracing lists it).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable

import peewee

from protocol.checkin import CheckinRecord, parse_checkin
from protocol.errors import ProtocolError
from protocol.presentation import VERSION, CodeType, Presentation

from .models_base import BaseModel, BlobField, write_transaction

#: Default minimum minutes between a card's check-ins at two different venues.
DEFAULT_TRAVEL_MINUTES = 10.0
_CARD_LABEL = b"safecode/v1/card-sighting\x00"
_USE_LABEL = b"safecode/v1/card-use\x00"
PRUNE_EVERY_S = 600.0
#: How a card's presentation begins: a 5-item array, version 1, code type 3. Ingest
#: builds rows only for records whose presentation parsed strictly (shortest-form
#: CBOR), so these three bytes tell a card without parsing it again.
_CARD_HEAD = bytes([0x85, VERSION, CodeType.CARD])


class CardTravelError(ProtocolError):
    """The same card at two venues closer in time than travel allows."""

    reason = "card_travel"


class CardSightingEntry(BaseModel):
    """One accepted card check-in: which card (hashed), where, and when it is placed."""

    card = BlobField()
    venue_id = peewee.CharField(max_length=63)
    placed_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "card_sighting"
        indexes = ((("card", "placed_ms", "venue_id"), True),)


def is_card(presentation: Presentation) -> bool:
    """True for a printed card's code."""
    return presentation.code_type == CodeType.CARD


def card_key(presentation: Presentation) -> bytes:
    """The sighting key of a card: a hash of its credential id (never the code)."""
    return hashlib.sha256(_CARD_LABEL + presentation.credential.credential_id).digest()


def presentation_hash(record: CheckinRecord) -> bytes:
    """The check-in row's ``presentation_hash``: of the code, or of this use of a card.

    A phone code is used once, so its hash stops a replay anywhere. A card's bytes
    repeat by design: its hash adds the kiosk and scan time, so each use is stored
    once (the same scan signed again under another sequence number is a replay).
    """
    digest = hashlib.sha256(record.presentation).digest()
    if not record.presentation.startswith(_CARD_HEAD):
        return digest
    use = record.kiosk_id.encode("ascii") + b"\x00" + record.scanned_ms.to_bytes(8, "big")
    return hashlib.sha256(_USE_LABEL + digest + use).digest()


def code_type_of(wire: bytes) -> CodeType | int:
    """The code type of a stored check-in's signed record (``CodeType.CARD`` for a card)."""
    code_type = parse_checkin(wire).parsed_presentation().code_type
    try:
        return CodeType(code_type)
    except ValueError:
        return code_type


class CardChecks:
    """The travel check and the sightings table, safe to share between ingest threads."""

    def __init__(
        self,
        *,
        min_gap_s: float = DEFAULT_TRAVEL_MINUTES * 60,
        max_wait_s: float = 7 * 86_400,
        lock: contextlib.AbstractContextManager[object] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.min_gap_ms = int(min_gap_s * 1000)
        #: How long a sighting is kept: a record may arrive this late and still be judged.
        self.horizon_ms = int(max_wait_s * 1000) + self.min_gap_ms
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._now = now
        self._pruned_at: float | None = None
        self._prune_lock = threading.Lock()

    def check_travel(self, presentation: Presentation, venue_id: str, placed_ms: int) -> None:
        """Raise CardTravelError if the card was at another venue within the gap; else note it.

        One write transaction (SQLite: IMMEDIATE; PostgreSQL: an advisory lock on the
        card), so two records of one card at two venues cannot both pass.
        """
        key = card_key(presentation)
        db = CardSightingEntry._meta.database
        with self._lock, write_transaction(db):
            if isinstance(db.obj, peewee.PostgresqlDatabase):
                lock_id = int.from_bytes(key[:8], "big", signed=True)
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
            clash = (
                CardSightingEntry.select(CardSightingEntry.venue_id, CardSightingEntry.placed_ms)
                .where(
                    (CardSightingEntry.card == key)
                    & (CardSightingEntry.venue_id != venue_id)
                    & (CardSightingEntry.placed_ms > placed_ms - self.min_gap_ms)
                    & (CardSightingEntry.placed_ms < placed_ms + self.min_gap_ms)
                )
                .first()
            )
            if clash is not None:
                minutes = abs(placed_ms - clash.placed_ms) / 60_000
                raise CardTravelError(
                    f"card seen at another venue {minutes:.1f} min apart; at least "
                    f"{self.min_gap_ms / 60_000:g} min are needed to travel"
                )
            CardSightingEntry.insert(
                card=key, venue_id=venue_id, placed_ms=placed_ms
            ).on_conflict_ignore().execute()
        self._prune_now_and_then()

    def _prune_now_and_then(self) -> None:
        now = self._now()
        with self._prune_lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
                return
            self._pruned_at = now
        self.prune(int(now * 1000))

    def prune(self, now_ms: int) -> int:
        """Delete sightings older than the horizon; how many went."""
        with self._lock:
            return (
                CardSightingEntry.delete()
                .where(CardSightingEntry.placed_ms < now_ms - self.horizon_ms)
                .execute()
            )
