"""What each role may do: the links on its home page.

The pages behind them come from other modules (tracing, venue and fleet pages, the desk,
the ledger explorer); a link whose path the app does not serve yet is shown as text
marked "not available yet", never as a broken link. A module adding a page for a role
lists it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ..accounts.roles import DESK, OFFICIAL, OPERATOR, VENUE


@dataclass(frozen=True)
class Link:
    """A page a role may open: its path and its English label (translated when shown)."""

    path: str
    label: str


EXPLORER = Link("/ledger", "The public ledger explorer")

ROLE_LINKS: dict[str, tuple[Link, ...]] = {
    OFFICIAL: (Link("/staff/cases", "Open a case and trace its contacts"), EXPLORER),
    VENUE: (Link("/staff/venues", "Your venues: kiosks, check-ins per hour, alarms"), EXPLORER),
    OPERATOR: (
        Link("/staff/fleet", "The fleet: every kiosk, backlog, clock, firmware; retire a kiosk"),
        EXPLORER,
    ),
    DESK: (Link("/staff/cards", "Print and revoke visitor cards"), EXPLORER),
}


def served(path: str) -> bool:
    """True if the app has a GET route for ``path``."""
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except RequestRedirect:
        return True
    except HTTPException:
        return False
    return True
