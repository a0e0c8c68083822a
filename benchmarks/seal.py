"""Sealing rate of the sequencer alone, on SQLite and PostgreSQL: prints one JSON line.

``python -m benchmarks.seal [--count N] [--batch-size B] [--pg URL]``

Stores N stand-in check-ins (commitment and leaf hash consistent, no signatures:
ingest is not measured here) in a fresh SQLite file and a fresh PostgreSQL schema,
then seals them all; reports check-ins sealed per second and the median block time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from urllib.parse import quote

import peewee

from aggregator.db import CheckinEntry, KioskEntry, open_database
from aggregator.sequencer import Sequencer
from protocol import keys, merkle
from protocol.block import leaf_data

ORIGIN = "bench.example/ledger"


def store_standin_checkins(
    kiosk_id: str, count: int, *, label: bytes, start: int = 0, received_ms: int = 0
) -> None:
    """Store ``count`` check-ins of an enrolled kiosk quickly (as ingest would after verifying).

    Their records are stand-ins (no signatures): commitment and leaf hash agree, so the
    ledger verifies. Ids are derived from ``label`` and the running number from ``start``.
    """
    rows = []
    for n in range(start, start + count):
        checkin_id = hashlib.sha256(b"%s-%d" % (label, n)).digest()[:16]
        commit = hashlib.sha256(b"record-%d" % n).digest()
        rows.append(
            {
                "checkin_id": checkin_id,
                "kiosk": kiosk_id,
                "seq": n + 1,
                "presentation_hash": hashlib.sha256(b"presentation-%d" % n).digest(),
                "commit": commit,
                "day": 0,
                "sealed": b"",
                "leaf_hash": merkle.leaf_hash(leaf_data(checkin_id, commit)),
                "scanned_ms": received_ms,
                "received_ms": received_ms,
            }
        )
    with CheckinEntry._meta.database.atomic():
        for batch in peewee.chunked(rows, 500):
            CheckinEntry.insert_many(batch).execute()


def _prefill(count: int) -> None:
    KioskEntry.create(
        kiosk_id="bench-kiosk",
        venue_id="bench-venue",
        device_key=keys.public_bytes(keys.generate()),
        enrolled_ms=0,
    )
    store_standin_checkins("bench-kiosk", count, label=b"bench")


def measure(url: str, count: int, batch_size: int) -> dict[str, float]:
    """Seal ``count`` stored check-ins in the empty ledger at ``url``."""
    db = open_database(url)
    try:
        _prefill(count)
        sequencer = Sequencer(keys.generate(), ORIGIN, batch_size=batch_size)
        times = []
        start = time.perf_counter()
        while True:
            t = time.perf_counter()
            if sequencer.seal() is None:
                break
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    finally:
        db.close()
    return {
        "sealed_per_s": round(count / total),
        "median_block_ms": round(statistics.median(times) * 1000, 1),
        "blocks": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    result: dict[str, object] = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "count": args.count,
        "batch_size": args.batch_size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = measure(f"sqlite:///{tmp}/ledger.sqlite", args.count, args.batch_size)
    if args.pg:
        import psycopg2

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = psycopg2.connect(args.pg, connect_timeout=5)
        admin.autocommit = True
        admin.cursor().execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in args.pg else "?"
            url = f"{args.pg}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
            result["postgres"] = measure(url, args.count, args.batch_size)
        finally:
            admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
            admin.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
