"""Identifier syntax shared by topics, records and the registry, and the reserved ids."""

from __future__ import annotations

import re

from .errors import MalformedError

# Safe inside an MQTT topic level, a file name and a URL path segment.
KIOSK_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
VENUE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
_KIOSK_ID = re.compile(KIOSK_ID_PATTERN)


def check_kiosk_id(kiosk_id: str) -> str:
    """Return ``kiosk_id`` if it is well formed, else raise MalformedError."""
    if not isinstance(kiosk_id, str) or not _KIOSK_ID.fullmatch(kiosk_id):
        raise MalformedError(
            "a kiosk id is 1-63 lowercase letters, digits or hyphens, starting with a letter "
            "or digit"
        )
    return kiosk_id


RESERVED_KIOSK_IDS = frozenset({"status"})
"""Well-formed ids that no kiosk may take: they name read API routes under /v1/kiosks/."""


def is_reserved_kiosk_id(kiosk_id: str) -> bool:
    """True if ``kiosk_id`` names a route (``/v1/kiosks/status``) rather than a kiosk."""
    return kiosk_id in RESERVED_KIOSK_IDS
