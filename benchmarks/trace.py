"""``safecode bench trace``: the exposure list at Jeju's scale, against one bare SQL query.

``safecode bench trace --json [--rows N] [--venues N] [--days N] [--pg URL]``

Builds a synthetic ledger (default 10,000,000 check-ins over 14 days across 50,000
venues) in a fresh SQLite file and a fresh PostgreSQL schema (dropped afterwards),
with bulk inserts, not through ingest; then times :func:`aggregator.trace.exposure.
find_exposures` for a case with 20 visits (one credential per day, as a wallet's day
credentials) against ``bare_query_ms``: the same rows fetched by one hand-written
indexed SQL statement (a ``UNION ALL`` of the tag lookup and the venue windows the
engine used), in the same run. Prints one JSON object:

    {"rows", "venues", "sqlite": {"exposure_ms", "bare_query_ms", "ratio", ...},
     "postgresql": {...}, "decrypt_contacts_per_s"}

What is real and what is a stand-in, so the figures are read right:

- every row at one of the case's venues is a real check-in: a kiosk-signed record
  holding a visitor's signed presentation, sealed under its day key, tagged, as ingest
  stores it; each case visit also gets ``--contacts-per-visit`` real visits around it;
- the other rows (never opened by the engine: they lie at other venues) carry random
  bytes of a real sealed record's length as ciphertext and random tags: the tables
  and indexes have their real sizes, without signing ten million records;
- ``exposure_ms`` and ``bare_query_ms`` are medians of ``--repeat`` runs after the
  first of each (in ``cold_ms``), the two timed in turn (one list, one bare query,
  and again), on a warm cache (an official's second query);
- ``decrypt_contacts_per_s``: :func:`protocol.contact.open_contact` (HPKE to the health
  authority's X25519 key) on this machine, one core.

``build_s`` says how long the build took per database.

Measured (2026-12-03, the project's shared 2-core VM under load from other work, so
every millisecond figure is noisy; ``safecode bench trace --json --repeat 9``). Before:
the engine opened every row it read. After: it reads the index columns only and opens
the few records whose visitor's two storing days it must tell apart
(aggregator/trace/visitors.py); the bare query fetches the same rows and the same
columns (``aggregator.trace.exposure.COLUMNS``, no sealed record).

===========================  ===========  ============  ============  ============
10,000,000 rows, 50,000 v.   SQLite       PostgreSQL    SQLite        PostgreSQL
                             before       before        after         after
===========================  ===========  ============  ============  ============
load average (uptime)        (lower)      (lower)       10-12         10-12
build_s                      505          703           1114          1669
exposure_ms                  7.3          12.0          28.2          14.8
bare_query_ms                1.6          4.5           12.2          6.5
ratio                        4.5          2.65          2.32          2.27
its SQL alone / bare         1.63         1.32          1.29          1.31
rows read                    323          323           323           323
records opened               323          323           17            17
===========================  ===========  ============  ============  ============

decrypt_contacts_per_s 2,756 in the "after" run (11,612 before: the same code, a third
of the machine). Exposure lists far under 1 s on both. The ratio target (at most 2)
is met by the list's SQL but not quite by the whole list: what remains is Python work
per row read (about 330 rows: grouping, stays, pairs, 200 exposure objects) and per
day (tags and code types, one AES call each), against a bare query of milliseconds.
The after figures were taken with the machine four to eight times slower than before
(the same bare query: 1.6 -> 12.2 ms), so only the ratios compare.

Second round (2026-12-03, less Python per row read: entangled groups found by storing
day, stays and exposures as named tuples made without groups of one, one decorated
sort; day keys reused by aggregator.vault for 60 s while their rows are unchanged, with
kept ECB contexts). ``--repeat 9 --no-pg`` at 10,000,000 rows, load average 9-20 (other
helpers' benchmarks): ratio 2.62 -> 2.45 (exposure_ms 15.6 -> 14.3, bare_query_ms 6.0
-> 5.8); the split figures moved the other way between the runs (noise at this load).
Interleaved in one process at 300,000 rows (old engine, new engine, bare query in
turn, 21 rounds x 5), the new engine takes 0.57-0.89 of the old one's time on SQLite
and 0.73-0.89 on PostgreSQL; 0.65-0.81 of its CPU time. The target (ratio at most 2)
is not shown met at 10M on this loaded machine.

Third round (2026-12-03; aggregator/trace/exposure.py ``_Reader.pairs``): the other
visitors' rows grouped by visit tag in one pass (no Scan per row; venues holding two
storing days noted on the way, so :func:`entangled` sees only those), then one pass
per visitor making its stays and keeping the pairs (a lone scan's stay inline, no
Stay object unless exposed), the exposures ranked with the case stay's index as last
key; code types unmasked from the pairs' rows; tags of all days in one list. The SQL
is unchanged: three round trips (day keys, rows by tag, rows by venue window; none per
day or venue), which the dependencies need. Also this benchmark now times the list
and the bare query in turn (before: the list's block came first, right after the
build, and measured the machine's state; one such 10M run gave exposure_ms 8.96
against 2.32 + 1.43 for its own split medians a block later, ratio 5.21).

``--repeat 9 --no-pg`` at 10,000,000 rows, timed in turn, load average 7.8 -> 3.5:
build_s 314, exposure_ms 2.99, bare_query_ms 1.56, ratio 1.91 (query_ratio 1.08,
exposure_open_and_rank_ms 1.28; 17 records opened). In one process on a kept 10M
ledger (old engine, new engine, bare query in turn, 80 rounds, load 3-3.5): ratio
2.25 -> 1.91, CPU-time ratio 2.22 -> 1.89. PostgreSQL (``--no-sqlite --rows 1000000
--venues 5000``, load 3.6 -> 7.8): ratio 2.05 (query_ratio 1.50: three round trips
over TCP against one; the Python work is 1.01 ms of 5.57); in one process on a kept
1M PostgreSQL ledger (the three in turn, 80 rounds, load 6.5): ratio 1.85 -> 1.58.

Fourth round (2026-12-03; the engine in aggregator/trace/exposure.py): the 17 records
the 10M case opened to tell two storing days' visitors apart are no longer opened (nor
read: one query fewer). A visit tag is AES of the credential id's block under the day's
tag key, so that key turns the tag back into the id (aggregator.vault
``credential_ids_of_tags``, one AES call per day; a damaged tag still falls back to its
record). The day keys read a moment ago give the case's tags at once, and their rows are
read again in the case's statement to check them (a key changed since: read again), one
round trip fewer. ``--repeat 15`` at 10,000,000 rows, 50,000 venues, on a quiet machine
(load 1.0 to 1.6), before and after, each run's own bare query:

===========================  ===========  ============  ============  ============
10,000,000 rows, 50,000 v.   SQLite       PostgreSQL    SQLite        PostgreSQL
                             before       before        after         after
===========================  ===========  ============  ============  ============
exposure_ms                  2.74         3.22          2.54          2.81
bare_query_ms                1.39         1.53          1.37          1.57
ratio                        1.98         2.10          1.86          1.79
query_ratio                  1.11         1.29          1.11          1.19
exposure_open_and_rank_ms    1.16         1.19          0.97          0.86
records opened               17           17            0             0
===========================  ===========  ============  ============  ============

A run between these two (load 1.2 to 1.6) gave 1.82 on SQLite (its bare query 2.11 ms:
a noisy moment) and 1.80 on PostgreSQL; at 1,000,000 rows and 5,000 venues, 1.77 and
1.64. What is left over the bare query is Python work per row read and per exposure
(about 0.6 ms for 323 rows and 204 exposures) and, on PostgreSQL, the second statement.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import click
import peewee
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.db import connect_database
from aggregator.ingest import ENTRY_COLUMNS
from aggregator.models_base import database_proxy
from aggregator.tables import CheckinEntry, KioskEntry
from aggregator.trace.exposure import COLUMNS, find_exposures
from aggregator.trace.settings import TraceSettings
from aggregator.vault import DAY_MS, Vault, day_of
from protocol import keys
from protocol.checkin import ClockState, sign_checkin
from protocol.contact import Contact, new_notify_secret, open_contact, seal_contact
from protocol.credential import issue_credential
from protocol.presentation import CodeType, present

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
#: 2026-01-05 00:00 UTC: the synthetic fortnight starts here.
START_DAY = 20_458
MINUTE_MS = 60_000
#: Rows per bulk INSERT / COPY chunk.
CHUNK = 50_000
#: The settings the bench traces with (a real deployment's [trace] table may differ).
SETTINGS = TraceSettings(default_stay_minutes=60, max_stay_minutes=240, min_overlap_minutes=15)


@dataclass
class Plan:
    """What to build: sizes and the case."""

    rows: int
    venues: int
    days: int
    case_visits: int
    contacts_per_visit: int
    seed: int


class Town:
    """Keys, visitors and the case; makes real sealed check-ins."""

    def __init__(self, plan: Plan, vault: Vault) -> None:
        self.plan = plan
        self.vault = vault
        self.rng = random.Random(plan.seed)
        self.issuer = keys.generate()
        self.device = keys.generate()  # one device key for every kiosk: signing is not measured
        self.device_public = keys.public_bytes(self.device)
        self.start_ms = START_DAY * DAY_MS
        self.end_ms = self.start_ms + plan.days * DAY_MS
        self.visitors = [self._wallet() for _ in range(500)]
        #: One credential per day, as a wallet's day credentials.
        self.case = [self._wallet() for _ in range(plan.days)]
        venues = self.rng.sample(range(plan.venues), plan.case_visits)
        self.case_visits = sorted(
            (self.rng.randrange(self.start_ms, self.end_ms - 3 * 3_600_000), venue)
            for venue in venues
        )
        self.case_venues = {venue for _, venue in self.case_visits}
        self.seq: dict[int, int] = {}

    def _wallet(self) -> tuple[Any, Any]:
        key = keys.generate()
        not_before = self.start_ms // 1000 - 86_400
        credential = issue_credential(
            self.issuer,
            keys.public_bytes(key),
            not_before=not_before,
            not_after=not_before + 60 * 86_400,
        )
        return key, credential

    def real_row(self, venue: int, placed_ms: int, wallet: tuple[Any, Any]) -> tuple[Any, ...]:
        """A real check-in row at ``venue`` (its kiosk ``k{venue}``), sealed and tagged."""
        kiosk = f"k{venue}"
        seq = self.seq[venue] = self.seq.get(venue, 0) + 1
        checkin_id = self.rng.randbytes(16)
        code = present(wallet[0], wallet[1], now=placed_ms // 1000)
        wire = sign_checkin(
            self.device,
            checkin_id=checkin_id,
            kiosk_id=kiosk,
            venue_id=f"v{venue}",
            seq=seq,
            door="entrance",
            scanned_ms=placed_ms,
            clock=ClockState(True, bytes(16), placed_ms),
            presentation=code.to_bytes(),
        )
        columns = CheckinEntry.visit_columns(
            checkin_id, wire, placed_ms, self.vault, wallet[1].credential_id, CodeType.CHECKIN
        )
        return _row(
            checkin_id,
            kiosk,
            seq,
            columns["commit"],
            columns["day"],
            columns["sealed"],
            placed_ms,
            f"v{venue}",
            columns["visit_tag"],
            columns["code_mark"],
            self.rng.randbytes(32),
        )


def _row(
    checkin_id: bytes,
    kiosk: str,
    seq: int,
    commit: bytes,
    day: int,
    sealed: bytes,
    placed_ms: int,
    venue: str,
    tag: bytes,
    mark: int,
    noise: bytes,
) -> tuple[Any, ...]:
    """A row in ``_COLUMNS`` order."""
    return (
        checkin_id,
        kiosk,
        seq,
        noise,  # presentation_hash: unique, reveals nothing
        commit,
        day,
        sealed,
        noise[::-1],  # leaf_hash
        placed_ms,
        placed_ms,
        bytes(16),
        placed_ms,
        placed_ms,
        "clock",
        venue,
        tag,
        "entrance",
        mark,
    )


#: The table columns a new check-in row fills, in ingest's order (ingest.ENTRY_COLUMNS).
_COLUMNS = tuple(CheckinEntry._meta.fields[name].column_name for name in ENTRY_COLUMNS)


def generate(town: Town, sealed_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Every row of the ledger in chunks: the case, its contacts, the town around it."""
    plan, rng = town.plan, town.rng
    real: list[tuple[Any, ...]] = []
    for placed_ms, venue in town.case_visits:
        day = (placed_ms - town.start_ms) // DAY_MS
        real.append(town.real_row(venue, placed_ms, town.case[day]))
        for _ in range(plan.contacts_per_visit):
            at = placed_ms + rng.randrange(-50, 50) * MINUTE_MS
            real.append(town.real_row(venue, at, rng.choice(town.visitors)))
    yield real
    filler = plan.rows - len(real)
    noise = os.urandom(sealed_size + 4096)
    made = 0
    while made < filler:
        count = min(CHUNK, filler - made)
        rows = []
        rand = os.urandom(count * 80)
        for n in range(count):
            venue = rng.randrange(plan.venues)
            placed_ms = rng.randrange(town.start_ms, town.end_ms)
            if venue in town.case_venues:  # every visit at a case venue is real
                rows.append(town.real_row(venue, placed_ms, rng.choice(town.visitors)))
                continue
            seq = town.seq[venue] = town.seq.get(venue, 0) + 1
            at = 80 * n
            offset = rng.randrange(4096)
            rows.append(
                _row(
                    rand[at : at + 16],
                    f"k{venue}",
                    seq,
                    rand[at + 16 : at + 48],
                    day_of(placed_ms),
                    noise[offset : offset + sealed_size],
                    placed_ms,
                    f"v{venue}",
                    rand[at + 48 : at + 64],
                    rand[at + 64],  # a masked code type looks like any byte
                    rand[at + 48 : at + 80] + bytes(16),
                )
            )
        made += count
        yield rows


def _sqlite_load(db: peewee.Database, chunks: Iterator[list[tuple[Any, ...]]]) -> None:
    names = ", ".join(f'"{name}"' for name in _COLUMNS)
    sql = f'INSERT INTO "checkin" ({names}) VALUES ({", ".join("?" * len(_COLUMNS))})'
    db.execute_sql("PRAGMA synchronous = 0")
    conn = db.connection()
    for rows in chunks:
        with db.atomic():
            conn.executemany(sql, rows)


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)


def _pg_load(db: peewee.Database, chunks: Iterator[list[tuple[Any, ...]]]) -> None:
    names = ", ".join(f'"{name}"' for name in _COLUMNS)
    conn = db.connection()
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
    for rows in chunks:
        text = io.StringIO("".join("\t".join(_copy_text(v) for v in row) + "\n" for row in rows))
        with conn.cursor() as cur:
            cur.copy_expert(f'COPY "checkin" ({names}) FROM STDIN', text)
        conn.commit()


def _checkin_indexes(db: peewee.Database) -> list[str]:
    if isinstance(db, peewee.PostgresqlDatabase):
        rows = db.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'checkin' AND indexname <> 'checkin_pkey'"
        ).fetchall()
    else:
        rows = db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'checkin'"
            " AND sql IS NOT NULL"
        ).fetchall()
    return [name for (name,) in rows]


def build(db: peewee.Database, town: Town) -> float:
    """Fill the empty ledger ``db``; seconds taken (indexes dropped, loaded, rebuilt)."""
    began = time.perf_counter()
    plan = town.plan
    with database_proxy.bound_to(db):
        kiosks = [
            {
                "kiosk_id": f"k{v}",
                "venue_id": f"v{v}",
                "device_key": town.device_public,
                "enrolled_ms": 0,
            }
            for v in range(plan.venues)
        ]
        with db.atomic():
            for batch in peewee.chunked(kiosks, 2000):
                KioskEntry.insert_many(batch).execute()
        for day in range(START_DAY - 1, START_DAY + plan.days + 1):
            town.vault.seal(b"\x00" * 16, b"", day)  # make the day keys in this database
        for name in _checkin_indexes(db):
            db.execute_sql(f'DROP INDEX "{name}"')
        sealed_size = len(town.real_row(0, town.start_ms, town.visitors[0])[6])
        town.seq.clear()
        chunks = generate(town, sealed_size)
        if isinstance(db, peewee.PostgresqlDatabase):
            _pg_load(db, chunks)
        else:
            _sqlite_load(db, chunks)
        CheckinEntry._schema.create_indexes(safe=True)
        db.execute_sql("ANALYZE")
    return time.perf_counter() - began


def _bare_sql(db: peewee.Database, tags: list[bytes], windows: list[tuple[str, int, int]]) -> str:
    param = "%s" if isinstance(db, peewee.PostgresqlDatabase) else "?"
    columns = f'{", ".join(COLUMNS)} FROM "checkin"'  # what the engine reads
    by_tag = (
        f"SELECT {columns} WHERE visit_tag IN ({', '.join([param] * len(tags))})"
        f" AND placed_ms >= {param} AND placed_ms < {param}"
    )
    ranges = " OR ".join(
        f"(venue_id = {param} AND placed_ms >= {param} AND placed_ms < {param})" for _ in windows
    )
    return f"{by_tag} UNION ALL SELECT {columns} WHERE {ranges}"


def _timed(run: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    out = run()
    return out, (time.perf_counter() - began) * 1000


def measure(db: peewee.Database, town: Town, repeat: int) -> dict[str, Any]:
    """Time the exposure list and the bare query on the built ledger ``db``.

    After one cold run of each, the two are timed in turn, ``repeat`` rounds: both
    see the same machine (a shared VM, and one still writing the build back to disk),
    where timing one block after the other measured whichever came first, the list,
    in worse conditions (its median 2.4x the sum of its own split medians, taken in a
    block later, in one 10M run).
    """
    ids = [credential.credential_id for _, credential in town.case]
    start, end = town.start_ms, town.end_ms
    with database_proxy.bound_to(db):

        def exposure() -> Any:
            return find_exposures(ids, start, end, vault=town.vault, settings=SETTINGS)

        found, exposure_cold = _timed(exposure)
        # The same rows: the tags the engine computes and the windows it reads.
        reach = SETTINGS.max_stay_ms
        days = range(day_of(start - reach - 60_000), day_of(end + reach) + 8)
        tags = list(town.vault.lookup_tags(list(days), ids))
        from aggregator.trace.exposure import _windows  # the engine's own windows

        windows = _windows(found.case_stays, reach)
        sql = _bare_sql(db, tags, windows)
        params: list[Any] = [*tags, start - reach, end + reach]
        for window in windows:
            params.extend(window)

        def bare() -> list[Any]:
            return db.execute_sql(sql, params).fetchall()

        bare_rows, bare_cold = _timed(bare)
        times: list[float] = []
        bare_times: list[float] = []
        splits = []
        for _ in range(repeat):
            listed, took = _timed(exposure)
            times.append(took)
            splits.append(listed)
            bare_times.append(_timed(bare)[1])
        exposure_ms = statistics.median(times)
        bare_ms = statistics.median(bare_times)
        query_ms = statistics.median(f.query_s for f in splits) * 1000
        work_ms = statistics.median(f.work_s for f in splits) * 1000
    return {
        "exposure_ms": round(exposure_ms, 2),
        "bare_query_ms": round(bare_ms, 2),
        "ratio": round(exposure_ms / bare_ms, 2) if bare_ms else None,
        "cold_ms": {"exposure": round(exposure_cold, 2), "bare_query": round(bare_cold, 2)},
        # Where the exposure list's time goes: its SQL (day keys, tag lookup, venue
        # windows) and the rest (opening records, stays, pairs), medians.
        "exposure_query_ms": round(query_ms, 2),
        "exposure_open_and_rank_ms": round(work_ms, 2),
        "query_ratio": round(query_ms / bare_ms, 2) if bare_ms else None,
        "case_stays": len(found.case_stays),
        "exposures": len(found.exposures),
        "distinct_exposed": len({e.handle for e in found.exposures}),
        "rows_read": found.rows_read,
        "rows_opened": found.rows_opened,
        "bare_query_rows": len(bare_rows),
        "unreadable": found.unreadable,
    }


def decrypt_contacts_per_s(count: int = 400) -> float:
    """How many sealed contacts :func:`open_contact` opens per second here."""
    key = X25519PrivateKey.generate()
    blobs = [
        seal_contact(key.public_key(), Contact(f"+8210{n:08d}", "ko", new_notify_secret()))
        for n in range(count)
    ]
    began = time.perf_counter()
    for blob in blobs:
        open_contact(key, blob)
    return count / (time.perf_counter() - began)


def _pg_schema(url: str) -> tuple[str, str]:
    import psycopg2

    schema = f"bench_trace_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    conn.close()
    parts = urlparse(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"-csearch_path={schema}"
    return urlunparse(parts._replace(query=urlencode(query))), schema


def _drop_pg_schema(url: str, schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def run_one(url: str, plan: Plan, repeat: int) -> dict[str, Any]:
    """Build a ledger at ``url`` (empty) and measure it."""
    town = Town(plan, Vault(os.urandom(32)))
    db = connect_database(url)
    try:
        built = build(db, town)
        result = measure(db, town, repeat)
    finally:
        db.close()
    return {"build_s": round(built, 1), **result}


@click.command("trace")
@click.option("--rows", default=10_000_000, show_default=True, help="Check-ins in the ledger.")
@click.option("--venues", default=50_000, show_default=True, help="Venues (one kiosk each).")
@click.option("--days", default=14, show_default=True, help="Days the check-ins span.")
@click.option("--case-visits", default=20, show_default=True, help="Visits of the case.")
@click.option(
    "--contacts-per-visit",
    default=10,
    show_default=True,
    help="Real visits placed within 50 min of each case visit.",
)
@click.option("--repeat", default=5, show_default=True, help="Timed runs (median) per figure.")
@click.option("--pg", "pg_url", default=DEFAULT_PG, show_default=True, help="PostgreSQL URL.")
@click.option("--no-pg", is_flag=True, help="SQLite only.")
@click.option("--no-sqlite", is_flag=True, help="PostgreSQL only.")
@click.option(
    "--dir", "work_dir", type=click.Path(file_okay=False), help="Where the SQLite file goes."
)
@click.option("--seed", default=12, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the only output form).")
def trace_command(
    rows: int,
    venues: int,
    days: int,
    case_visits: int,
    contacts_per_visit: int,
    repeat: int,
    pg_url: str,
    no_pg: bool,
    no_sqlite: bool,
    work_dir: str | None,
    seed: int,
    as_json: bool,
) -> None:
    """Exposure list vs one bare indexed query, on SQLite and PostgreSQL (see the module)."""
    del as_json  # JSON is the only output
    if not 1 <= case_visits <= venues:
        raise click.BadParameter("must lie between 1 and --venues", param_hint="--case-visits")
    if days < 1 or repeat < 1 or contacts_per_visit < 0:
        raise click.BadParameter("--days and --repeat must be at least 1")
    minimum = case_visits * (contacts_per_visit + 1)
    if rows < minimum:
        raise click.BadParameter(f"at least {minimum} for this case", param_hint="--rows")
    plan = Plan(rows, venues, days, case_visits, contacts_per_visit, seed)
    result: dict[str, Any] = {"rows": rows, "venues": venues, "days": days}
    if not no_sqlite:
        with tempfile.TemporaryDirectory(dir=work_dir, prefix="bench-trace-") as folder:
            url = f"sqlite:///{Path(folder) / 'ledger.sqlite'}"
            result["sqlite"] = run_one(url, plan, repeat)
    if not no_pg:
        url, schema = _pg_schema(pg_url)
        try:
            result["postgresql"] = run_one(url, plan, repeat)
        finally:
            _drop_pg_schema(pg_url, schema)
    result["decrypt_contacts_per_s"] = round(decrypt_contacts_per_s())
    result["settings"] = {
        "default_stay_minutes": SETTINGS.default_stay_minutes,
        "max_stay_minutes": SETTINGS.max_stay_minutes,
        "min_overlap_minutes": SETTINGS.min_overlap_minutes,
    }
    click.echo(json.dumps(result))
