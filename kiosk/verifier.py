"""Offline verification at the door: is this code good, and is it new?"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.errors import ProtocolError, ReplayError, RevokedError
from protocol.presentation import (
    DEFAULT_SKEW,
    DEFAULT_WINDOW,
    CodeType,
    HealthOfficialCodeError,
    Presentation,
)

from .seen_codes import SeenCode, code_fingerprint


class Outcome(Enum):
    """What the door answers."""

    ACCEPTED = "accepted"
    ALREADY = "already_checked_in"
    REFUSED = "refused"


@dataclass(frozen=True)
class Verdict:
    """The answer for one scanned text; ``reason`` names why a code was refused."""

    outcome: Outcome
    presentation: Presentation | None = None
    reason: str = ""
    detail: str = ""
    checked_at: float = 0.0


#: Default minutes before the same printed card is accepted again at one kiosk.
DEFAULT_CARD_GAP_MINUTES = 5.0


class CardTooSoonError(ReplayError):
    """The same printed card again at this kiosk within the card gap."""

    reason = "card_repeat"


class CheckedInCodes(Protocol):
    """Durable memory of checked-in codes by fingerprint (the outbox's ``seen_code`` table)."""

    def contains(self, fingerprint: bytes, now_ms: int) -> bool: ...


class _ExpiringSet:
    """Keys remembered for a fixed time, bounded in size (oldest forgotten first)."""

    def __init__(self, ttl: float, max_items: int) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._items: OrderedDict[bytes, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._items:
            key, seen = next(iter(self._items.items()))
            if now - seen < self.ttl and len(self._items) <= self.max_items:
                break
            self._items.popitem(last=False)

    def seen_recently(self, key: bytes, now: float) -> bool:
        self._expire(now)
        return key in self._items

    def age(self, key: bytes, now: float) -> float | None:
        """Seconds since ``key`` was added, or None if it is not remembered."""
        self._expire(now)
        seen = self._items.get(key)
        return None if seen is None else now - seen

    def add(self, key: bytes, now: float) -> None:
        self._items[key] = now
        self._items.move_to_end(key)
        self._expire(now)


class DoorVerifier:
    """Checks presentations offline and answers accepted, already checked in, or refused.

    The same text read again within ``debounce_s`` is the same showing (the
    phone stays in view for many frames) and gets no answer at all. A visitor
    accepted at this kiosk within ``repeat_minutes`` is answered "already
    checked in" without a second record; any other presentation seen before is
    refused as a replay. Nothing here stores who a visitor is beyond the
    credential ids of the last few minutes, in memory only. A code checked in here is
    also found in ``checked_in`` (fingerprints kept in the outbox, committed with the
    check-in) until its validity ends, so after a restart the same code is still
    answered "already checked in". A credential whose id is
    on the revocation list (:meth:`set_revoked`, from the signed kiosk config) is
    refused as ``revoked`` once its signatures check out.

    A printed card (``CodeType.CARD``) is the same text every time, so it has no
    freshness to check: it is accepted at most once per ``card_gap_minutes`` at this
    kiosk. Shown again while its acceptance could still be the same showing (within
    :attr:`code_ttl_s`) it is answered "already checked in", like a phone; later within
    the gap it is refused as ``card_repeat`` (a copy, or the card passed back). The
    gap is kept in memory and in ``checked_in`` (its fingerprint expires with the gap),
    so a restart does not reopen it. A wallet's "show to a health official" code is
    refused as ``diagnostic_code`` with a message meant for the visitor.
    """

    def __init__(
        self,
        issuer_keys: Sequence[Ed25519PublicKey],
        *,
        window: int = DEFAULT_WINDOW,
        skew: int = DEFAULT_SKEW,
        repeat_minutes: float = 10.0,
        debounce_s: float = 3.0,
        now: Callable[[], float] = time.time,
        checked_in: CheckedInCodes | None = None,
        card_gap_minutes: float = DEFAULT_CARD_GAP_MINUTES,
    ) -> None:
        self.issuer_keys = list(issuer_keys)
        self.window = window
        self.skew = skew
        self._now = now
        self._checked_in = checked_in
        #: How long a code accepted now can still pass the freshness check.
        self.code_ttl_s = window + 2 * skew + 1
        self._codes = _ExpiringSet(ttl=self.code_ttl_s, max_items=100_000)
        self._visitors = _ExpiringSet(ttl=repeat_minutes * 60, max_items=100_000)
        self._showing = _ExpiringSet(ttl=debounce_s, max_items=1_000)
        #: How long a card accepted here is not accepted again (seconds).
        self.card_gap_s = card_gap_minutes * 60
        self._cards = _ExpiringSet(ttl=self.card_gap_s, max_items=100_000)
        self.refusals: dict[str, int] = {}
        self.revoked: frozenset[bytes] = frozenset()

    def set_revoked(self, credential_ids: frozenset[bytes]) -> None:
        """Replace the revocation list (credential ids)."""
        self.revoked = frozenset(credential_ids)

    def check(self, text: str) -> Verdict | None:
        """Verify one scanned text; None while the same showing stays in view.

        Never raises on bad input: a refusal names its reason and is counted.
        """
        now = self._now()
        showing = hashlib.sha256(text.encode("utf-8", "replace")).digest()
        if self._showing.seen_recently(showing, now):
            return None
        self._showing.add(showing, now)
        try:
            presentation = Presentation.from_text(text)
            if presentation.code_type == CodeType.CARD:
                return self._check_card(presentation, now)
            if presentation.code_type == CodeType.DIAGNOSTIC:
                raise HealthOfficialCodeError(
                    "this code is for a health official: please show your check-in code"
                )
            code = presentation.to_bytes()
            if self._checked_in is not None and self._checked_in.contains(
                code_fingerprint(code), int(now * 1000)
            ):
                return Verdict(Outcome.ALREADY, presentation, checked_at=now)
            if self._codes.seen_recently(code, now):
                if self._visitors.seen_recently(presentation.credential.credential_id, now):
                    return Verdict(Outcome.ALREADY, presentation, checked_at=now)
                raise ReplayError("this code was already scanned")
            presentation.verify(
                self.issuer_keys,
                now=now,
                expected_type=CodeType.CHECKIN,
                window=self.window,
                skew=self.skew,
            )
            if presentation.credential.credential_id in self.revoked:
                raise RevokedError("this credential is revoked")
        except ProtocolError as exc:
            return self._refuse(exc, now)
        self._codes.add(code, now)
        visitor = presentation.credential.credential_id
        if self._visitors.seen_recently(visitor, now):
            return Verdict(Outcome.ALREADY, presentation, checked_at=now)
        # The record is stamped with this instant: the aggregator re-checks freshness
        # at the scan time it is given, so it must be the time the kiosk checked.
        return Verdict(Outcome.ACCEPTED, presentation, checked_at=now)

    def _refuse(self, exc: ProtocolError, now: float) -> Verdict:
        """Count a refusal by its reason and answer it."""
        self.refusals[exc.reason] = self.refusals.get(exc.reason, 0) + 1
        return Verdict(Outcome.REFUSED, reason=exc.reason, detail=str(exc), checked_at=now)

    def _check_card(self, card: Presentation, now: float) -> Verdict:
        """A printed card: once per card gap here, valid, not revoked (see the class)."""
        try:
            key = card.to_bytes()
            age = self._cards.age(key, now)
            if age is not None and age < self.code_ttl_s:
                return Verdict(Outcome.ALREADY, card, checked_at=now)
            if age is not None or (
                self._checked_in is not None
                and self._checked_in.contains(code_fingerprint(key), int(now * 1000))
            ):
                raise CardTooSoonError(
                    f"this card was used here in the last {self.card_gap_s / 60:g} minutes"
                )
            card.verify_card(self.issuer_keys, now=now, skew=self.skew)
            if card.credential.credential_id in self.revoked:
                raise RevokedError("this card is revoked (reported lost)")
        except ProtocolError as exc:
            return self._refuse(exc, now)
        return Verdict(Outcome.ACCEPTED, card, checked_at=now)

    @property
    def longest_memory_s(self) -> float:
        """The longest a checked-in fingerprint is kept (codes' validity or the card gap)."""
        return max(self.code_ttl_s, self.card_gap_s)

    def seen_code(self, presentation: Presentation, checked_at: float) -> SeenCode:
        """The fingerprint to commit with this code's check-in, expiring with its validity.

        A card's expires with the card gap instead: until then it is not accepted again.
        """
        keep = self.card_gap_s if presentation.code_type == CodeType.CARD else self.code_ttl_s
        expires_ms = int((checked_at + keep) * 1000)
        return SeenCode(code_fingerprint(presentation.to_bytes()), expires_ms)

    def remember_checked_in(self, presentation: Presentation) -> None:
        """Record that this visitor's check-in is committed (call after the outbox commit)."""
        if presentation.code_type == CodeType.CARD:
            self._cards.add(presentation.to_bytes(), self._now())
            return
        self._visitors.add(presentation.credential.credential_id, self._now())
