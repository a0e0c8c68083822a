"""Kiosk blueprint: the public registry, and fleet status for operators. No visitor data."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify

from protocol import keys
from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id

from ..db import KioskEntry
from . import params
from .errors import ApiError, bad_request
from .fleet import fleet, kiosk_status, parse_heartbeat
from .operator import require_operator

kiosks_api = Blueprint("kiosks", __name__, url_prefix="/v1")


@kiosks_api.get("/kiosks")
def kiosks() -> Response:
    """The kiosk registry: ids, venues, device keys as did:key, last state."""
    params.only_params()
    rows = KioskEntry.select().order_by(KioskEntry.kiosk_id)
    return jsonify(
        kiosks=[
            {
                "kiosk_id": k.kiosk_id,
                "venue_id": k.venue_id,
                "device_key": keys.did_key(bytes(k.device_key)),
                "retired": k.retired,
                "status": parse_heartbeat(k.last_status).get("state"),
            }
            for k in rows
        ]
    )


@kiosks_api.get("/kiosks/status")
@require_operator
def status() -> Response:
    """Fleet status from heartbeats (operators only): online, queues, oldest unsent, clock.

    Which venues are open and how busy they are is the operator's business, not the
    public's; the registry of device keys above stays public for auditors.
    """
    params.only_params()
    offline_after_ms = int(current_app.config["OFFLINE_AFTER_S"] * 1000)
    now_ms = int(time.time() * 1000)
    items = fleet(now_ms, offline_after_ms)
    return jsonify(
        now_ms=now_ms,
        offline_after_s=current_app.config["OFFLINE_AFTER_S"],
        online=sum(k.online for k in items),
        kiosks=[k.to_json() for k in items],
    )


@kiosks_api.get("/kiosks/<kiosk_id>/status")
@require_operator
def one_status(kiosk_id: str) -> Response:
    """One kiosk's status (operators only): what provisioning polls while it waits.

    Retired kiosks answer too (``retired: true``), so a technician sees why one is silent.
    """
    params.only_params()
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError as exc:
        bad_request("bad_kiosk_id", str(exc))
    entry = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
    if entry is None:
        raise ApiError(404, "unknown_kiosk", f"no kiosk {kiosk_id} is enrolled")
    now_ms = int(time.time() * 1000)
    item = kiosk_status(entry, now_ms, int(current_app.config["OFFLINE_AFTER_S"] * 1000))
    return jsonify(now_ms=now_ms, retired=bool(entry.retired), **item.to_json())
