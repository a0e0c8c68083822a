"""Registry rows as the API shows them: public entries for verifiers, full ones for operators."""

from __future__ import annotations

import peewee
from flask import request

from protocol import keys
from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id

from ..db import KioskEntry
from .errors import ApiError, bad_request
from .fleet import parse_heartbeat


def public_entry(k: KioskEntry) -> dict[str, object]:
    """What a verifier needs: the kiosk id, its device key (did:key), whether it is retired.

    Venues and online state say where and when people gather: operators' business only.
    """
    return {
        "kiosk_id": k.kiosk_id,
        "device_key": keys.did_key(bytes(k.device_key)),
        "retired": bool(k.retired),
    }


def operator_entry(k: KioskEntry) -> dict[str, object]:
    """The public entry plus the venue and the last reported state (operators only)."""
    return {
        **public_entry(k),
        "venue_id": k.venue_id,
        "status": parse_heartbeat(k.last_status).state,
    }


def matching_kiosks() -> peewee.ModelSelect:
    """Every kiosk by id, or only those enrolled with ``?device_key=did:key:...``."""
    rows = KioskEntry.select().order_by(KioskEntry.kiosk_id)
    did = request.args.get("device_key")
    if did is None:
        return rows
    try:
        raw = keys.parse_did_key(did)
    except MalformedError as exc:
        bad_request("bad_device_key", f"device_key must be an Ed25519 did:key: {exc}")
    return rows.where(KioskEntry.device_key == raw)


def enrolled(kiosk_id: str) -> KioskEntry:
    """The kiosk's row; 400 for a malformed id, 404 for an unknown one."""
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError as exc:
        bad_request("bad_kiosk_id", str(exc))
    entry = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
    if entry is None:
        raise ApiError(404, "unknown_kiosk", f"no kiosk {kiosk_id} is enrolled")
    return entry
