"""The roles a staff login may have, and what distinguishes them."""

from __future__ import annotations

OFFICIAL = "official"
VENUE = "venue"
OPERATOR = "operator"
DESK = "desk"

ROLES: tuple[str, ...] = (OFFICIAL, VENUE, OPERATOR, DESK)
"""Every role, in the order pages list them."""

VENUE_BOUND: frozenset[str] = frozenset({VENUE})
"""Roles whose accounts see only the venues bound to them (``users.set_venues``)."""
