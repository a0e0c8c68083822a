"""Health blueprint: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

import peewee
from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ..db import CheckinEntry, database_proxy
from ..proofs import latest_block
from . import params
from .errors import refusals
from .metrics import LedgerCollector
from .operator import require_operator
from .wallet import flush_wallet_counts

health_api = Blueprint("health", __name__)


@health_api.get("/healthz")
def healthz() -> Response:
    """Liveness and the ledger's size."""
    params.only_params()
    block = latest_block()
    unsealed = CheckinEntry.select().where(CheckinEntry.leaf_index.is_null()).count()
    return jsonify(
        ok=True,
        blocks=0 if block is None else block.height + 1,
        tree_size=0 if block is None else block.tree_size,
        unsealed=unsealed,
    )


@health_api.get("/readyz")
def readyz() -> Response:
    """Ready when the ledger database answers a query."""
    params.only_params()
    try:
        database_proxy.execute_sql("SELECT 1").fetchone()
    except peewee.DatabaseError as exc:
        response = jsonify(ok=False, error="database_unavailable", message=str(exc)[:200])
        response.status_code = 503
        return response
    return jsonify(ok=True)


@health_api.get("/metrics")
@require_operator
def metrics() -> Response:
    """Prometheus text format, read from the database (the same in every gunicorn worker).

    Operators only: Prometheus sends the token with ``authorization: {credentials: ...}``.
    """
    params.only_params()
    refusals().flush(force=True)
    flush_wallet_counts(force=True)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(time.time(), current_app.config["OFFLINE_AFTER_S"]))
    response = Response(generate_latest(registry))
    # The classic text format (0.0.4), which every Prometheus version scrapes.
    response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    return response
