"""Benchmark: exposure notices on a real SQLite ledger (lab figure, JSON).

Run ``python -m benchmarks.notices [--notices N] [--tags T]``. Publishes one notice of
MAX_TAGS tags (audit entry, padding, row) and N - 1 notices of T tags each through
``aggregator.notices.publish``, then reads ``GET /v1/notices`` through the Flask app:
the list built from the rows (cold), the same version again (the app's cached body),
and a revalidation answered 304 from the ETag. Costs are put against a baseline of the
same run: ``json.dumps`` of the same list, i.e. what the answer costs to serialise
alone. The wallet's side (matching in the browser) is
``node wallet/scripts/notices.mjs N T``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aggregator.db import open_database
from aggregator.notices import publish, published
from aggregator.web import create_app
from benchmarks.util import machine_info
from protocol.notice import MAX_TAGS, new_notice_id, random_tags

RUNS = 15
GUIDANCE = {
    "ko": ("증상을 살펴 주세요. " * 20).strip(),
    "en": ("Watch for symptoms. " * 20).strip(),
}


def _median_ms(action: Callable[[], Any], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def _publish(count: int, now: float) -> None:
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    earlier = time.strftime("%Y-%m-%d", time.gmtime(now - 3 * 86_400))
    publish(
        case=bytes(16),
        actor="bench",
        role="official",
        reason="benchmark",
        notice_id=new_notice_id(),
        tags=random_tags(count),
        from_day=earlier,
        to_day=today,
        guidance={
            "ko": ("증상을 살펴 주세요. " * 20).strip(),
            "en": ("Watch for symptoms. " * 20).strip(),
        },
    )


def notice_figures(notices: int, tags: int, folder: Path) -> dict[str, Any]:
    """Publish ``notices`` notices (the first with MAX_TAGS tags) and time the list."""
    url = f"sqlite:///{folder}/ledger.sqlite"
    db = open_database(url)
    now = time.time()
    began = time.perf_counter()
    _publish(MAX_TAGS, now)
    publish_max_ms = (time.perf_counter() - began) * 1000
    publish_ms = (
        _median_ms(lambda: _publish(tags, now), runs=max(notices - 1, 0)) if notices > 1 else 0.0
    )
    client = create_app({"DATABASE_URL": url}).test_client()
    began = time.perf_counter()
    first = client.get("/v1/notices")
    cold_ms = (time.perf_counter() - began) * 1000
    body = first.get_data()
    etag = first.headers["ETag"]
    warm_ms = _median_ms(lambda: client.get("/v1/notices"))
    revalidated = client.get("/v1/notices", headers={"If-None-Match": etag})
    revalidate_ms = _median_ms(lambda: client.get("/v1/notices", headers={"If-None-Match": etag}))
    listed = published()
    serialise_ms = _median_ms(
        lambda: json.dumps({"notices": [n.to_json() for n in listed]}, ensure_ascii=False)
    )
    db.close()
    return {
        "notices": notices,
        "tags_per_notice": tags,
        "tags_listed": sum(len(n.tags) for n in listed),
        "publish_max_tags_ms": round(publish_max_ms, 2),
        "publish_ms_median": round(publish_ms, 2),
        "body_bytes": len(body),
        "body_bytes_gzip": len(gzip.compress(body, 9)),
        "get_cold_ms": round(cold_ms, 2),
        "get_cached_ms_median": round(warm_ms, 2),
        "get_304_ms_median": round(revalidate_ms, 2),
        "status_304": revalidated.status_code,
        "serialise_ms_median": round(serialise_ms, 2),
        "get_cold_vs_serialise": round(cold_ms / serialise_ms, 2) if serialise_ms else None,
        "get_304_vs_serialise": round(revalidate_ms / serialise_ms, 2) if serialise_ms else None,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line of figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notices", description=__doc__)
    parser.add_argument("--notices", type=int, default=50, help="notices published (default 50)")
    parser.add_argument("--tags", type=int, default=40, help="tags of each but the first")
    args = parser.parse_args(argv)
    if not 1 <= args.notices <= 100_000 or not 1 <= args.tags <= MAX_TAGS:
        parser.error(f"--notices from 1 to 100000, --tags from 1 to {MAX_TAGS}")
    with tempfile.TemporaryDirectory() as folder:
        figures = notice_figures(args.notices, args.tags, Path(folder))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
