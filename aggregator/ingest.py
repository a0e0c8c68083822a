"""Ingest: verify one check-in message and store it, or refuse it with a counted reason."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import keys, topics
from protocol.block import leaf_data
from protocol.checkin import CheckinRecord, parse_checkin
from protocol.errors import NotYetValidError, ProtocolError
from protocol.merkle import leaf_hash

from .db import CheckinEntry, KioskEntry

log = logging.getLogger(__name__)


class Result(Enum):
    """What became of one message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class Outcome:
    """The result, the reason for a refusal, and the stored or existing row."""

    result: Result
    reason: str = ""
    entry: CheckinEntry | None = None
    #: Set when a record its kiosk really signed is refused for good: the kiosk is told.
    refused_record: CheckinRecord | None = None


class Refused(Exception):
    """Internal: a message refused for ``reason``; ``record`` if its kiosk signed it."""

    def __init__(self, reason: str, detail: str, record: CheckinRecord | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.record = record


class Ingestor:
    """Checks kiosk, device signature and visitor presentation, then stores the check-in."""

    def __init__(
        self,
        issuer_keys: Sequence[Ed25519PublicKey],
        *,
        window: int = 30,
        skew: int = 5,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer_keys = list(issuer_keys)
        self.window = window
        self.skew = skew
        self._now = now
        self.counts: Counter[str] = Counter()

    def handle(self, topic: str, payload: bytes) -> Outcome:
        """Take one message from ``topic``. Never raises on bad input."""
        try:
            record = self._verify(topic, payload)
        except Refused as exc:
            self.counts[f"refused:{exc.reason}"] += 1
            log.info("refused check-in on %.80s: %s (%s)", topic, exc.reason, exc)
            return Outcome(Result.REFUSED, exc.reason, refused_record=exc.record)
        return self._store(record)

    def _verify(self, topic: str, payload: bytes) -> CheckinRecord:
        try:
            kiosk_id, leaf = topics.parse_topic(topic)
            if leaf != topics.CHECKIN:
                raise Refused("wrong_topic", f"check-ins are not taken on {leaf}")
            record = parse_checkin(payload)
        except ProtocolError as exc:
            raise Refused(exc.reason, str(exc)) from exc
        if record.kiosk_id != kiosk_id:
            raise Refused("topic_mismatch", f"record of {record.kiosk_id} on {kiosk_id}'s topic")
        kiosk = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
        if kiosk is None:
            raise Refused("unknown_kiosk", f"kiosk {kiosk_id} is not enrolled")
        if kiosk.retired:
            raise Refused("retired_kiosk", f"kiosk {kiosk_id} is retired")
        try:
            record.verify(keys.load_public(bytes(kiosk.device_key)))
        except ProtocolError as exc:  # not this kiosk's record: nobody to tell
            raise Refused(exc.reason, str(exc)) from exc
        if record.scanned_ms / 1000 > self._now() + self.skew:
            # Not final: the kiosk's clock runs ahead; the same record passes later.
            raise Refused(NotYetValidError.reason, "scan time is in the future")
        if record.venue_id != kiosk.venue_id:
            raise Refused(
                "venue_mismatch", f"kiosk {kiosk_id} is enrolled at another venue", record
            )
        try:
            record.parsed_presentation().verify(
                self.issuer_keys,
                now=record.scanned_ms / 1000,
                window=self.window,
                skew=self.skew,
            )
        except ProtocolError as exc:
            raise Refused(exc.reason, str(exc), record) from exc
        return record

    def _store(self, record: CheckinRecord) -> Outcome:
        leaf = leaf_hash(leaf_data(record.checkin_id, record.digest))
        try:
            with CheckinEntry._meta.database.atomic():
                entry = CheckinEntry.create(
                    checkin_id=record.checkin_id,
                    kiosk=record.kiosk_id,
                    seq=record.seq,
                    presentation_hash=hashlib.sha256(record.presentation).digest(),
                    leaf_hash=leaf,
                    scanned_ms=record.scanned_ms,
                    # commit, day, the record encrypted under its day key, received_ms
                    **CheckinEntry.visit_columns(
                        record.checkin_id, record.wire, int(self._now() * 1000)
                    ),
                )
                self._note_sequence(record)
        except peewee.IntegrityError:
            return self._duplicate(record)
        self.counts["stored"] += 1
        return Outcome(Result.STORED, entry=entry)

    def _note_sequence(self, record: CheckinRecord) -> None:
        kiosk = KioskEntry.get_by_id(record.kiosk_id)
        if record.seq > kiosk.highest_seq + 1:
            missing = record.seq - kiosk.highest_seq - 1
            log.warning(
                "kiosk %s: sequence gap of %d before seq %d (may still arrive)",
                record.kiosk_id,
                missing,
                record.seq,
            )
            self.counts["gaps"] += missing
            KioskEntry.update(gaps=KioskEntry.gaps + missing).where(
                KioskEntry.kiosk_id == record.kiosk_id
            ).execute()
        if record.seq > kiosk.highest_seq:
            KioskEntry.update(highest_seq=record.seq).where(
                KioskEntry.kiosk_id == record.kiosk_id
            ).execute()

    def _duplicate(self, record: CheckinRecord) -> Outcome:
        existing = CheckinEntry.get_or_none(CheckinEntry.checkin_id == record.checkin_id)
        if existing is not None and bytes(existing.commit) == record.digest:
            self.counts["duplicate"] += 1
            return Outcome(Result.DUPLICATE, "duplicate", existing)
        # Same (kiosk, seq) or same presentation under another record: a replay.
        self.counts["refused:replayed"] += 1
        log.warning(
            "kiosk %s seq %d: replayed or conflicting check-in", record.kiosk_id, record.seq
        )
        return Outcome(Result.REFUSED, "replayed", refused_record=record)
