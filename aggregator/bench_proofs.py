"""Benchmark: proof cost from TreeCache against recomputing from all leaves (JSON).

Run ``python -m aggregator.bench_proofs [SIZE ...]``. Both ways run in the same
process on the same synthetic tree; medians over 200 proofs (the full recompute: 3).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import statistics
import sys
import time

from protocol import merkle

from .proofs import TreeCache


def measure(n: int) -> dict[str, float]:
    packed = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n))
    cache = TreeCache()
    cache._load = lambda size: None  # type: ignore[method-assign]  # fed directly below
    start = time.perf_counter()
    cache._leaves += packed
    cache._build()
    build = time.perf_counter() - start
    inclusion, consistency = [], []
    for r in range(200):
        index = (r * 7919) % n
        start = time.perf_counter()
        cache.inclusion_proof(index, n)
        inclusion.append(time.perf_counter() - start)
        start = time.perf_counter()
        cache.consistency_proof(index + 1, n)
        consistency.append(time.perf_counter() - start)
    hashes = [packed[32 * i : 32 * i + 32] for i in range(n)]
    full = []
    for r in range(3):
        start = time.perf_counter()
        merkle.inclusion_proof(hashes, (n // 3 + r) % n)
        full.append(time.perf_counter() - start)
    cached = statistics.median(inclusion)
    return {
        "build_s": round(build, 3),
        "inclusion_ms_median": round(cached * 1000, 4),
        "consistency_ms_median": round(statistics.median(consistency) * 1000, 4),
        "full_recompute_inclusion_ms_median": round(statistics.median(full) * 1000, 1),
        "speedup": round(statistics.median(full) / cached, 1),
        "cache_bytes": len(cache._leaves) + sum(len(v) for v in cache._levels.values()),
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    out: dict[str, object] = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sizes": {str(n): measure(n) for n in sizes},
    }
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
