"""The /metrics collector: counters written by the aggregator processes, and ledger gauges.

Everything is read from the ledger database at scrape time, so every gunicorn worker
answers the same and no multiprocess mode is needed. Stored counters (aggregator.counters)
become ``safecode_<name>_total`` with their label as ``reason`` (``kiosk`` for ``gaps``).
``ingested`` and ``sealed`` are read from the ledger's rows and are exact; the others are
flushed by each process now and then, best effort, and say so in their HELP text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import peewee
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import cosignatures, counters
from ..db import BlockEntry, CheckinEntry, KioskEntry
from ..row_counters import DERIVED
from .fleet import fleet

LABEL_NAMES = {"gaps": "kiosk"}
_GAUGES = {
    "safecode_tree_size",
    "safecode_blocks",
    "safecode_last_block_age_seconds",
    "safecode_unsealed_checkins",
    "safecode_oldest_unsealed_age_seconds",
    "safecode_kiosks",
    "safecode_kiosk_queue",
    "safecode_kiosk_oldest_unsent_seconds",
    "safecode_kiosk_last_seen_seconds",
    "safecode_witness_cosigned_tree_size",
}
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_EXACT = "exact: counted from the ledger's rows"
_BEST_EFFORT = "best effort: what a process had not flushed when it was killed is lost"


def _metric_name(name: str) -> str:
    clean = _UNSAFE.sub("_", name).strip("_").lower() or "unnamed"
    return f"safecode_{clean}"


class LedgerCollector(Collector):
    """One scrape's worth of figures."""

    def __init__(self, now: float, offline_after_s: float) -> None:
        self.now = now
        self.offline_after_s = offline_after_s

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._ledger()
        yield from self._kiosks()
        yield from self._witnesses()

    def _counters(self) -> Iterator[Metric]:
        for name, labels in sorted(counters.totals().items()):
            base = _metric_name(name)
            if base.endswith("_total"):
                base = base[: -len("_total")]
            if base in _GAUGES:
                base += "_events"
            label = LABEL_NAMES.get(name, "reason")
            help_text = f"aggregator counter {name} ({_EXACT if name in DERIVED else _BEST_EFFORT})"
            if set(labels) == {""}:
                family = CounterMetricFamily(base, help_text)
                family.add_metric([], labels[""])
            else:
                family = CounterMetricFamily(base, help_text, labels=[label])
                for value_label, value in sorted(labels.items()):
                    family.add_metric([value_label], value)
            yield family

    def _ledger(self) -> Iterator[Metric]:
        last = BlockEntry.select().order_by(BlockEntry.height.desc()).first()
        yield GaugeMetricFamily(
            "safecode_tree_size", "leaves in the ledger tree", value=last.tree_size if last else 0
        )
        yield GaugeMetricFamily(
            "safecode_blocks", "sealed ledger blocks", value=last.height + 1 if last else 0
        )
        if last is not None:
            yield GaugeMetricFamily(
                "safecode_last_block_age_seconds",
                "seconds since the last block was sealed",
                value=max(0.0, self.now - last.sealed_ms / 1000),
            )
        unsealed = CheckinEntry.select(
            peewee.fn.COUNT(CheckinEntry.id), peewee.fn.MIN(CheckinEntry.received_ms)
        ).where(CheckinEntry.leaf_index.is_null())
        count, oldest_ms = unsealed.tuples().get()
        yield GaugeMetricFamily(
            "safecode_unsealed_checkins", "verified check-ins waiting for a block", value=count
        )
        yield GaugeMetricFamily(
            "safecode_oldest_unsealed_age_seconds",
            "age of the oldest verified check-in not yet sealed (sequencer lag)",
            value=0.0 if oldest_ms is None else max(0.0, self.now - oldest_ms / 1000),
        )

    def _kiosks(self) -> Iterator[Metric]:
        now_ms = int(self.now * 1000)
        items = fleet(now_ms, int(self.offline_after_s * 1000))
        retired = KioskEntry.select().where(KioskEntry.retired == True).count()  # noqa: E712
        states = GaugeMetricFamily("safecode_kiosks", "enrolled kiosks by state", labels=["state"])
        online = sum(k.online for k in items)
        states.add_metric(["online"], online)
        states.add_metric(["offline"], len(items) - online)
        states.add_metric(["retired"], retired)
        yield states
        queue = GaugeMetricFamily(
            "safecode_kiosk_queue", "check-ins waiting in a kiosk's outbox", labels=["kiosk"]
        )
        oldest = GaugeMetricFamily(
            "safecode_kiosk_oldest_unsent_seconds",
            "age of the oldest check-in a kiosk has not had a receipt for",
            labels=["kiosk"],
        )
        seen = GaugeMetricFamily(
            "safecode_kiosk_last_seen_seconds",
            "seconds since a kiosk's last heartbeat",
            labels=["kiosk"],
        )
        for k in items:
            if k.queue is not None:
                queue.add_metric([k.kiosk_id], k.queue)
            if k.oldest_unsent_ms is not None:
                oldest.add_metric([k.kiosk_id], k.oldest_unsent_ms / 1000)
            if k.last_seen_ms is not None:
                seen.add_metric([k.kiosk_id], max(0.0, (now_ms - k.last_seen_ms) / 1000))
        yield queue
        yield oldest
        yield seen

    def _witnesses(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "safecode_witness_cosigned_tree_size",
            "largest tree size each witness has cosigned",
            labels=["witness"],
        )
        for name, size in sorted(cosignatures.latest_by_witness().items()):
            family.add_metric([name], size)
        yield family
