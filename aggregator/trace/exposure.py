"""The exposure list: a case's visits, and every other visit overlapping them, by overlap.

Given the case's credential ids (its day credentials, found on the official's side)
and its infectious period ``[start_ms, end_ms)``, :func:`find_exposures`:

1. computes the visit tags of those credentials for every day that could hold their
   visits (aggregator.vault ``lookup_tags``: days whose key is destroyed give none) and
   reads the matching rows through the ``visit_tag`` index: one query;
2. makes the case's stays (aggregator/trace/stays.py) from those rows' index columns
   (the tag names the credential, ``door`` the kiosk's door), clipped to the period;
3. reads the rows at the same venues from ``max_stay`` before each case stay to
   ``max_stay`` after it through the ``(venue_id, placed_ms)`` index (one query per
   200 venue windows) and makes their visitors' stays, each visitor known by its
   visit tag (aggregator/trace/visitors.py: only groups of two storing days that
   could be one visitor are named by the credential id their tags give back);
4. keeps each pair (case stay, other stay) at one venue sharing at least
   ``min_overlap_minutes`` (and more than nothing: stays are half-open), ranked by
   overlap, longest first; unmasks the code types of those stays only (``code_mark``,
   one AES call per day).

Each row of the list names the venue, both stays, the overlap in seconds, the code
type (``checkin`` for a phone, ``card`` for a printed card) and an opaque handle: a
row id of the exposed visitor encrypted under a key derived from the master key. The
official's side sends handles back to ask for the sealed owners; the server maps
them to credential ids with :func:`credential_ids_of`, which is where those records
are opened: on demand, for the visitors the official calls, never for the list.

Rows whose day key is destroyed or missing are counted in ``unreadable`` (known from
the key, without opening them), never guessed at; a record opened (above) that does
not open is counted there too. The list trusts the index columns as it trusts the
tag: a row whose ciphertext alone was damaged is found out when its handle is asked
for (left out of :func:`credential_ids_of`'s answer). Rows stored before the tracing
columns existed (aggregator/trace/schema.py) have neither tag nor venue and are not
found; rows without door or code mark (stored by earlier version-12 code, until the
back-fill) are opened as before.

Bad requests (no credential id, too many, not bytes, an empty, reversed or too long
period) raise :class:`TraceRequestError` before any query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import peewee

from protocol.checkin import DOORS
from protocol.credential import CREDENTIAL_ID_SIZE
from protocol.errors import ProtocolError
from protocol.presentation import CodeType

from ..tables import CheckinEntry
from ..vault import DAY_MS, DayKeys, Vault, VaultError, day_of
from .records import visit_fields
from .settings import TraceSettings
from .stays import EXIT, Scan, Stay, stays_at_one_venue, stays_of
from .visitors import CREDENTIAL, entangled

#: Most credential ids one request may name (a case's day credentials, with room).
MAX_CREDENTIALS = 256
#: Venue windows per candidate query (each adds three parameters).
WINDOWS_PER_QUERY = 200
#: Row ids per query when rows are read by id.
_IDS_PER_QUERY = 500
#: A scan may be placed this long after its storing day begins (kiosk clock skew).
_SKEW_MS = 60_000


class TraceRequestError(ProtocolError):
    """A trace request that cannot be answered: what is wrong is in the message."""

    reason = "bad_trace_request"


class Exposure(NamedTuple):
    """One case stay and one other visitor's stay at the same venue, and their overlap.

    A named tuple, not a dataclass: a list holds hundreds, made 5x cheaper.
    """

    venue_id: str
    case_start_ms: int
    case_end_ms: int
    exposed_start_ms: int
    exposed_end_ms: int
    overlap_s: float
    #: ``checkin`` (a phone's code) or ``card`` (a printed card).
    code_type: str
    #: Opaque (hex): names the exposed visitor to :func:`credential_ids_of` only.
    handle: str
    #: True when an exit scan ended the exposed stay (else the venue's default stay).
    exposed_by_exit: bool


@dataclass(frozen=True)
class ExposureList:
    """The answer: the case's stays, the ranked exposures, and what was read."""

    case_stays: tuple[Stay, ...]
    exposures: tuple[Exposure, ...]
    #: Records opened with the vault: only rows the index cannot answer for
    #: (aggregator/trace/visitors.py); most lists open none.
    rows_opened: int = 0
    #: Rows that cannot be read: day key destroyed or missing (known without opening),
    #: or a record that was opened and did not open.
    unreadable: int = 0
    venues: tuple[str, ...] = field(default=())
    #: Seconds spent in the database (day keys and the two indexed queries), and in
    #: opening and reading records plus making stays and pairs: where the time goes.
    query_s: float = 0.0
    work_s: float = 0.0
    #: Rows read from the database (the case's and those around its stays).
    rows_read: int = 0


def credential_ids_of(handles: Sequence[str], *, vault: Vault) -> dict[str, bytes]:
    """The credential id behind each exposure handle (``Exposure.handle``) that has one.

    The official's side sends handles back to ask for the sealed owners; only the
    server maps them to credential ids. A handle is a check-in row id encrypted under
    a key derived from the data master key (aggregator.vault ``seal_handles``): this
    opens the handle, then that row's record (the one decryption the list put off).
    Handles that are malformed, forged, or name a row whose record no longer opens
    (its day key destroyed since) are left out of the answer (the caller refuses or
    counts them). Two handles may name one credential (one visitor's visits stored on
    two days that never needed telling apart).
    """
    if isinstance(handles, str):
        raise TraceRequestError("handles come as a list, not one string")
    rows: dict[str, int] = {}
    for handle in handles:
        row_id = vault.open_handle(handle)
        if row_id is not None:
            rows[handle] = row_id
    c = CheckinEntry
    stored: dict[int, tuple[bytes, int, bytes]] = {}
    wanted = sorted(set(rows.values()))
    for at in range(0, len(wanted), _IDS_PER_QUERY):
        query = c.select(c.id, c.checkin_id, c.day, c.sealed).where(
            c.id.in_(wanted[at : at + _IDS_PER_QUERY])
        )
        for row_id, checkin_id, day, sealed in query.tuples():
            stored[row_id] = (bytes(checkin_id), day, bytes(sealed))
    order = [row_id for row_id in wanted if row_id in stored]
    opened = vault.day_keys(sorted({stored[r][1] for r in order})).open_many(
        [stored[r] for r in order]
    )
    ids: dict[int, bytes] = {}
    for row_id, wire in zip(order, opened, strict=True):
        if isinstance(wire, VaultError):
            continue
        try:
            ids[row_id] = visit_fields(wire)[1]
        except ProtocolError:
            continue
    return {handle: ids[row_id] for handle, row_id in rows.items() if row_id in ids}


def _check_request(
    credential_ids: Sequence[bytes], start_ms: int, end_ms: int, settings: TraceSettings
) -> list[bytes]:
    if isinstance(credential_ids, bytes | str):
        raise TraceRequestError("credential ids come as a list of ids, not one string")
    ids = list(dict.fromkeys(credential_ids))
    if not ids:
        raise TraceRequestError("no credential id: nothing to trace")
    if len(ids) > MAX_CREDENTIALS:
        raise TraceRequestError(f"{len(ids)} credential ids: at most {MAX_CREDENTIALS}")
    for cid in ids:
        if not isinstance(cid, bytes) or len(cid) != CREDENTIAL_ID_SIZE:
            raise TraceRequestError(f"a credential id is {CREDENTIAL_ID_SIZE} bytes")
    for name, value in (("start", start_ms), ("end", end_ms)):
        if type(value) is not int or not 0 <= value < 2**62:
            raise TraceRequestError(f"the period's {name} must be a time in ms")
    if end_ms <= start_ms:
        raise TraceRequestError("the period ends before it starts")
    if end_ms - start_ms > settings.max_period_days * DAY_MS:
        raise TraceRequestError(f"the period is longer than {settings.max_period_days} days")
    return ids


def find_exposures(
    credential_ids: Sequence[bytes],
    start_ms: int,
    end_ms: int,
    *,
    vault: Vault,
    settings: TraceSettings | None = None,
) -> ExposureList:
    """The case's stays in ``[start_ms, end_ms)`` and every overlapping visit, ranked."""
    settings = settings if settings is not None else TraceSettings()
    ids = _check_request(credential_ids, start_ms, end_ms, settings)
    clock = _Clock()
    reach = settings.max_stay_ms
    first_day = day_of(start_ms - reach - _SKEW_MS)
    last_day = day_of(end_ms + reach) + settings.max_outbox_age_days
    keys, tags, rows = _case_rows_and_keys(
        vault, list(range(first_day, last_day + 1)), ids, start_ms - reach, end_ms + reach, clock
    )
    if not tags:
        return ExposureList((), ())
    reader = _Reader(keys, set(ids))
    case_stays = tuple(_clip(stays_of(reader.case_scans(rows, tags), settings), start_ms, end_ms))
    if not case_stays:
        return reader.answer((), (), (), clock, len(rows))
    windows = _windows(case_stays, reach)
    with clock.query():
        venue_rows = _venue_rows(windows)
    seen = {row[0] for row in rows}
    found, read = reader.pairs(venue_rows, seen, set(tags), case_stays, settings)
    case_stays, exposures = reader.exposures(case_stays, found, vault)
    venues = tuple(sorted({stay.venue_id for stay in case_stays}))
    return reader.answer(case_stays, exposures, venues, clock, len(rows) + read)


class _Clock:
    """Time in the database vs the rest of one call."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.in_query = 0.0

    @contextlib.contextmanager
    def query(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.in_query += time.perf_counter() - began

    def split(self) -> tuple[float, float]:
        total = time.perf_counter() - self.began
        return self.in_query, total - self.in_query


#: ``(id, checkin_id, day, venue_id, placed_ms, visit_tag, door, code_mark)``: no record.
_Row = tuple[int, bytes, int, str, int, bytes | None, str | None, int | None]
#: The columns tracing reads, in ``_Row`` order (benchmarks/trace.py reads the same).
COLUMNS = ("id", "checkin_id", "day", "venue_id", "placed_ms", "visit_tag", "door", "code_mark")


def _select(db: peewee.Database) -> str:
    """The start of each query: the columns tracing reads, from the check-in table."""
    c = CheckinEntry._meta
    q = db.quote
    names = ", ".join(q[0] + c.fields[name].column_name + q[1] for name in COLUMNS)
    return f"SELECT {names} FROM {q[0]}{c.table_name}{q[1]} WHERE "


def _case_rows_and_keys(
    vault: Vault, days: list[int], ids: list[bytes], low_ms: int, high_ms: int, clock: _Clock
) -> tuple[DayKeys, dict[bytes, bytes], list[_Row]]:
    """The keys of ``days`` as the database holds them now, the case's tags under them,
    and the rows carrying those tags placed in ``[low_ms, high_ms)``.

    One statement when the vault read the same days' keys a moment ago: the tags are
    computed with those keys, and the key rows are read again beside the case's rows;
    if they changed (a key destroyed or replaced since), the keys read are used and
    the rows looked up again. Otherwise two: the keys, then the rows.
    """
    keys = vault.recent_day_keys(days)
    tags = keys.tags(ids) if keys is not None else {}
    if keys is not None and tags:
        with clock.query():
            rows, key_rows = _case_rows(list(tags), low_ms, high_ms, vault.day_key_query(days))
        if keys.read_from(key_rows):
            return keys, tags, rows
        keys = vault.day_keys_from_rows(days, key_rows)
    else:
        with clock.query():
            keys = vault.day_keys(days)
    tags = keys.tags(ids)
    with clock.query():
        rows = _case_rows(list(tags), low_ms, high_ms)[0] if tags else []
    return keys, tags, rows


def _case_rows(
    tags: list[bytes], low_ms: int, high_ms: int, key_query: tuple[str, list[int]] | None = None
) -> tuple[list[_Row], list[tuple[Any, ...]]]:
    """The rows carrying any of ``tags`` placed in ``[low_ms, high_ms)``: one indexed query;
    with ``key_query`` (aggregator.vault ``day_key_query``), its rows too, in the same
    statement (as rows whose id is NULL: ``wrapped, day, destroyed`` in the columns of
    ``checkin_id, day, placed_ms``).

    Hand-written SQL (as in aggregator/ingest.py): peewee would spend longer building
    the statement than the database spends answering it.
    """
    db = CheckinEntry._meta.database
    p = db.param
    sql = (
        _select(db)
        + f"visit_tag IN ({', '.join([p] * len(tags))}) AND placed_ms >= {p}"
        + f" AND placed_ms < {p} AND venue_id IS NOT NULL"
    )
    params: list[Any] = [*tags, low_ms, high_ms]
    if key_query is None:
        return db.execute_sql(sql, params).fetchall(), []  # tuples, as both drivers give
    keys_sql, key_params = key_query
    sql += (
        ' UNION ALL SELECT NULL, k."wrapped", k."day", NULL,'
        ' CASE WHEN k."destroyed" THEN 1 ELSE 0 END, NULL, NULL, NULL'
        f" FROM ({keys_sql}) AS k"
    )
    found = db.execute_sql(sql, [*params, *key_params]).fetchall()
    rows = [row for row in found if row[0] is not None]
    key_rows = [(row[2], row[1], row[4]) for row in found if row[0] is None]
    return rows, key_rows


def _windows(case_stays: Sequence[Stay], reach: int) -> list[tuple[str, int, int]]:
    """Per venue, the merged spans ``[start - reach, end + reach)`` around its case stays."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for stay in case_stays:
        spans.setdefault(stay.venue_id, []).append((stay.start_ms - reach, stay.end_ms + reach))
    merged: list[tuple[str, int, int]] = []
    for venue, items in sorted(spans.items()):
        items.sort()
        low, high = items[0]
        for a, b in items[1:]:
            if a <= high:
                high = max(high, b)
            else:
                merged.append((venue, low, high))
                low, high = a, b
        merged.append((venue, low, high))
    return merged


def _venue_rows(windows: list[tuple[str, int, int]]) -> list[_Row]:
    """The rows at each venue placed in its windows, through the (venue, placed) index."""
    db = CheckinEntry._meta.database
    p = db.param
    one = f"(venue_id = {p} AND placed_ms >= {p} AND placed_ms < {p})"
    rows: list[_Row] = []
    for at in range(0, len(windows), WINDOWS_PER_QUERY):
        part = windows[at : at + WINDOWS_PER_QUERY]
        sql = _select(db) + " OR ".join([one] * len(part))
        params = [value for window in part for value in window]
        rows.extend(db.execute_sql(sql, params).fetchall())
    return rows


#: Makes a named tuple without its Python-level ``__new__`` (a list makes hundreds).
_new = tuple.__new__


def _clip(stays: list[Stay], start_ms: int, end_ms: int) -> list[Stay]:
    """The stays cut to the period; those wholly outside it dropped."""
    clipped = []
    for stay in stays:
        low, high = max(stay.start_ms, start_ms), min(stay.end_ms, end_ms)
        if low == stay.start_ms and high == stay.end_ms:
            clipped.append(stay)
        elif high > low:
            clipped.append(_new(Stay, (stay.scan, low, high, stay.by_exit)))
    return clipped


_CODE_NAMES = {int(code): code.name.lower() for code in CodeType}


def _code_name(code_type: int) -> str:
    return _CODE_NAMES.get(code_type, str(code_type))


#: One exposed stay found: (overlap ms, index of the case stay, visitor key, the row that
#: opened the stay, its start, its end, ended by an exit scan).
_Pair = tuple[int, int, bytes, _Row, int, int, bool]


class _Reader:
    """Turns rows into scans for one call: from the index, opening a record only if needed.

    Counts what it opened and what could not be read (aggregator/trace/visitors.py says
    which rows are opened and why the rest need not be).
    """

    def __init__(self, keys: DayKeys, case_ids: set[bytes]) -> None:
        self.keys = keys
        self.case_ids = case_ids
        self.opened = 0
        self.unreadable = 0
        #: Rows opened that did not open (dropped, as the former engine dropped them).
        self.failed: set[int] = set()
        #: The case's rows whose code type is still masked (read from the index): id -> row.
        self.masked: dict[int, _Row] = {}
        #: Code types read from opened records (rows stored without the index): id -> type.
        self.known: dict[int, int] = {}
        #: Per exposed visitor key, the smallest row id of its scans (what its handle names).
        self.first_row: dict[bytes, int] = {}

    def case_scans(self, rows: list[_Row], tags: dict[bytes, bytes]) -> list[Scan]:
        """The case's scans: found by tag, so the credential id is known (code still masked)."""
        indexed: list[Scan] = []
        to_open: list[_Row] = []
        for row in rows:
            row_id, _, _, venue_id, placed_ms, tag, door, mark = row
            if tag is None or mark is None or door not in _DOORS:
                to_open.append(row)
                continue
            self.masked[row_id] = row
            indexed.append(_new(Scan, (row_id, venue_id, placed_ms, door, tags[bytes(tag)], -1)))
        scans = [scan for scan in self._open(to_open) if scan.credential_id in self.case_ids]
        return scans + indexed

    def pairs(
        self,
        rows: list[_Row],
        case_rows: set[int],
        case_tags: set[bytes],
        case_stays: Sequence[Stay],
        settings: TraceSettings,
    ) -> tuple[list[_Pair], int]:
        """Each other visitor's stay at a case venue sharing enough with a case stay there.

        Also the number of rows read (those not among the case's). One pass groups the
        rows by visitor (:meth:`_visitors`); one pass over the visitors makes their
        stays and keeps those overlapping: a visitor with one scan (most) makes no
        object at all unless exposed (its stay is the rule of aggregator/trace/stays.py
        for one scan, inline).
        """
        groups, read = self._visitors(rows, case_rows, case_tags, settings)
        at_venue: dict[str, list[tuple[int, int, int]]] = {}
        for index, stay in enumerate(case_stays):
            at_venue.setdefault(stay.scan.venue_id, []).append((index, stay[1], stay[2]))
        #: per case venue: its default stay, its case stays (index, start, end)
        venues = {v: (settings.default_stay_ms(v), cases) for v, cases in at_venue.items()}
        least = max(settings.min_overlap_ms, 1)  # more than nothing: stays are half-open
        found: list[_Pair] = []
        first_row = self.first_row
        for key, items in groups.items():
            if len(items) > 1:
                for row, start, end, by_exit in _stays(key, items, venues, settings):
                    for index, low, high in venues[row[3]][1]:
                        shared = (end if end < high else high) - (start if start > low else low)
                        if shared >= least:
                            found.append((shared, index, key, row, start, end, by_exit))
                            first_row[key] = min([item[0] for item in items])
                continue
            row = items[0]
            venue = venues.get(row[3])
            if venue is None:
                continue
            default_ms, cases = venue
            at = row[4]
            if row[6] == EXIT:  # a lone exit: the default stay ending there
                start, end, by_exit = at - default_ms, at, True
            else:
                start, end, by_exit = at, at + default_ms, False
            for index, low, high in cases:
                shared = (end if end < high else high) - (start if start > low else low)
                if shared >= least:
                    found.append((shared, index, key, row, start, end, by_exit))
                    first_row[key] = row[0]
        return found, read

    def _visitors(
        self,
        rows: list[_Row],
        case_rows: set[int],
        case_tags: set[bytes],
        settings: TraceSettings,
    ) -> tuple[dict[bytes, list[_Row]], int]:
        """The rows read, not the case's, by visitor key (aggregator/trace/visitors.py).

        A row from the index is keyed by its visit tag (16 bytes); a row opened (stored
        without the index) by :data:`CREDENTIAL` + its credential id (shorter: the two
        kinds never meet). Groups of two storing days that could be one visitor are
        opened and renamed (:meth:`_rename`) where a venue holds rows of two classes.
        """
        groups: dict[bytes, list[_Row]] = {}
        day_at: dict[str, int] = {}  # venue -> the storing day of its first row by tag
        mixed: set[str] = set()  # venues with rows by tag of two storing days
        to_open: list[_Row] = []
        usable = self.keys.usable_days()
        doors = _DOORS
        read = len(rows)
        for row in rows:
            row_id, _, day, venue_id, _, tag, door, mark = row
            if row_id in case_rows:
                read -= 1
                continue
            if day not in usable:
                self.unreadable += 1  # its day key is destroyed or was never made
                continue
            if tag is None or mark is None or door not in doors:
                to_open.append(row)  # stored without the index: open it, as before
                continue
            tag = bytes(tag)
            if tag in case_tags:
                continue  # one of the case's own visits
            group = groups.get(tag)
            if group is None:
                groups[tag] = [row]
            else:
                group.append(row)
            first_day = day_at.get(venue_id)
            if first_day is None:
                day_at[venue_id] = day
            elif first_day != day:
                mixed.add(venue_id)
        for scan in self._open(to_open):
            if scan.credential_id in self.case_ids:
                continue
            row_id, venue_id, placed_ms, door = scan[:4]
            self.known[row_id] = scan.code_type
            item = (row_id, b"", -1, venue_id, placed_ms, None, door, None)
            groups.setdefault(CREDENTIAL + scan.credential_id, []).append(item)
            if venue_id in day_at:
                mixed.add(venue_id)  # a class of known credentials beside tags
        if mixed:
            self._rename(groups, mixed, settings)
        return groups, read

    def _rename(
        self, groups: dict[bytes, list[_Row]], mixed: set[str], settings: TraceSettings
    ) -> None:
        """Name by credential the tag groups :func:`entangled` finds at ``mixed`` venues.

        Each such group is opened (:meth:`_name`) and joins its credential's group, or
        is dropped (the case's own credential, or no row of it opens).
        """
        scans: list[Scan] = []
        days: dict[bytes, int] = {}
        for key, items in groups.items():
            for row in items:
                if row[3] in mixed:
                    scans.append(_new(Scan, (row[0], row[3], row[4], row[6], key, -1)))
                    if row[5] is not None:
                        days[key] = row[2]
        flagged = entangled(scans, days, settings)
        if not flagged:
            return
        named = self._name(flagged, {key: groups[key] for key in flagged}, days)
        for key in sorted(flagged):
            items = groups.pop(key)
            name = named[key]
            if name is None:
                continue
            kept = [row for row in items if row[0] not in self.failed]
            if kept:
                groups.setdefault(name, []).extend(kept)

    def _name(
        self, keys: set[bytes], by_key: dict[bytes, list[_Row]], days: dict[bytes, int]
    ) -> dict[bytes, bytes | None]:
        """For tag keys that must be told apart, the credential key (None: drop the group).

        The credential id is read back from the tag itself with its storing day's key
        (aggregator.vault ``credential_ids_of_tags``: one AES call per day, no record
        opened). A tag that gives none (damaged) is told apart from its rows' records:
        the first row of each such group is opened; of a group whose row does not open
        (counted unreadable), the next row, and so on.
        """
        named: dict[bytes, bytes | None] = {}
        by_day: dict[int, list[bytes]] = {}
        for key in sorted(keys):
            by_day.setdefault(days[key], []).append(key)
        damaged: list[bytes] = []
        for day, tags in by_day.items():
            try:
                ids: list[bytes | None] = self.keys.credential_ids_of_tags(day, tags)
            except VaultError:
                ids = [None] * len(tags)
            for key, cid in zip(tags, ids, strict=True):
                if cid is None:
                    damaged.append(key)
                else:
                    named[key] = None if cid in self.case_ids else CREDENTIAL + cid
        pending = {key: sorted(by_key[key]) for key in damaged}
        while pending:
            firsts = {key: rows[0] for key, rows in pending.items()}
            opened = {scan.row_id: scan for scan in self._open(list(firsts.values()))}
            left: dict[bytes, list[_Row]] = {}
            for key, row in firsts.items():
                scan = opened.get(row[0])
                if scan is not None:
                    cid = scan.credential_id
                    named[key] = None if cid in self.case_ids else CREDENTIAL + cid
                elif len(pending[key]) > 1:
                    left[key] = pending[key][1:]
                else:
                    named[key] = None
            pending = left
        return named

    def _open(self, rows: list[_Row]) -> list[Scan]:
        """The scans of ``rows`` read from their opened records (the rows without index)."""
        if not rows:
            return []
        ids = [row[0] for row in rows]
        sealed = _sealed_of(ids)
        items = [(bytes(row[1]), row[2], sealed.get(row[0], b"")) for row in rows]
        scans: list[Scan] = []
        for row, wire in zip(rows, self.keys.open_many(items), strict=True):
            self.opened += 1
            if isinstance(wire, VaultError):
                self.unreadable += 1
                self.failed.add(row[0])
                continue
            try:
                door, credential_id, code_type = visit_fields(wire)
            except ProtocolError:
                self.unreadable += 1
                self.failed.add(row[0])
                continue
            scans.append(Scan(row[0], row[3], row[4], door, credential_id, code_type))
        return scans

    def _code_types(
        self, case_stays: Sequence[Stay], pairs: list[_Pair]
    ) -> dict[int, int | VaultError]:
        """Unmask the code types of the rows read from the index that opened ``case_stays``
        and the exposed stays of ``pairs``: one AES call per day."""
        masked, known = self.masked, self.known
        by_day: dict[int, list[_Row]] = {}
        rows = [masked[s.scan.row_id] for s in case_stays if s.scan.row_id in masked]
        rows.extend([pair[3] for pair in pairs if pair[3][0] not in known])
        for row in rows:  # a row in two pairs is unmasked twice: the same answer
            group = by_day.get(row[2])
            if group is None:
                by_day[row[2]] = [row]
            else:
                group.append(row)
        out: dict[int, int | VaultError] = {}
        unmask = self.keys.unmask
        for day, group in by_day.items():
            ids = [row[0] for row in group]
            try:
                codes = unmask(day, [row[1] for row in group], [row[7] for row in group])
            except VaultError as exc:
                out.update(dict.fromkeys(ids, exc))
                continue
            out.update(zip(ids, codes, strict=True))
        return out

    def exposures(
        self, case_stays: tuple[Stay, ...], pairs: list[_Pair], vault: Vault
    ) -> tuple[tuple[Stay, ...], tuple[Exposure, ...]]:
        """The case stays and exposures, code types unmasked (one batch), handles sealed."""
        known = self.known
        codes = self._code_types(case_stays, pairs)
        case_stays = tuple(
            _new(Stay, (_new(Scan, (*stay[0][:5], codes[stay[0][0]])), *stay[1:]))
            if stay[0][0] in codes
            else stay
            for stay in case_stays
        )
        first_row = self.first_row
        handles = dict(zip(first_row, vault.seal_handles(list(first_row.values())), strict=True))
        cases = [(stay[1], stay[2]) for stay in case_stays]
        names = _CODE_NAMES
        ranked: list[tuple[int, int, str, str, int, Exposure]] = []
        append = ranked.append
        for shared, index, key, row, start, end, by_exit in pairs:
            code = codes.get(row[0])
            if code is None:
                code = known[row[0]]  # read from its opened record
            name = names.get(code)
            if name is None:
                if isinstance(code, VaultError):
                    continue  # its day key went away during the call: nothing is guessed
                name = str(code)
            handle = handles[key]
            case_start, case_end = cases[index]
            venue_id = row[3]
            exposure = (
                venue_id,
                case_start,
                case_end,
                start,
                end,
                shared / 1000,
                name,
                handle,
                by_exit,
            )
            # by overlap (longest first), then exposed start, venue, handle, case stay:
            # two pairs never tie (one visitor's stays at a venue start apart)
            append((-shared, start, venue_id, handle, index, _new(Exposure, exposure)))
        ranked.sort()
        return case_stays, tuple([item[5] for item in ranked])

    def answer(
        self,
        case_stays: tuple[Stay, ...],
        exposures: tuple[Exposure, ...],
        venues: tuple[str, ...],
        clock: _Clock,
        rows_read: int,
    ) -> ExposureList:
        return ExposureList(
            case_stays,
            exposures,
            self.opened,
            self.unreadable,
            venues,
            *clock.split(),
            rows_read=rows_read,
        )


#: The doors a stored ``door`` column may name (anything else: open the record).
_DOORS = frozenset(DOORS)


def _sealed_of(row_ids: list[int]) -> dict[int, bytes]:
    """The sealed records of some rows (those the index cannot answer for)."""
    db = CheckinEntry._meta.database
    found: dict[int, bytes] = {}
    for at in range(0, len(row_ids), _IDS_PER_QUERY):
        part = row_ids[at : at + _IDS_PER_QUERY]
        marks = ", ".join([db.param] * len(part))
        sql = f'SELECT "id", "sealed" FROM "checkin" WHERE "id" IN ({marks})'
        for row_id, sealed in db.execute_sql(sql, part).fetchall():
            found[row_id] = bytes(sealed)
    return found


def _stays(
    key: bytes,
    rows: list[_Row],
    venues: dict[str, tuple[int, list[tuple[int, int, int]]]],
    settings: TraceSettings,
) -> Iterator[tuple[_Row, int, int, bool]]:
    """The stays of one visitor with several scans: (opening row, start, end, by exit).

    By aggregator/trace/stays.py's rules, at each of the case's ``venues`` apart (a
    lone scan at a venue inline, as in :meth:`_Reader.pairs`).
    """
    at_venue: dict[str, list[_Row]] = {}
    for row in rows:
        if row[3] in venues:
            at_venue.setdefault(row[3], []).append(row)
    for venue_id, here in at_venue.items():
        if len(here) == 1:
            row = here[0]
            at, default_ms = row[4], venues[venue_id][0]
            if row[6] == EXIT:
                yield row, at - default_ms, at, True
            else:
                yield row, at, at + default_ms, False
            continue
        by_id = {row[0]: row for row in here}
        scans = [_new(Scan, (row[0], venue_id, row[4], row[6], key, -1)) for row in here]
        scans.sort(key=_placed_then_id)
        for stay in stays_at_one_venue(scans, settings):
            yield by_id[stay.scan.row_id], stay.start_ms, stay.end_ms, stay.by_exit


def _placed_then_id(scan: Scan) -> tuple[int, int]:
    return scan.placed_ms, scan.row_id
