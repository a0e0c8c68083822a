"""``POST /v1/staff/login`` and ``/logout``: a bearer token for tools such as ``safecode trace``.

``{"user": str, "password": str}`` → ``200 {"token": str, "expires_s": int, "idle_s": int}``.
The same check as the login page (``aggregator.accounts.login.authenticate``): argon2,
per-account lockout, per-address throttle; an unknown name, a wrong password and a
locked account all answer 401 ``login_failed``, a throttled address 429
``login_throttled``. Only health officials get a token (others 403 ``role_refused``):
it opens nothing but the case API. The token is a staff session id (see
:mod:`aggregator.cases.auth`): it ends ``idle_s`` after its last use or ``expires_s``
after login. ``POST /v1/staff/logout`` with ``Authorization: Bearer <token>`` ends it
(204, also for a token already ended).
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, request

from ..accounts.login import FAILED, THROTTLED, LoginRefused, authenticate
from ..accounts.roles import OFFICIAL
from ..accounts.sessions import end_session, prune_sessions, start_session
from ..api.errors import ApiError, bearer_token, refusals
from ..pages.guard import session_policy
from .bodies import json_body

staff_api = Blueprint("staff_api", __name__, url_prefix="/v1/staff")
WRONG_LOGIN = "wrong name or password, or too many tries: wait a while and try again"


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


@staff_api.post("/login")
def login() -> Response:
    """Check a name and password; a health official gets a bearer token."""
    body = json_body({"user", "password"})
    now_ms = int(time.time() * 1000)
    try:
        account = authenticate(
            _text(body["user"]),
            _text(body["password"]),
            request.remote_addr,
            now_ms,
            current_app.config["LOGIN_POLICY"],
        )
    except LoginRefused as refused:
        if refused.reason == THROTTLED:
            raise ApiError(429, THROTTLED, "too many failed logins from this address") from None
        if refused.reason != FAILED:  # counted apart; the answer is the same
            refusals().count(refused.reason, "a staff login refused")
        raise ApiError(401, "login_failed", WRONG_LOGIN) from None
    if account.role != OFFICIAL:
        raise ApiError(403, "role_refused", "only health officials log in here")
    policy = session_policy()
    prune_sessions(now_ms, policy)
    token = start_session(account, now_ms)
    return jsonify(token=token, expires_s=policy.absolute_s, idle_s=policy.idle_s)


@staff_api.post("/logout")
def logout() -> Response:
    """End the bearer token's session."""
    end_session(bearer_token("staff token"))
    return Response(status=204)
