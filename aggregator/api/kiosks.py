"""Kiosk blueprint: the public registry (ids and device keys), and fleet status for operators."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify

from . import params
from .fleet import fleet, kiosk_status
from .operator import require_operator
from .registry_view import enrolled, matching_kiosks, public_entry

kiosks_api = Blueprint("kiosks", __name__, url_prefix="/v1")


@kiosks_api.get("/kiosks")
def kiosks() -> Response:
    """The public kiosk registry: ids, device keys as did:key, retired or not.

    ``?device_key=did:key:...`` lists only the kiosks enrolled with that key. Venues and
    states are the operators' (``/v1/operator/kiosks``, ``/v1/kiosks/status``).
    """
    params.only_params("device_key")
    return jsonify(kiosks=[public_entry(k) for k in matching_kiosks()])


@kiosks_api.get("/kiosks/<kiosk_id>")
def kiosk(kiosk_id: str) -> Response:
    """One kiosk's public registry entry."""
    params.only_params()
    return jsonify(public_entry(enrolled(kiosk_id)))


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
    entry = enrolled(kiosk_id)
    now_ms = int(time.time() * 1000)
    item = kiosk_status(entry, now_ms, int(current_app.config["OFFLINE_AFTER_S"] * 1000))
    return jsonify(now_ms=now_ms, retired=bool(entry.retired), **item.to_json())
