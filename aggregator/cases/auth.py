"""Who calls the case API: a staff session with its CSRF header, or a tool's bearer token.

- A browser (the case page) sends the staff session cookie (aggregator/pages) and the
  header ``X-CSRFToken`` with Flask-WTF's token of that session; a cookie without it is
  refused (400 ``csrf_refused``), so another site cannot make a logged-in official's
  browser open a case. The app-wide CSRF check skips ``/v1/``; this is its check here.
- A tool (``safecode trace``) logs in with ``POST /v1/staff/login`` and sends
  ``Authorization: Bearer <token>``. The token is a staff session id
  (``aggregator.accounts.sessions``): the same idle and absolute timeouts, and logging
  out, a new password or disabling the account end it at once. No cookie, no CSRF.

Refusals: no login 401 ``login_required``, a bad or ended token 401 ``bad_token``,
another role 403 ``role_refused``; all counted (``api_refused``).
"""

from __future__ import annotations

import time

from flask import current_app, g, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from ..accounts.roles import OFFICIAL
from ..accounts.sessions import resume_session
from ..accounts.users import Account
from ..api.errors import ApiError, bearer_token
from ..pages.guard import current_account, session_policy

CSRF_HEADER = "X-CSRFToken"


def token_account(token: str) -> Account:
    """The account of a bearer token (a live staff session id); 401 otherwise."""
    account = resume_session(token, int(time.time() * 1000), session_policy())
    if account is None:
        raise ApiError(401, "bad_token", "the token is not valid (log in again)")
    return account


def _cookie_account() -> Account:
    account = current_account()
    if account is None:
        raise ApiError(401, "login_required", "log in first (POST /v1/staff/login)")
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.headers.get(CSRF_HEADER))
        except ValidationError as exc:
            raise ApiError(400, "csrf_refused", f"send the page's {CSRF_HEADER}") from exc
    return account


def official() -> Account:
    """The calling official's account (cached in ``flask.g``); 401/400/403 otherwise."""
    if "case_account" in g:
        return g.case_account
    if request.headers.get("Authorization"):
        account = token_account(bearer_token("staff token"))
    else:
        account = _cookie_account()
    if account.role != OFFICIAL:
        raise ApiError(403, "role_refused", f"{account.role} accounts do not trace cases")
    g.case_account = account
    return account
