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
from .models_base import write_transaction
from .outbox_age import DAY_S, DEFAULT_MAX_OUTBOX_AGE_DAYS, OutboxAge
from .revocations import RevocationCache
from .trace.records import code_type_of_presentation
from .vault import Vault

log = logging.getLogger(__name__)


class Result(Enum):
    """What became of one message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


class Outcome:
    """The result, the reason for a refusal, and the stored or existing row.

    A stored check-in's row (``entry``) is built only when asked for: the service
    needs rows only for duplicates, which carry theirs.
    """

    __slots__ = ("result", "reason", "refused_record", "_entry", "_values")

    def __init__(
        self,
        result: Result,
        reason: str = "",
        entry: CheckinEntry | None = None,
        refused_record: CheckinRecord | None = None,
        *,
        values: tuple[Any, ...] | None = None,
    ) -> None:
        self.result = result
        self.reason = reason
        #: Set when a record its kiosk really signed is refused for good: the kiosk is told.
        self.refused_record = refused_record
        self._entry = entry
        self._values = values  # a stored row: ENTRY_COLUMNS values, then its id

    @property
    def entry(self) -> CheckinEntry | None:
        """The stored or existing row (None for a refusal)."""
        if self._entry is None and self._values is not None:
            entry = CheckinEntry(__no_default__=True)
            entry.__data__.update(zip((*ENTRY_COLUMNS, "id"), self._values, strict=True))
            self._entry = entry
        return self._entry

    def __repr__(self) -> str:
        return f"Outcome({self.result}, {self.reason!r})"


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
    """Credentials whose issuer signature verified (a bounded LRU), with hit and miss counts.

    Keyed by the parsed credential (a frozen dataclass: equal fields, equal bytes), so a
    look-up encodes nothing.
    """

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._seen: OrderedDict[Credential, None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def check(self, credential: Credential, issuer_keys: Sequence[Ed25519PublicKey]) -> bool:
        """Raise unless a trusted issuer signed ``credential``; True if it was cached."""
        with self._lock:
            try:
                self._seen.move_to_end(credential)  # one hash of the credential, not two
            except KeyError:
                pass
            else:
                self.hits += 1
                return True
        credential.issuer_index(issuer_keys)
        with self._lock:
            self.misses += 1
            self._seen[credential] = None
            while len(self._seen) > self.maxsize:
                self._seen.popitem(last=False)
        return False


def _quote(db: peewee.Database, name: str) -> str:
    """A table or column name quoted for ``db``."""
    return db.quote[0] + name + db.quote[1]


#: Columns of an enrolled kiosk's row that ingest reads, the key first.
KIOSK_COLUMNS = ("kiosk_id", "device_key", "venue_id", "retired")


class _Prepared:
    """SQL text of the hot per-message lookups, built by peewee once per database."""

    def __init__(self) -> None:
        self._sql: dict[tuple[int, str], Any] = {}

    # Stand-ins for the parameters, swapped for the real values at each execution.
    _TOP = 987_654_321_987_654
    _N = 987_654_321_987_653
    _KIOSK = "\x00kiosk"

    def note_sequences(self, tops: list[tuple[str, int, int]]) -> None:
        """For each (kiosk, top, stored): gaps += rise of the highest seq - stored.

        One statement on PostgreSQL (``UPDATE ... FROM (VALUES ...)``), one prepared
        statement run for each kiosk on SQLite (no round trips there).
        """
        db = CheckinEntry._meta.database
        if isinstance(db.obj, peewee.PostgresqlDatabase):
            for start in range(0, len(tops), INSERT_CHUNK):
                chunk = tops[start : start + INSERT_CHUNK]
                db.execute_sql(
                    self._pg_note_sql(db, len(chunk)), [v for item in chunk for v in item]
                )
            return
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
        rows = []
        for kiosk_id, top, stored in tops:
            values = {self._TOP: top, self._N: stored, self._KIOSK: kiosk_id}
            rows.append([values.get(p, p) for p in params])
        db.cursor().executemany(sql, rows)

    def _pg_note_sql(self, db: peewee.Database, n: int) -> str:
        key = (id(db.obj), "gaps-pg", n)
        sql = self._sql.get(key)
        if sql is None:
            table = _quote(db, KioskEntry._meta.table_name)
            kiosk, high, gaps = (
                _quote(db, KioskEntry._meta.fields[name].column_name)
                for name in ("kiosk_id", "highest_seq", "gaps")
            )
            one = "(%s, %s::bigint, %s::bigint)"
            rise = f"CASE WHEN {table}.{high} < v.top THEN v.top - {table}.{high} ELSE 0 END"
            sql = self._sql[key] = (
                f"UPDATE {table} SET {gaps} = {table}.{gaps} + {rise} - v.n, "
                f"{high} = GREATEST({table}.{high}, v.top) "
                f"FROM (VALUES {', '.join([one] * n)}) AS v (kiosk, top, n) "
                f"WHERE {table}.{kiosk} = v.kiosk"
            )
        return sql

    def highest_seqs(self, kiosk_ids: list[str]) -> dict[str, int]:
        """Kiosk id -> its highest stored seq; PostgreSQL locks the rows, in this order.

        ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: the batch's INSERT already holds a
        KEY SHARE lock on these rows (its foreign key), and so may another worker's.
        ``FOR UPDATE`` conflicts with KEY SHARE, so two batches of one kiosk each
        waited for the other's: PostgreSQL aborted one ("deadlock detected") and its
        kiosk waited for a resend. NO KEY UPDATE locks still exclude each other.
        """
        db = KioskEntry._meta.database
        pg = isinstance(db.obj, peewee.PostgresqlDatabase)
        table = _quote(db, KioskEntry._meta.table_name)
        kiosk = _quote(db, KioskEntry._meta.fields["kiosk_id"].column_name)
        high = _quote(db, KioskEntry._meta.fields["highest_seq"].column_name)
        found: dict[str, int] = {}
        for start in range(0, len(kiosk_ids), INSERT_CHUNK):
            chunk = kiosk_ids[start : start + INSERT_CHUNK]
            sql = (
                f"SELECT {kiosk}, {high} FROM {table} "
                f"WHERE {kiosk} IN ({', '.join([db.param] * len(chunk))}) "
                f"ORDER BY {kiosk}{' FOR NO KEY UPDATE' if pg else ''}"
            )
            found.update((k, int(h)) for k, h in db.execute_sql(sql, chunk).fetchall())
        return found

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
                return _quote(db, name)

            columns = ", ".join(quote(fields[name].column_name) for name in ENTRY_COLUMNS)
            one = "(" + ", ".join([db.param] * len(ENTRY_COLUMNS)) + ")"
            sql = self._sql[key] = (
                f"INSERT INTO {quote(CheckinEntry._meta.table_name)} ({columns}) "
                f"VALUES {', '.join([one] * len(rows))} ON CONFLICT DO NOTHING "
                f"RETURNING {quote('checkin_id')}, {quote('id')}"
            )
        params = [value for row in rows for value in row]
        return {bytes(cid): row_id for cid, row_id in db.execute_sql(sql, params).fetchall()}

    def kiosks(self, kiosk_ids: list[str]) -> list[tuple[Any, ...]]:
        """(kiosk id, device key, venue id, retired) of those of ``kiosk_ids`` enrolled."""
        if not kiosk_ids:
            return []
        db = KioskEntry._meta.database
        sql = self._sql.get((id(db.obj), "kiosks"))
        if sql is None:
            fields = KioskEntry._meta.fields
            columns = [fields[name].column_name for name in KIOSK_COLUMNS]
            sql = self._sql[(id(db.obj), "kiosks")] = (
                f"SELECT {', '.join(_quote(db, name) for name in columns)} "
                f"FROM {_quote(db, KioskEntry._meta.table_name)} "
                f"WHERE {_quote(db, columns[0])} IN ({{}})"
            )
        found = []
        for start in range(0, len(kiosk_ids), INSERT_CHUNK):
            chunk = kiosk_ids[start : start + INSERT_CHUNK]
            text = sql.format(", ".join([db.param] * len(chunk)))
            found.extend(db.execute_sql(text, chunk).fetchall())
        return found


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
    "door",
    "code_mark",
)
#: Rows per INSERT statement: 18 parameters each stays under SQLite's 32,766 and
#: PostgreSQL's 65,535 parameters per statement.
INSERT_CHUNK = 1000


def _rows_of(
    verified: Sequence[tuple[CheckinRecord, placement.Placement, bytes]],
    received_ms: int,
    data_vault: Vault | None,
) -> list[tuple[Any, ...]]:
    """The values of new check-in rows, each in ``ENTRY_COLUMNS`` order.

    Each item is a record, its placement and its visitor's credential id (from the
    presentation ``_verify`` parsed). Sealed under one day key in one pass: commit,
    day, the record encrypted under that key, received_ms and the visit's lookup tag
    keyed by it (aggregator.vault, aggregator/trace/index.py).
    """
    visits = CheckinEntry.visits_columns(
        [
            (
                record.checkin_id,
                record.wire,
                credential_id,
                code_type_of_presentation(record.presentation),
            )
            for record, _, credential_id in verified
        ],
        received_ms,
        data_vault,
    )
    return [
        (
            record.checkin_id,
            record.kiosk_id,
            record.seq,
            card_checks.presentation_hash(record),
            visit["commit"],
            visit["day"],
            visit["sealed"],
            leaf_hash(leaf_data(record.checkin_id, visit["commit"])),  # = record.digest
            record.scanned_ms,
            visit["received_ms"],
            placed.boot_id,
            placed.mono_ms,
            placed.placed_ms,
            placed.how,
            record.venue_id,
            visit["visit_tag"],
            record.door,
            visit["code_mark"],
        )
        for (record, placed, _), visit in zip(verified, visits, strict=True)
    ]


@dataclass(frozen=True)
class _Kiosk:
    """An enrolled kiosk's row as ingest needs it, with its device key parsed (None: bad)."""

    device_key: bytes
    public: Ed25519PublicKey | None
    venue_id: str
    retired: bool


#: Parsed device keys kept by an ingestor (all are forgotten when it is full).
DEVICE_KEY_CACHE = 100_000


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
        self._device_keys: dict[bytes, Ed25519PublicKey] = {}
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
        """A snapshot of the counts so far (the issuer cache counts its own)."""
        counts = self.tally.snapshot()
        cache = self.issuer_cache
        if cache.hits:
            counts["issuer_cache:hit"] = cache.hits
        if cache.misses:
            counts["issuer_cache:miss"] = cache.misses
        return counts

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
        parsed = [self._parse_topic(topic) for topic, _ in messages]
        kiosks = self._kiosks({part for part in parsed if type(part) is tuple})
        for index, ((topic, payload), part) in enumerate(zip(messages, parsed, strict=True)):
            try:
                record, placed, credential_id = self._verify(part, payload, kiosks)
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
            stored = 0
            for index, outcome in self._store_isolating(verified):
                outcomes[index] = outcome
                stored += outcome.result is Result.STORED
            if stored:
                self.count("stored", stored)
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
        with self.store_lock, write_transaction():
            stored = self._store_batch(verified, rows)
            by_kiosk: dict[str, list[int]] = {}
            for (_, record, _, _), (_, outcome) in zip(verified, stored, strict=True):
                if outcome.result is Result.STORED:
                    by_kiosk.setdefault(record.kiosk_id, []).append(record.seq)
            self._note_sequences(by_kiosk)
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

    @staticmethod
    def _parse_topic(topic: str) -> tuple[str, str] | Refused:
        """A check-in topic's kiosk id, or why the message is refused."""
        try:
            kiosk_id, leaf = topics.parse_topic(topic)
        except ProtocolError as exc:
            return Refused(exc.reason, str(exc))
        if leaf != topics.CHECKIN:
            return Refused("wrong_topic", f"check-ins are not taken on {leaf}")
        return kiosk_id, leaf

    def _kiosks(self, parts: set[tuple[str, str]]) -> dict[str, _Kiosk]:
        """The enrolled kiosks named by a batch's topics, read in one query.

        Read afresh for every batch (a retired or re-keyed kiosk counts at once); only
        the parsing of a device key is remembered, keyed by the key's bytes.
        """
        rows = self._prepared.kiosks(sorted(kiosk_id for kiosk_id, _ in parts))
        return {
            row[0]: _Kiosk(bytes(row[1]), self._public_key(bytes(row[1])), row[2], bool(row[3]))
            for row in rows
        }

    def _public_key(self, raw: bytes) -> Ed25519PublicKey | None:
        """A kiosk's parsed device key, remembered by its bytes; None if it does not parse."""
        known = self._device_keys.get(raw)
        if known is None:
            try:
                known = keys.load_public(raw)
            except ProtocolError:
                return None  # parsed again (and refused) when its record is verified
            if len(self._device_keys) >= DEVICE_KEY_CACHE:
                self._device_keys.clear()
            self._device_keys[raw] = known
        return known

    def _verify(
        self,
        part: tuple[str, str] | Refused,
        payload: bytes,
        kiosks: dict[str, _Kiosk],
    ) -> tuple[CheckinRecord, placement.Placement, bytes]:
        """A verified record, its placed scan time and its visitor's credential id."""
        if isinstance(part, Refused):
            raise part
        kiosk_id = part[0]
        try:
            record = parse_checkin(payload)
        except ProtocolError as exc:
            raise Refused(exc.reason, str(exc)) from exc
        if record.kiosk_id != kiosk_id:
            raise Refused("topic_mismatch", f"record of {record.kiosk_id} on {kiosk_id}'s topic")
        kiosk = kiosks.get(kiosk_id)
        if kiosk is None:
            raise Refused("unknown_kiosk", f"kiosk {kiosk_id} is not enrolled")
        if kiosk.retired:
            raise Refused("retired_kiosk", f"kiosk {kiosk_id} is retired")
        venue_id = kiosk.venue_id
        try:
            record.verify(kiosk.public or keys.load_public(kiosk.device_key))
        except ProtocolError as exc:  # not this kiosk's record: nobody to tell
            raise Refused(exc.reason, str(exc)) from exc
        now = self._now()
        received_ms = int(now * 1000)
        placed = placement.place(kiosk_id, record.clock, record.scanned_ms, received_ms)
        if placed.placed_ms / 1000 > now + self.skew:
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
        code may be that much older.

        A time placed from an arrival (``received``, or a heartbeat anchored at its own
        arrival) is late, never early: judged there, a day credential shown a second
        before midnight would be refused as expired although the kiosk accepted it. So
        the credential is judged at the code's own time when that is earlier; freshness
        still bounds how much earlier it can be.
        """
        at = placed.placed_ms / 1000
        waited = placed.how == placement.RECEIVED
        late_bound = placed.how in (placement.RECEIVED, placement.HEARTBEAT)
        pres.verify(
            self.issuer_keys,
            now=at,
            expected_type=CodeType.CHECKIN,
            window=self.outbox_age.received_window_s if waited else self.window,
            skew=self.skew,
            issuer_check=self._check_issuer,
            credential_at=min(at, pres.timestamp) if late_bound else None,
        )

    def _check_issuer(
        self, credential: Credential, issuer_keys: Sequence[Ed25519PublicKey]
    ) -> None:
        """The issuer check through the cache (which counts its hits and misses)."""
        self.issuer_cache.check(credential, issuer_keys)

    def _rows(self, verified: list[Verified]) -> dict[int, tuple[Any, ...]]:
        """The new rows by position in ``verified``, the first record of each id only.

        A check-in id twice in one batch: only its first record is offered to the
        INSERT, so a returned id names exactly one record; the others are judged after.
        """
        received_ms = int(self._now() * 1000)
        first: dict[bytes, int] = {}
        for position, (_, record, _, _) in enumerate(verified):
            first.setdefault(record.checkin_id, position)
        positions = list(first.values())
        offered = [verified[position][1:] for position in positions]
        rows = _rows_of(offered, received_ms, self.data_vault)
        return dict(zip(positions, rows, strict=True))

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
            results.append((index, Outcome(Result.STORED, values=(*row, row_id))))
        return results

    def _note_sequences(self, by_kiosk: dict[str, list[int]]) -> None:
        """Keep ``KioskEntry.gaps`` = highest seq - stored seqs (seqs count from 1).

        ``by_kiosk`` holds the seqs just stored per kiosk (never before: the unique key
        saw to that). One read of the kiosks' highest seqs (on PostgreSQL locking their
        rows in kiosk order, so concurrent workers never deadlock) and one atomic
        update for the whole batch, so concurrent workers and late records that fill a
        gap keep the figure exact.
        """
        tops: dict[str, tuple[int, int]] = {}  # kiosk -> (highest seq stored now, how many)
        for kiosk_id, seqs in by_kiosk.items():
            stored = [seq for seq in seqs if seq > 0]
            if stored:
                tops[kiosk_id] = (max(stored), len(stored))
        if not tops:
            return
        before = self._prepared.highest_seqs(sorted(tops))
        self._prepared.note_sequences([(kiosk_id, *tops[kiosk_id]) for kiosk_id in sorted(tops)])
        for kiosk_id, (top, count) in sorted(tops.items()):
            self._count_gaps(kiosk_id, by_kiosk[kiosk_id], top, count, before.get(kiosk_id, 0))

    def _count_gaps(self, kiosk_id: str, seqs: list[int], top: int, n: int, before: int) -> None:
        """Count gaps ``n`` seqs up to ``top`` filled and opened (highest was ``before``)."""
        filled = sum(1 for seq in seqs if 0 < seq < before)
        opened = max(0, top - before) - (n - filled)
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
