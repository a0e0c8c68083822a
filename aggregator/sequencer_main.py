"""A standalone sequencer process: ``python -m aggregator.sequencer_main --db URL ...``.

Seals the check-ins that ingest processes store, holding the ledger's sequencer
lock for its lifetime (a second one waits). Each sealed block is printed to
standard output as one JSON line; a deployment passes ``on_sealed`` to
:func:`serve` to publish receipts instead (see aggregator/service.py).
SIGTERM or SIGINT stops it after sealing what is due.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from protocol import keys

from .db import open_database
from .sequencer import SealedBlock, Sequencer, run_sequencer

log = logging.getLogger(__name__)


def print_block(block: SealedBlock) -> None:
    """Default ``on_sealed``: one JSON line per block on standard output."""
    line = {
        "event": "sealed",
        "t": round(time.time(), 3),
        "height": block.height,
        "tree_size": block.tree_size,
        "leaves": block.leaf_count,
        "audit_entries": block.audit_count,
        "root": block.root.hex(),
        "kiosks": sorted(block.receipts),
    }
    print(json.dumps(line), flush=True)


def serve(
    database_url: str,
    ledger_key_path: Path,
    origin: str,
    stop: threading.Event,
    on_sealed: Callable[[SealedBlock], None] = print_block,
    *,
    batch_size: int = 1000,
    max_age_s: float = 0.25,
    poll_s: float = 0.05,
) -> Sequencer:
    """Open the ledger and run the sequencer loop until ``stop`` is set; returns it (counts)."""
    open_database(database_url)
    sequencer = Sequencer(keys.load_private(ledger_key_path), origin, batch_size=batch_size)
    run_sequencer(sequencer, stop, on_sealed, max_age_s=max_age_s, poll_s=poll_s)
    return sequencer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sequencer", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="ledger database URL")
    parser.add_argument("--ledger-key", required=True, type=Path, help="ledger private key (PEM)")
    parser.add_argument("--origin", required=True, help="the ledger's origin (log name)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-age-ms", type=float, default=250.0)
    parser.add_argument("--poll-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(created).3f %(levelname)s %(message)s"
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sequencer = serve(
        args.db,
        args.ledger_key,
        args.origin,
        stop,
        batch_size=args.batch_size,
        max_age_s=args.max_age_ms / 1000,
        poll_s=args.poll_ms / 1000,
    )
    log.info("sequencer: stopped; counts %s", dict(sequencer.counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
