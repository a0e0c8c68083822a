"""Who is logged in, and the role and venue checks every staff page and endpoint makes.

- :func:`current_account`: the account of this request's session, or None (cached in
  ``flask.g``; a timed-out session is ended on the way).
- :func:`require_role`: a view decorator. No session: a GET goes to the login page (and
  comes back after), anything else is 401. A role not listed: 403. For a venue owner it
  then checks every venue id in the request (:data:`VENUE_PARAMS` in the path, the query
  or the form) with :func:`check_venues`, so a page cannot forget to.
- :func:`check_venues`: the helper for venue pages with other ways to name a venue
  (a JSON body, a venue looked up from a kiosk id): call it before answering.

Every refusal is counted (``api_refused``: ``login_required``, ``role_refused``,
``venue_refused``) and the 403 page says nothing about why (not "no such venue", not
"not yours").
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden, Unauthorized

from ..accounts.roles import ROLES, VENUE_BOUND
from ..accounts.sessions import SessionPolicy, resume_session
from ..accounts.users import Account
from ..api.errors import refusals

SID_KEY = "sid"
VENUE_PARAMS: tuple[str, ...] = ("venue", "venue_id", "venues", "venue_ids")
"""Request parameters that name venues: a venue owner may only name its own."""

F = TypeVar("F", bound=Callable[..., Any])


def session_policy() -> SessionPolicy:
    """Idle and absolute timeouts from the app config."""
    return SessionPolicy(
        idle_s=current_app.config["SESSION_IDLE_S"],
        absolute_s=current_app.config["SESSION_ABSOLUTE_S"],
    )


def current_account() -> Account | None:
    """The logged-in account of this request, or None."""
    if "staff_account" not in g:
        sid = session.get(SID_KEY)
        account = None
        if sid is not None:
            account = resume_session(sid, int(time.time() * 1000), session_policy())
            if account is None:  # timed out, logged out elsewhere, or disabled
                session.pop(SID_KEY, None)
                g.staff_session_ended = True
        g.staff_account = account
    return g.staff_account


class PageForbidden(Forbidden):
    """403 from a role or venue check: shown as the staff pages' HTML page, anywhere."""


class PageUnauthorized(Unauthorized):
    """401 (no session) from a role check on a POST: the staff pages' HTML page."""


def refuse(reason: str, message: str) -> None:
    """Count a refusal and answer 403 (the page shown says nothing more)."""
    refusals().count(reason, message)
    raise PageForbidden()


def _venue_ids_in_request() -> list[str]:
    found: list[str] = []
    for name in VENUE_PARAMS:
        value = (request.view_args or {}).get(name)
        if value is not None:
            found.extend(value if isinstance(value, list | tuple) else [str(value)])
        found.extend(request.args.getlist(name))
        if request.method not in ("GET", "HEAD"):
            found.extend(request.form.getlist(name))
    return found


def check_venues(account: Account, venue_ids: Iterable[str]) -> None:
    """403 unless every venue id is one a venue owner's account is bound to.

    Accounts of roles that are not venue-bound pass (their role decides what they see).
    """
    if account.role not in VENUE_BOUND:
        return
    for venue in venue_ids:
        if venue not in account.venues:
            refuse("venue_refused", f"{account.name} named a venue not theirs")


def require_role(*roles: str) -> Callable[[F], F]:
    """Decorate a view: only logged-in accounts of ``roles`` reach it (see module doc)."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_role needs roles from {ROLES}, not {sorted(unknown)}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                refusals().count("login_required", request.path)
                if request.method in ("GET", "HEAD"):
                    ended = 1 if g.get("staff_session_ended") else None
                    target = url_for(
                        "staff_pages.login", next=_local(request.full_path), ended=ended
                    )
                    return redirect(target)
                raise PageUnauthorized()
            if account.role not in roles:
                refuse("role_refused", f"{account.name} ({account.role}) at {request.path}")
            check_venues(account, _venue_ids_in_request())
            return view(*args, **kwargs)

        guarded.staff_roles = tuple(roles)  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def _local(path: str) -> str:
    return path[:-1] if path.endswith("?") else path


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/x``, never ``//host`` or a URL), else None."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(ord(c) < 33 for c in value) or len(value) > 512:
        return None
    return quote(value, safe="/?&=%-._~:@!$'()*+,;")
