"""Ingest: verify one check-in message and store it, or refuse it with a counted reason."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import keys, topics
from protocol.block import leaf_data
from protocol.checkin import CheckinRecord, parse_checkin
from protocol.credential import Credential
from protocol.errors import NotYetValidError, ProtocolError, RevokedError
from protocol.merkle import leaf_hash
from protocol.presentation import CodeType, Presentation

from . import card_checks, placement
from .db import CheckinEntry, KioskEntry
from .logs import RateLimitedLog
from .outbox_age import DAY_S, DEFAULT_MAX_OUTBOX_AGE_DAYS, OutboxAge
from .revocations import RevocationCache
from .vault import Vault

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


class Tally:
    """Thread-safe counts by key (``stored``, ``refused:<reason>``, ``error:<kind>`` ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)


#: Tally keys that are not ``name:label`` get these counter names (aggregator.counters).
_COUNTER_NAMES = {"stored": "ingested", "duplicate": "duplicate"}


def counter_key(key: str) -> tuple[str, str]:
    """The shared counter (name, label) of a tally key: ``refused:expired`` -> both parts."""
    name, _, label = key.partition(":")
    return _COUNTER_NAMES.get(name, name), label


class IssuerCache:
    """Credentials whose issuer signature verified, keyed by their bytes (a bounded LRU)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def check(self, credential: Credential, issuer_keys: Sequence[Ed25519PublicKey]) -> bool:
        """Raise unless a trusted issuer signed ``credential``; True if it was cached."""
        key = credential.to_bytes()
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
        credential.issuer_index(issuer_keys)
        with self._lock:
            self._seen[key] = None
            while len(self._seen) > self.maxsize:
                self._seen.popitem(last=False)
        return False


class _Prepared:
    """SQL text of the hot per-message lookups, built by peewee once per database."""

    def __init__(self) -> None:
        self._sql: dict[tuple[int, str], Any] = {}

    # Stand-ins for the parameters, swapped for the real values at each execution.
    _TOP = 987_654_321_987_654
    _N = 987_654_321_987_653
    _KIOSK = "\x00kiosk"

    def note_sequence(self, kiosk_id: str, top: int, stored: int) -> None:
        """``stored`` new seqs up to ``top``: gaps += rise of the highest seq - stored."""
        db = CheckinEntry._meta.database
        built = self._sql.get((id(db.obj), "gaps"))
        if built is None:
            Kiosk, top_, n_ = KioskEntry, self._TOP, self._N
            above = Kiosk.highest_seq < top_
            query = KioskEntry.update(
                gaps=Kiosk.gaps + peewee.Case(None, [(above, top_ - Kiosk.highest_seq)], 0) - n_,
                highest_seq=peewee.Case(None, [(above, top_)], Kiosk.highest_seq),
            ).where(Kiosk.kiosk_id == self._KIOSK)
            built = self._sql[(id(db.obj), "gaps")] = query.sql()
        sql, params = built
        values = {self._TOP: top, self._N: stored, self._KIOSK: kiosk_id}
        db.execute_sql(sql, [values.get(p, p) for p in params])

    def insert_checkins(self, rows: list[tuple[Any, ...]]) -> dict[bytes, int]:
        """INSERT ``rows`` (``ENTRY_COLUMNS`` order), skipping any a unique key refuses.

        Returns checkin id -> row id of the rows really inserted.
        """
        db = CheckinEntry._meta.database
        key = (id(db.obj), "insert", len(rows))
        sql = self._sql.get(key)
        if sql is None:
            fields = CheckinEntry._meta.fields

            def quote(name: str) -> str:
                return db.quote[0] + name + db.quote[1]

            columns = ", ".join(quote(fields[name].column_name) for name in ENTRY_COLUMNS)
            one = "(" + ", ".join([db.param] * len(ENTRY_COLUMNS)) + ")"
            sql = self._sql[key] = (
                f"INSERT INTO {quote(CheckinEntry._meta.table_name)} ({columns}) "
                f"VALUES {', '.join([one] * len(rows))} ON CONFLICT DO NOTHING "
                f"RETURNING {quote('checkin_id')}, {quote('id')}"
            )
        params = [value for row in rows for value in row]
        return {bytes(cid): row_id for cid, row_id in db.execute_sql(sql, params).fetchall()}

    def fetchone(self, name: str, key: object) -> tuple[object, ...] | None:
        db = CheckinEntry._meta.database
        sql = self._sql.get((id(db.obj), name))
        if sql is None:
            query = {
                "kiosk": KioskEntry.select(
                    KioskEntry.device_key, KioskEntry.venue_id, KioskEntry.retired
                ),
                "highest": KioskEntry.select(KioskEntry.highest_seq),
            }[name].where(KioskEntry.kiosk_id == "?")
            sql = self._sql[(id(db.obj), name)] = query.sql()[0]
        return db.execute_sql(sql, (key,)).fetchone()


Verified = tuple[int, CheckinRecord, placement.Placement, bytes]
"""A verified message: its index in the batch, the record, its placed time, credential id."""

#: Columns a new check-in row is inserted with (the rest are set when it is sealed).
ENTRY_COLUMNS = (
    "checkin_id",
    "kiosk",
    "seq",
    "presentation_hash",
    "commit",
    "day",
    "sealed",
    "leaf_hash",
    "scanned_ms",
    "received_ms",
    "boot_id",
    "mono_ms",
    "placed_ms",
    "placement",
    "venue_id",
    "visit_tag",
)
#: Rows per INSERT statement: 16 parameters each stays under SQLite's 32,766 and
#: PostgreSQL's 65,535 parameters per statement.
INSERT_CHUNK = 1000


def _row(
    record: CheckinRecord,
    placed: placement.Placement,
    received_ms: int,
    data_vault: Vault | None,
    credential_id: bytes,
) -> tuple[Any, ...]:
    """The values of a new check-in row, in ``ENTRY_COLUMNS`` order.

    ``credential_id`` is the visitor's, from the presentation ``_verify`` parsed.
    """
    # commit, day, the record encrypted under its day key, received_ms and the visit's
    # lookup tag keyed by that day key (aggregator.vault, aggregator/trace/index.py)
    visit = CheckinEntry.visit_columns(
        record.checkin_id, record.wire, received_ms, data_vault, credential_id
    )
    return (
        record.checkin_id,
        record.kiosk_id,
        record.seq,
        card_checks.presentation_hash(record),
        visit["commit"],
        visit["day"],
        visit["sealed"],
        leaf_hash(leaf_data(record.checkin_id, record.digest)),
        record.scanned_ms,
        visit["received_ms"],
        placed.boot_id,
        placed.mono_ms,
        placed.placed_ms,
        placed.how,
        record.venue_id,
        visit["visit_tag"],
    )


@dataclass
class _Kiosk:
    """An enrolled kiosk's row as ingest needs it; the device key parsed on first use."""

    device_key: bytes
    venue_id: str
    retired: bool
    _public: Ed25519PublicKey | None = None

    def public_key(self) -> Ed25519PublicKey:
        if self._public is None:
            self._public = keys.load_public(bytes(self.device_key))
        return self._public


class Ingestor:
    """Checks kiosk, device signature and visitor presentation, then stores the check-in.

    Safe to share between worker threads (each with its own database connection).
    """

    def __init__(
        self,
        issuer_keys: Sequence[Ed25519PublicKey],
        *,
        window: int = 30,
        skew: int = 5,
        now: Callable[[], float] = time.time,
        issuer_cache_size: int = 100_000,
        refusal_log: RateLimitedLog | None = None,
        data_vault: Vault | None = None,
        max_outbox_age_s: int = DEFAULT_MAX_OUTBOX_AGE_DAYS * DAY_S,
        card_travel_s: float = card_checks.DEFAULT_TRAVEL_MINUTES * 60,
    ) -> None:
        self.issuer_keys = list(issuer_keys)
        #: Seals each stored visit under its day key (None: the process's installed vault).
        self.data_vault = data_vault
        self.window = window
        self.skew = skew
        #: How long a record may have waited in its kiosk's outbox (aggregator.outbox_age).
        self.outbox_age = OutboxAge(max_outbox_age_s, window, skew)
        self._now = now
        self.tally = Tally()
        self._prepared = _Prepared()
        self.issuer_cache = IssuerCache(issuer_cache_size)
        self.revoked = RevocationCache()
        self.refusal_log = refusal_log or RateLimitedLog(log)
        placement.KioskClockEntry.create_table(safe=True)
        # SQLite has one writer: threads of a process queue here rather than spin on
        # its busy handler (which can starve the sequencer). PostgreSQL writes in parallel.
        sqlite = isinstance(CheckinEntry._meta.database.obj, peewee.SqliteDatabase)
        self.store_lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if sqlite else contextlib.nullcontext()
        )
        #: Printed cards: travel time between venues (aggregator.card_checks).
        card_checks.CardSightingEntry.create_table(safe=True)
        self.cards = card_checks.CardChecks(
            min_gap_s=card_travel_s, max_wait_s=max_outbox_age_s, lock=self.store_lock, now=now
        )

    @property
    def counts(self) -> Counter[str]:
        """A snapshot of the counts so far."""
        return self.tally.snapshot()

    def count(self, key: str, n: int = 1) -> None:
        """Add to one count (thread-safe)."""
        self.tally.add(key, n)

    def handle(self, topic: str, payload: bytes) -> Outcome:
        """Take one message from ``topic``. Never raises on bad input."""
        return self.handle_many([(topic, payload)])[0]

    def handle_many(self, messages: Sequence[tuple[str, bytes]]) -> list[Outcome]:
        """Verify each message, then store the verified ones in one transaction.

        One commit for many check-ins (group commit); each insert has its own
        savepoint, so a duplicate never undoes the others. Raises only
        peewee.DatabaseError, with nothing stored: no receipt, the kiosk resends.
        """
        outcomes: list[Outcome | None] = []
        verified: list[Verified] = []
        kiosks: dict[str, _Kiosk | None] = {}  # this batch's kiosk rows, read once each
        for index, (topic, payload) in enumerate(messages):
            try:
                record, placed, credential_id = self._verify(topic, payload, kiosks)
            except Refused as exc:
                outcomes.append(self._refused(topic, exc))
                continue
            except peewee.DatabaseError:
                raise
            except Exception:  # noqa: BLE001 - one message's fault must not sink the batch
                self.count("error:ingest")
                log.exception("fault while verifying a message on %.80s", topic)
                outcomes.append(Outcome(Result.REFUSED, "internal_error"))
                continue
            outcomes.append(None)
            verified.append((index, record, placed, credential_id))
        if verified:
            stored = self._store_isolating(verified)
            for index, outcome in stored:
                outcomes[index] = outcome
                if outcome.result is Result.STORED:
                    self.count("stored")
        return [outcome for outcome in outcomes if outcome is not None]

    def _store_isolating(self, verified: list[Verified]) -> list[tuple[int, Outcome]]:
        """Store the batch in one commit; if a record's data faults it, each kiosk alone.

        A fault tied to the data (``peewee.DataError``, or a value the driver cannot
        bind) would fail every batch holding that record, and every kiosk in it. Then
        each kiosk's records get their own commit: the faulty kiosk's are counted
        (``error:store``) and refused without an answer, the others are stored.
        Other database errors (connection, lock) still raise: nothing is stored.
        """
        try:
            return self._store_verified(verified)
        except (peewee.DataError, OverflowError):
            pass
        by_kiosk: dict[str, list[Verified]] = {}
        for item in verified:
            by_kiosk.setdefault(item[1].kiosk_id, []).append(item)
        stored: list[tuple[int, Outcome]] = []
        for kiosk_id, items in by_kiosk.items():
            try:
                stored.extend(self._store_verified(items))
            except (peewee.DataError, OverflowError) as exc:
                self.count("error:store", len(items))
                self.refusal_log.log(
                    logging.ERROR,
                    "store_error",
                    "kiosk %s: %d check-in(s) not storable: %s",
                    kiosk_id,
                    len(items),
                    exc,
                    kiosk=kiosk_id,
                )
                stored.extend(
                    (index, Outcome(Result.REFUSED, "internal_error")) for index, *_ in items
                )
        return sorted(stored, key=lambda pair: pair[0])

    def _store_verified(self, verified: list[Verified]) -> list[tuple[int, Outcome]]:
        """Store verified records and note their sequence numbers, in one transaction."""
        # Encrypted and hashed before the write lock: other workers write meanwhile.
        rows = self._rows(verified)
        with self.store_lock, self._write_transaction():
            stored = self._store_batch(verified, rows)
            by_kiosk: dict[str, list[int]] = {}
            for (_, record, _, _), (_, outcome) in zip(verified, stored, strict=True):
                if outcome.result is Result.STORED:
                    by_kiosk.setdefault(record.kiosk_id, []).append(record.seq)
            for kiosk_id in sorted(by_kiosk):  # one lock order: no deadlock on PostgreSQL
                self._note_sequences(kiosk_id, by_kiosk[kiosk_id])
        return stored

    def _refused(self, topic: str, exc: Refused) -> Outcome:
        self.count(f"refused:{exc.reason}")
        self.refusal_log.log(
            logging.INFO,
            exc.reason,
            "refused check-in on %.80s: %s (%s)",
            topic,
            exc.reason,
            exc,
            topic=topic[:80],
        )
        return Outcome(Result.REFUSED, exc.reason, refused_record=exc.record)

    def _kiosk(self, kiosk_id: str, kiosks: dict[str, _Kiosk | None]) -> _Kiosk | None:
        """The enrolled kiosk's row and parsed device key, read once per batch."""
        if kiosk_id not in kiosks:
            row = self._prepared.fetchone("kiosk", kiosk_id)
            kiosks[kiosk_id] = None if row is None else _Kiosk(*row)
        return kiosks[kiosk_id]

    def _verify(
        self, topic: str, payload: bytes, kiosks: dict[str, _Kiosk | None]
    ) -> tuple[CheckinRecord, placement.Placement, bytes]:
        """A verified record, its placed scan time and its visitor's credential id."""
        try:
            kiosk_id, leaf = topics.parse_topic(topic)
            if leaf != topics.CHECKIN:
                raise Refused("wrong_topic", f"check-ins are not taken on {leaf}")
            record = parse_checkin(payload)
        except ProtocolError as exc:
            raise Refused(exc.reason, str(exc)) from exc
        if record.kiosk_id != kiosk_id:
            raise Refused("topic_mismatch", f"record of {record.kiosk_id} on {kiosk_id}'s topic")
        kiosk = self._kiosk(kiosk_id, kiosks)
        if kiosk is None:
            raise Refused("unknown_kiosk", f"kiosk {kiosk_id} is not enrolled")
        if kiosk.retired:
            raise Refused("retired_kiosk", f"kiosk {kiosk_id} is retired")
        venue_id = kiosk.venue_id
        try:
            record.verify(kiosk.public_key())
        except ProtocolError as exc:  # not this kiosk's record: nobody to tell
            raise Refused(exc.reason, str(exc)) from exc
        received_ms = int(self._now() * 1000)
        placed = placement.place(kiosk_id, record.clock, record.scanned_ms, received_ms)
        if placed.placed_ms / 1000 > self._now() + self.skew:
            # Not final: the kiosk's clock runs ahead; the same record passes later.
            raise Refused(NotYetValidError.reason, "scan time is in the future")
        if record.venue_id != venue_id:
            raise Refused(
                "venue_mismatch", f"kiosk {kiosk_id} is enrolled at another venue", record
            )
        try:
            presentation = record.parsed_presentation()
            card = card_checks.is_card(presentation)
            if not (card and placed.how == placement.RECEIVED):  # a card's date is the desk's
                self.outbox_age.check(placed, presentation.timestamp, received_ms)
            self._check_presentation(presentation, placed, card)
            if card:  # last: only a genuine card leaves a sighting
                self.cards.check_travel(presentation, venue_id, placed.placed_ms)
        except ProtocolError as exc:
            raise Refused(exc.reason, str(exc), record) from exc
        return record, placed, presentation.credential.credential_id

    def _check_presentation(
        self, pres: Presentation, placed: placement.Placement, card: bool
    ) -> None:
        """The visitor's code at the placed scan time, the issuer check cached per credential.

        A phone's code is judged within its freshness window (:meth:`_check_fresh_code`),
        a printed card by its credential's validity alone (aggregator.card_checks).
        """
        at = placed.placed_ms / 1000
        if card:  # signed once at the desk: no freshness window
            pres.verify_card(
                self.issuer_keys, now=at, skew=self.skew, issuer_check=self._check_issuer
            )
        else:
            self._check_fresh_code(pres, placed)
        # After the signatures: a forged code is "bad_signature", not "revoked".
        if pres.credential.credential_id in self.revoked:
            raise RevokedError("the visitor's credential is revoked")

    def _check_fresh_code(self, pres: Presentation, placed: placement.Placement) -> None:
        """A phone's code: Presentation.verify within its window at the placed scan time.

        A record placed only at its received time (no anchor, no heartbeat) may have
        waited in an outbox, at most the outbox age bound (aggregator.outbox_age): its
        code may be that much older, and its credential is judged at the code's own time.
        """
        at = placed.placed_ms / 1000
        waited = placed.how == placement.RECEIVED
        pres.verify(
            self.issuer_keys,
            now=at,
            expected_type=CodeType.CHECKIN,
            window=self.outbox_age.received_window_s if waited else self.window,
            skew=self.skew,
            issuer_check=self._check_issuer,
            credential_at=min(at, pres.timestamp) if waited else None,
        )

    def _check_issuer(
        self, credential: Credential, issuer_keys: Sequence[Ed25519PublicKey]
    ) -> None:
        """The issuer check through the cache, counting hits and misses."""
        hit = self.issuer_cache.check(credential, issuer_keys)
        self.count("issuer_cache:hit" if hit else "issuer_cache:miss")

    def _write_transaction(self) -> Any:
        """A transaction that takes SQLite's write lock at BEGIN (IMMEDIATE).

        A deferred one that reads first would fail at once with "database is locked"
        instead of waiting when another process wrote meanwhile.
        """
        db = CheckinEntry._meta.database
        if isinstance(db.obj, peewee.SqliteDatabase) and not db.in_transaction():
            return db.atomic("IMMEDIATE")
        return db.atomic()

    def _rows(self, verified: list[Verified]) -> dict[int, tuple[Any, ...]]:
        """The new rows by position in ``verified``, the first record of each id only.

        A check-in id twice in one batch: only its first record is offered to the
        INSERT, so a returned id names exactly one record; the others are judged after.
        """
        received_ms = int(self._now() * 1000)
        first: dict[bytes, int] = {}
        for position, (_, record, _, _) in enumerate(verified):
            first.setdefault(record.checkin_id, position)
        return {
            position: _row(record, placed, received_ms, self.data_vault, credential_id)
            for position, (_, record, placed, credential_id) in enumerate(verified)
            if first[record.checkin_id] == position
        }

    def _store_batch(
        self,
        verified: list[Verified],
        rows: dict[int, tuple[Any, ...]],
    ) -> list[tuple[int, Outcome]]:
        """Insert verified records with multi-row INSERTs; each one's outcome, in order.

        ``ON CONFLICT DO NOTHING ... RETURNING`` stores every record no unique key
        refuses and names those it stored. A record it skipped collided with a stored
        one (or with one earlier in this batch) on a unique key: :meth:`_duplicate`
        then tells a duplicate from a replay by reading the row that holds its id.
        """
        offered = list(rows.values())
        inserted: dict[bytes, int] = {}
        for start in range(0, len(offered), INSERT_CHUNK):
            inserted.update(self._prepared.insert_checkins(offered[start : start + INSERT_CHUNK]))
        results: list[tuple[int, Outcome]] = []
        for position, (index, record, placed, _) in enumerate(verified):
            row = rows.get(position)
            row_id = None if row is None else inserted.get(record.checkin_id)
            if row is None or row_id is None:
                results.append((index, self._duplicate(record)))
                continue
            if placed.how != placement.CLOCK:
                self.count(f"placed:{placed.how}")
            entry = CheckinEntry(__no_default__=True)
            entry.__data__.update(zip(ENTRY_COLUMNS, row, strict=True))
            entry.__data__["id"] = row_id
            results.append((index, Outcome(Result.STORED, entry=entry)))
        return results

    def _note_sequences(self, kiosk_id: str, seqs: list[int]) -> None:
        """Keep ``KioskEntry.gaps`` = highest seq - stored seqs (seqs count from 1).

        ``seqs`` were just stored for ``kiosk_id`` (never before: the unique key saw to
        that). One atomic UPDATE per kiosk and batch, so concurrent workers and late
        records that fill a gap keep the figure exact.
        """
        seqs = [seq for seq in seqs if seq > 0]
        if not seqs:
            return
        top = max(seqs)
        row = self._prepared.fetchone("highest", kiosk_id)
        before = int(row[0]) if row else 0
        self._prepared.note_sequence(kiosk_id, top, len(seqs))
        filled = sum(1 for seq in seqs if seq < before)
        opened = max(0, top - before) - (len(seqs) - filled)
        if filled:
            self.count("gaps:filled", filled)
        if opened > 0:
            self.count("gaps:opened", opened)
            # Info, not warning: workers and shared subscriptions reorder; most gaps fill.
            self.refusal_log.log(
                logging.INFO,
                "sequence_gap",
                "kiosk %s: %d sequence number(s) missing up to seq %d (may still arrive)",
                kiosk_id,
                opened,
                top,
                kiosk=kiosk_id,
            )

    def _duplicate(self, record: CheckinRecord) -> Outcome:
        existing = CheckinEntry.get_or_none(CheckinEntry.checkin_id == record.checkin_id)
        # The leaf hash commits to the id and the whole signed wire, and stays readable
        # when the stored wire is encrypted: the same record again is a duplicate.
        leaf = leaf_hash(leaf_data(record.checkin_id, record.digest))
        if existing is not None and bytes(existing.leaf_hash) == leaf:
            if existing.kiosk_id is None:  # forgotten by retention: the record says them again
                existing.kiosk_id, existing.seq = record.kiosk_id, record.seq
            self.count("duplicate")
            return Outcome(Result.DUPLICATE, "duplicate", existing)
        # Same (kiosk, seq) or same presentation under another record: a replay.
        self.count("refused:replayed")
        self.refusal_log.warning(
            "replayed",
            "kiosk %s seq %d: replayed or conflicting check-in",
            record.kiosk_id,
            record.seq,
            kiosk=record.kiosk_id,
        )
        return Outcome(Result.REFUSED, "replayed", refused_record=record)
