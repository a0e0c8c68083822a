"""Kiosk blueprint: the public registry, and fleet status for operators. No visitor data."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, request

from protocol import keys
from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id

from ..db import KioskEntry
from . import params
from .errors import ApiError, bad_request
from .fleet import fleet, kiosk_status, parse_heartbeat
from .operator import require_operator

kiosks_api = Blueprint("kiosks", __name__, url_prefix="/v1")


def _registry_entry(k: KioskEntry) -> dict[str, object]:
    return {
        "kiosk_id": k.kiosk_id,
        "venue_id": k.venue_id,
        "device_key": keys.did_key(bytes(k.device_key)),
        "retired": k.retired,
        "status": parse_heartbeat(k.last_status).state,
    }


@kiosks_api.get("/kiosks")
def kiosks() -> Response:
    """The kiosk registry: ids, venues, device keys as did:key, last state.

    ``?device_key=did:key:...`` lists only the kiosks enrolled with that key.
    """
    params.only_params("device_key")
    rows = KioskEntry.select().order_by(KioskEntry.kiosk_id)
    did = request.args.get("device_key")
    if did is not None:
        try:
            raw = keys.parse_did_key(did)
        except MalformedError as exc:
            bad_request("bad_device_key", f"device_key must be an Ed25519 did:key: {exc}")
        rows = rows.where(KioskEntry.device_key == raw)
    return jsonify(kiosks=[_registry_entry(k) for k in rows])


@kiosks_api.get("/kiosks/<kiosk_id>")
def kiosk(kiosk_id: str) -> Response:
    """One kiosk's registry entry (public, like the whole registry)."""
    params.only_params()
    return jsonify(_registry_entry(_enrolled(kiosk_id)))


def _enrolled(kiosk_id: str) -> KioskEntry:
    """The kiosk's row; 400 for a malformed id, 404 for an unknown one."""
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError as exc:
        bad_request("bad_kiosk_id", str(exc))
    entry = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
    if entry is None:
        raise ApiError(404, "unknown_kiosk", f"no kiosk {kiosk_id} is enrolled")
    return entry


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
    entry = _enrolled(kiosk_id)
    now_ms = int(time.time() * 1000)
    item = kiosk_status(entry, now_ms, int(current_app.config["OFFLINE_AFTER_S"] * 1000))
    return jsonify(now_ms=now_ms, retired=bool(entry.retired), **item.to_json())
