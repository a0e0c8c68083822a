"""Hostile messages interleaved with valid ones: each refused and counted, nothing valid lost."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import counters
from aggregator.db import CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.logs import JsonFormatter, RateLimitedLog
from aggregator.registry import enrol_kiosk, retire_kiosk
from aggregator.service import CounterFlusher
from protocol import keys, topics
from protocol.checkin import MAX_BYTES, ClockState, sign_checkin
from protocol.presentation import Presentation
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("hostile-issuer")
DEVICE_A = seeded("hostile-device-a")
DEVICE_B = seeded("hostile-device-b")
DEVICE_R = seeded("hostile-device-retired")
ROGUE = seeded("hostile-rogue")
NOW = 1_764_000_000
_ids = iter(range(1, 10**9))
_seqs = {"kiosk-a": iter(range(1, 10**9)), "kiosk-b": iter(range(1, 10**9))}


def checkin(device=DEVICE_A, kiosk="kiosk-a", venue="venue-a", *, seq=None, code=None) -> bytes:
    if code is None:
        code = enrol_visitor(ISSUER, NOW - 86_400).show(NOW).to_bytes()
    return sign_checkin(
        device,
        checkin_id=hashlib.sha256(b"h-%d" % next(_ids)).digest()[:16],
        kiosk_id=kiosk,
        venue_id=venue,
        seq=next(_seqs.setdefault(kiosk, iter(range(1, 10**9)))) if seq is None else seq,
        door="entrance",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, bytes(16), 1),
        presentation=code,
    )


def forged_visitor() -> bytes:
    shown = enrol_visitor(ISSUER, NOW - 86_400).show(NOW)
    bad = Presentation(shown.code_type, shown.credential, shown.timestamp, bytes(64))
    return checkin(code=bad.to_bytes())


TOPIC_A = topics.topic("kiosk-a", topics.CHECKIN)
TOPIC_B = topics.topic("kiosk-b", topics.CHECKIN)

#: (name, expected refusal reason, make (topic, payload))
HOSTILE = [
    ("garbage", "malformed", lambda: (TOPIC_A, b"\xff\x00garbage")),
    ("oversize", "oversize", lambda: (TOPIC_A, b"\xa1" * (MAX_BYTES + 1))),
    (
        "unknown_kiosk",
        "unknown_kiosk",
        lambda: (topics.topic("kiosk-z", "checkin"), checkin(ROGUE, "kiosk-z", seq=1)),
    ),
    (
        "retired",
        "retired_kiosk",
        lambda: (
            topics.topic("kiosk-r", "checkin"),
            checkin(DEVICE_R, "kiosk-r", "venue-r", seq=1),
        ),
    ),
    ("forged_device", "bad_signature", lambda: (TOPIC_A, checkin(ROGUE, seq=10**6))),
    ("forged_visitor", "bad_signature", lambda: (TOPIC_A, forged_visitor())),
    ("wrong_topic", "topic_mismatch", lambda: (TOPIC_B, checkin(seq=10**6 + 1))),
    ("status_leaf", "wrong_topic", lambda: (topics.topic("kiosk-a", "status"), b"{}")),
    ("foreign_topic", "malformed", lambda: ("other/topic", b"x")),
]


@pytest.fixture
def ingestor(db: peewee.Database) -> Ingestor:
    enrol_kiosk("kiosk-a", "venue-a", keys.public_bytes(DEVICE_A))
    enrol_kiosk("kiosk-b", "venue-b", keys.public_bytes(DEVICE_B))
    enrol_kiosk("kiosk-r", "venue-r", keys.public_bytes(DEVICE_R))
    retire_kiosk("kiosk-r")
    return Ingestor([ISSUER.public_key()], window=30, skew=5, now=lambda: NOW)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.one_of(st.just("valid"), st.just("replay"), st.sampled_from([h[0] for h in HOSTILE])),
        min_size=1,
        max_size=25,
    ),
    batch=st.integers(1, 8),
)
def test_every_valid_checkin_is_stored_among_hostile_ones(
    ingestor: Ingestor, plan: list[str], batch: int
) -> None:
    before = ingestor.counts
    hostile = {name: (reason, make) for name, reason, make in HOSTILE}
    valid, messages, expected = [], [], []
    for step in plan:
        if step == "valid" or (step == "replay" and not valid):
            wire = checkin(DEVICE_B, "kiosk-b", "venue-b")
            valid.append(wire)
            messages.append((TOPIC_B, wire))
            expected.append(None)
        elif step == "replay":
            messages.append((TOPIC_B, valid[-1]))  # the same wire again: a duplicate
            expected.append("duplicate")
        else:
            reason, make = hostile[step]
            messages.append(make())
            expected.append(reason)
    outcomes = []
    for start in range(0, len(messages), batch):
        outcomes += ingestor.handle_many(messages[start : start + batch])
    assert len(outcomes) == len(messages)
    for outcome, want in zip(outcomes, expected, strict=True):
        if want is None:
            assert outcome.result is Result.STORED
        elif want == "duplicate":
            assert outcome.result is Result.DUPLICATE
        else:
            assert (outcome.result, outcome.reason) == (Result.REFUSED, want)
    for wire in valid:
        assert (
            CheckinEntry.select()
            .where(CheckinEntry.commit == hashlib.sha256(wire).digest())
            .count()
            == 1
        )
    after = ingestor.counts
    refused = sum(v for k, v in (after - before).items() if k.startswith("refused:"))
    assert refused == sum(1 for want in expected if want not in (None, "duplicate"))


def test_replayed_visitor_code_under_a_new_record_is_refused(ingestor: Ingestor) -> None:
    code = enrol_visitor(ISSUER, NOW - 86_400).show(NOW).to_bytes()
    assert ingestor.handle(TOPIC_A, checkin(code=code)).result is Result.STORED
    outcome = ingestor.handle(TOPIC_A, checkin(code=code))
    assert (outcome.result, outcome.reason) == (Result.REFUSED, "replayed")


# --- counters and logs --------------------------------------------------------------------


def test_counts_reach_the_shared_counter_table_once(ingestor: Ingestor) -> None:
    flusher = CounterFlusher(lambda: ingestor.counts)
    ingestor.handle(TOPIC_A, checkin())
    ingestor.handle(TOPIC_A, b"\xff")
    assert flusher.flush()
    ingestor.handle(TOPIC_A, b"\xff")
    assert flusher.flush() and flusher.flush()
    totals = counters.totals()
    assert totals["ingested"] == {"": 1}
    assert totals["refused"] == {"malformed": 2}


def test_counts_survive_a_failed_flush(ingestor: Ingestor, db: peewee.Database) -> None:
    flusher = CounterFlusher(lambda: ingestor.counts)
    ingestor.handle(TOPIC_A, b"\xff")
    counters.CounterEntry.drop_table()
    assert not flusher.flush()
    counters.CounterEntry.create_table()
    assert flusher.flush()
    assert counters.totals()["refused"] == {"malformed": 1}


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _capture() -> tuple[logging.Logger, list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    logger = logging.getLogger(f"test.ratelimit.{id(records)}")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, records


def test_rate_limited_log_writes_n_lines_then_a_summary() -> None:
    logger, records = _capture()
    clock = _Clock()
    limited = RateLimitedLog(logger, per_interval=3, interval_s=10, clock=clock)
    written = [limited.warning("bad_signature", "line %d", n) for n in range(1000)]
    assert written.count(True) == 3 and len(records) == 3
    limited.warning("malformed", "other reason")  # its own quota
    assert len(records) == 4
    clock.now = 10.5
    limited.flush()
    assert records[-1].getMessage() == "suppressed 997 similar bad_signature lines"
    assert records[-1].suppressed == 997
    assert limited.warning("bad_signature", "again")
    assert len(records) == 6


def test_summary_comes_with_the_next_line_after_the_interval() -> None:
    logger, records = _capture()
    clock = _Clock()
    limited = RateLimitedLog(logger, per_interval=1, interval_s=5, clock=clock)
    limited.warning("x", "a")
    limited.warning("x", "b")
    clock.now = 6
    limited.warning("x", "c")
    assert [r.getMessage() for r in records] == ["a", "suppressed 1 similar x lines", "c"]


def test_json_lines() -> None:
    logger, _ = _capture()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    RateLimitedLog(logger).warning("replayed", "kiosk %s: replayed", "kiosk-a", kiosk="kiosk-a")
    line = json.loads(stream.getvalue().strip())
    assert line["msg"] == "kiosk kiosk-a: replayed"
    assert (line["level"], line["reason"], line["kiosk"]) == ("warning", "replayed", "kiosk-a")
    assert line["ts"].endswith("+00:00")
