"""The read API: a Flask application factory with one blueprint per area."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify

from protocol import keys

from .db import BlockEntry, CheckinEntry, KioskEntry, database_proxy, open_database

ledger_api = Blueprint("ledger", __name__, url_prefix="/v1")
health_api = Blueprint("health", __name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; ``DATABASE_URL`` in the config names the ledger database."""
    app = Flask(__name__)
    app.config.from_mapping(DATABASE_URL="sqlite:///safecode-aggregator.sqlite")
    app.config.from_prefixed_env("SAFECODE")
    if test_config:
        app.config.from_mapping(test_config)
    open_database(app.config["DATABASE_URL"]).close()

    @app.before_request
    def _connect() -> None:
        database_proxy.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        if not database_proxy.is_closed():
            database_proxy.close()

    app.register_blueprint(ledger_api)
    app.register_blueprint(health_api)
    return app


def _latest_block() -> BlockEntry | None:
    return BlockEntry.select().order_by(BlockEntry.height.desc()).first()


@ledger_api.get("/checkpoint")
def checkpoint() -> Response:
    """The latest signed checkpoint (C2SP signed note, text/plain)."""
    block = _latest_block()
    if block is None:
        abort(404, description="no block has been sealed yet")
    return Response(block.checkpoint, mimetype="text/plain; charset=utf-8")


@ledger_api.get("/blocks/<int:height>")
def block(height: int) -> Response:
    """One block: its signed header (base64 CBOR), hash, tree size, root and checkpoint."""
    entry = BlockEntry.get_or_none(BlockEntry.height == height)
    if entry is None:
        abort(404, description=f"no block {height}")
    return jsonify(
        height=entry.height,
        tree_size=entry.tree_size,
        root=bytes(entry.root).hex(),
        block_hash=bytes(entry.block_hash).hex(),
        header=base64.b64encode(bytes(entry.wire)).decode("ascii"),
        checkpoint=entry.checkpoint,
    )


@ledger_api.get("/kiosks")
def kiosks() -> Response:
    """The kiosk registry: ids, venues, device keys as did:key, last status. No visitors."""
    rows = KioskEntry.select().order_by(KioskEntry.kiosk_id)
    return jsonify(
        kiosks=[
            {
                "kiosk_id": k.kiosk_id,
                "venue_id": k.venue_id,
                "device_key": keys.did_key(bytes(k.device_key)),
                "retired": k.retired,
                "status": k.last_status,
            }
            for k in rows
        ]
    )


@health_api.get("/healthz")
def healthz() -> Response:
    """Liveness and the ledger's size."""
    block = _latest_block()
    unsealed = CheckinEntry.select().where(CheckinEntry.leaf_index.is_null()).count()
    return jsonify(
        ok=True,
        blocks=0 if block is None else block.height + 1,
        tree_size=0 if block is None else block.tree_size,
        unsealed=unsealed,
    )
