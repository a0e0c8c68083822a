"""Concurrent wallet requests: limits hold and nothing is half-written (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from flask import Flask

from aggregator.issuer.tables import BatchEntry, EnrolmentEntry, IssuedCredentialEntry
from tests.unit.test_wallet_api import Clock, Wallet, clock, make_app, url

__all__ = ["clock", "url"]  # fixtures shared with test_wallet_api

THREADS = 6


def race(app: Flask, wires: list[tuple[str, bytes]]) -> Counter[int]:
    """Post every (path, wire) at once, one thread each; the status codes seen."""
    barrier = threading.Barrier(len(wires))
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def post(path: str, wire: bytes) -> None:
        client = app.test_client()
        barrier.wait()
        response: Any = client.post(
            f"/v1/wallet/{path}", data=wire, content_type="application/cbor"
        )
        with lock:
            statuses[response.status_code] += 1

    threads = [threading.Thread(target=post, args=item) for item in wires]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_one_batch_a_day_under_concurrent_requests(url: str, clock: Clock) -> None:
    app = make_app(url, clock)
    wallet = Wallet(app.test_client(), clock)
    wallet.enrol()
    statuses = race(app, [("batch", wallet.batch_wire()) for _ in range(THREADS)])
    assert statuses == {200: 1, 429: THREADS - 1}
    assert BatchEntry.select().count() == 1
    assert IssuedCredentialEntry.select().count() == 7


def test_the_same_request_is_taken_once(url: str, clock: Clock) -> None:
    app = make_app(url, clock)
    wallet = Wallet(app.test_client(), clock)
    wire = wallet.enrol_wire()
    statuses = race(app, [("enrol", wire)] * THREADS)
    assert statuses[201] == 1 and statuses[201] + statuses[409] == THREADS
    assert EnrolmentEntry.select().count() == 1


def test_one_key_enrolling_at_once_from_many_requests(url: str, clock: Clock) -> None:
    app = make_app(url, clock)
    wallet = Wallet(app.test_client(), clock)
    statuses = race(app, [("enrol", wallet.enrol_wire()) for _ in range(THREADS)])
    assert statuses == {201: 1, 409: THREADS - 1}
    assert EnrolmentEntry.select().count() == 1


def test_delete_racing_batches_leaves_no_batch_behind(url: str, clock: Clock) -> None:
    app = make_app(url, clock)
    wallet = Wallet(app.test_client(), clock)
    wallet.enrol()
    wires = [("batch", wallet.batch_wire()) for _ in range(THREADS - 1)]
    statuses = race(app, [*wires, ("delete", wallet.delete_wire([]))])
    assert EnrolmentEntry.select().count() == 0
    assert BatchEntry.select().count() == 0  # a batch either went first and was deleted, or 404
    assert sum(statuses.values()) == THREADS and set(statuses) <= {200, 404, 429}
