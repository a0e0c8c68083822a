"""Benchmark: proofs from stored tiles in a real SQLite ledger, against recomputing (JSON).

Run ``python -m benchmarks.proofs [SIZE ...]``. For each size a ledger file
gets SIZE synthetic sealed leaves (tiles written as the sequencer writes them, in
blocks of 1,000); then a fresh TreeCache answers 200 inclusion and 200 consistency
proofs (medians, first one included, i.e. from a cold start) and the same
inclusion proofs are recomputed from all leaves in memory (3 runs, median).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aggregator.db import CheckinEntry, KioskEntry, database_proxy, open_database
from aggregator.proofs import TreeCache
from aggregator.tiles import TileEntry, write_tiles
from protocol import merkle

BLOCK = 1000


def _fill(n: int) -> tuple[list[bytes], float]:
    """Insert ``n`` sealed leaves and their tiles; the hashes and tile-writing seconds."""
    KioskEntry.create(kiosk_id="bench", venue_id="bench", device_key=b"\0" * 32, enrolled_ms=0)
    hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]
    tile_s = 0.0
    db = database_proxy.obj
    for start in range(0, n, BLOCK):
        block = hashes[start : start + BLOCK]
        with db.atomic():
            rows = [
                {
                    "checkin_id": i.to_bytes(16, "big"),
                    "kiosk": "bench",
                    "seq": i + 1,
                    "presentation_hash": hashlib.sha256(b"p%d" % i).digest(),
                    "commit": h,
                    "day": 0,
                    "sealed": b"",
                    "leaf_hash": h,
                    "scanned_ms": 0,
                    "received_ms": 0,
                    "leaf_index": i,
                }
                for i, h in enumerate(block, start)
            ]
            for chunk in range(0, len(rows), 500):
                CheckinEntry.insert_many(rows[chunk : chunk + 500]).execute()
            began = time.perf_counter()
            write_tiles(start, start + len(block), block)
            tile_s += time.perf_counter() - began
    return hashes, tile_s


def measure(n: int, folder: Path) -> dict[str, float]:
    open_database(f"sqlite:///{folder}/bench-{n}.sqlite")
    try:
        hashes, tile_s = _fill(n)
        rng = random.Random(n)
        picks = [rng.randrange(n) for _ in range(200)]
        cache = TreeCache()
        start = time.perf_counter()
        root = cache.root(n)
        root_s = time.perf_counter() - start
        if root != merkle.root(hashes):
            raise AssertionError("the tiles do not rebuild the root")
        inclusion, consistency = [], []
        for index in picks:
            start = time.perf_counter()
            cache.inclusion_proof(index, n)
            inclusion.append(time.perf_counter() - start)
            start = time.perf_counter()
            cache.consistency_proof(index + 1, n)
            consistency.append(time.perf_counter() - start)
        full = []
        for index in picks[:3]:
            start = time.perf_counter()
            merkle.inclusion_proof(hashes, index)
            full.append(time.perf_counter() - start)
        stored = TileEntry.select().count()
        return {
            "tile_rows": stored,
            "tile_write_us_per_leaf": round(tile_s / n * 1e6, 2),
            "cold_root_ms": round(root_s * 1000, 2),
            "inclusion_ms_median": round(statistics.median(inclusion) * 1000, 3),
            "inclusion_ms_first": round(inclusion[0] * 1000, 3),
            "consistency_ms_median": round(statistics.median(consistency) * 1000, 3),
            "full_recompute_inclusion_ms_median": round(statistics.median(full) * 1000, 1),
            "speedup": round(statistics.median(full) / statistics.median(inclusion), 1),
            "nodes_rebuilt": cache.tree.rebuilt,
        }
    finally:
        database_proxy.close()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    with tempfile.TemporaryDirectory(prefix="safecode-bench-proofs-") as folder:
        out: dict[str, object] = {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sizes": {str(n): measure(n, Path(folder)) for n in sizes},
        }
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
