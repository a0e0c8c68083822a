"""The kiosk registry: enrol and retire kiosks by their device public keys."""

from __future__ import annotations

import time

from protocol import keys
from protocol.ids import check_kiosk_id, is_reserved_kiosk_id

from .db import KioskEntry


class RegistryError(ValueError):
    """An enrolment or retirement that cannot be done."""


def enrol_kiosk(kiosk_id: str, venue_id: str, device_key: bytes) -> KioskEntry:
    """Register a kiosk's device key; enrolling the same key again changes nothing."""
    check_kiosk_id(kiosk_id)
    if is_reserved_kiosk_id(kiosk_id):
        raise RegistryError(f"{kiosk_id!r} is reserved (a read API route): choose another id")
    keys.load_public(device_key)
    existing = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
    if existing is not None:
        if existing.retired:
            raise RegistryError(f"kiosk {kiosk_id} is retired; enrol it under a new id")
        if bytes(existing.device_key) != device_key or existing.venue_id != venue_id:
            raise RegistryError(f"kiosk {kiosk_id} is enrolled with another key or venue")
        return existing
    return KioskEntry.create(
        kiosk_id=kiosk_id,
        venue_id=venue_id,
        device_key=device_key,
        enrolled_ms=int(time.time() * 1000),
    )


def retire_kiosk(kiosk_id: str) -> None:
    """Refuse every later check-in signed by this kiosk."""
    updated = KioskEntry.update(retired=True).where(KioskEntry.kiosk_id == kiosk_id).execute()
    if not updated:
        raise RegistryError(f"no kiosk {kiosk_id} is enrolled")
