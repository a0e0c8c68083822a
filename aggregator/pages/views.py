"""The staff pages' blueprint: login, logout, language switch, the home page per role.

Every answer carries a strict Content-Security-Policy (own style sheet only, no script
at all, forms post only here, no framing), is never cached and sends a same-origin
referrer (Flask-WTF checks it on HTTPS). Errors under ``/staff`` are HTML pages that say
nothing about why beyond the status; the JSON APIs keep their JSON errors.
"""

from __future__ import annotations

import ipaddress
import time

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..accounts.login import THROTTLED, LoginPolicy, LoginRefused, authenticate
from ..accounts.roles import ROLES
from ..accounts.sessions import end_session, prune_sessions, start_session
from ..accounts.users import end_sessions
from ..api.errors import refusals
from ..page_headers import page_headers
from .forms import LanguageForm, LoginForm, LogoutForm
from .guard import (
    SID_KEY,
    PageForbidden,
    PageUnauthorized,
    current_account,
    require_role,
    safe_next,
    session_policy,
)
from .i18n import ROLE_LABELS, SESSION_KEY, current_language, translate
from .nav import ROLE_LINKS, served

staff_pages = Blueprint(
    "staff_pages",
    __name__,
    url_prefix="/staff",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = page_headers(
    CONTENT_SECURITY_POLICY, Referrer_Policy="same-origin", X_Frame_Options="DENY"
)
WRONG_LOGIN = "Wrong name or password, or too many tries: wait a while and try again."
THROTTLED_LOGIN = "Too many failed logins from this address: wait a while and try again."
STALE_FORM = "The form was too old or not sent from this site: go back, reload and try again."
ERROR_TEXT = {
    400: ("Refused", STALE_FORM),
    401: ("Not allowed", "You may not open this page."),
    403: ("Not allowed", "You may not open this page."),
    404: ("Not found", "There is no such page."),
}


def is_staff_path(path: str) -> bool:
    """True for ``/staff`` and everything under it."""
    return path == "/staff" or path.startswith("/staff/")


@staff_pages.app_context_processor
def _page_context() -> dict[str, object]:
    """What page templates see: under /staff, or from any view that checked a role.

    Nothing for other templates (the public explorer's): building the frame's forms puts
    a CSRF token in the session, and public pages must set no cookie.
    """
    if not (is_staff_path(request.path) or "staff_account" in g):
        return {}
    account = current_account()
    return {
        "_": translate,
        "lang": current_language(),
        "account": account,
        "role_label": translate(ROLE_LABELS[account.role]) if account else "",
        "logout_form": LogoutForm(prefix="logout"),
        "language_form": LanguageForm(prefix="language"),
        "here": request.full_path.rstrip("?"),
    }


@staff_pages.before_app_request
def _loopback_only_without_secure_cookies() -> tuple[str, int] | None:
    """Insecure (non-HTTPS) cookies are for loopback tests only: refuse anyone else."""
    if current_app.config["SESSION_COOKIE_SECURE"] or not is_staff_path(request.path):
        return None
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        refusals().count("insecure_cookies", "cookie_secure is off: loopback only")
        return _error_page(403)
    return None


@staff_pages.after_app_request
def _headers(response: Response) -> Response:
    """The strict headers on every answer under /staff, whichever blueprint made it."""
    if not is_staff_path(request.path):
        return response
    response.headers.update(HEADERS)
    if "staff_page_csp" in g:  # a page that runs its own script (aggregator/case_pages)
        response.headers["Content-Security-Policy"] = g.staff_page_csp
    if request.endpoint != "staff_pages.static":
        response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    response.vary.add("Accept-Language")
    return response


def _error_page(status: int) -> tuple[str, int]:
    title, text = ERROR_TEXT.get(status, ("Refused", "You may not open this page."))
    return render_template("pages/error.html", title=title, text=text), status


def csrf_error(exc: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token (app-wide handler: any blueprint's form)."""
    refusals().count("csrf_refused", str(exc.description))
    return _error_page(400)


def guard_error(exc: PageForbidden | PageUnauthorized) -> tuple[str, int]:
    """A refusal of :mod:`.guard` (app-wide handler; counted where it was raised)."""
    return _error_page(exc.code or 403)


@staff_pages.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int] | HTTPException:
    if exc.code is None or exc.code < 400 or exc.code == 405:
        return exc
    if exc.code not in (401, 403):  # those two were counted where they were raised
        refusals().count((exc.name or "error").lower().replace(" ", "_"), request.path)
    return _error_page(exc.code)


def _policy() -> LoginPolicy:
    return current_app.config["LOGIN_POLICY"]


@staff_pages.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    """The login form; a good login starts a new session and goes home (or to ``next``)."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
        message = None
        if request.args.get("bye"):
            message = "You have logged out."
        elif request.args.get("ended"):
            message = "Your session has ended: please log in again."
        return render_template("pages/login.html", form=form, message=message)
    if not form.validate_on_submit():
        refusals().count("login_failed", "incomplete login form")
        return render_template("pages/login.html", form=form, error=WRONG_LOGIN), 401
    now_ms = int(time.time() * 1000)
    try:
        account = authenticate(
            form.name.data or "", form.password.data or "", request.remote_addr, now_ms, _policy()
        )
    except LoginRefused as refused:
        refusals().count(refused.reason, "a staff login refused")
        if refused.reason == THROTTLED:
            text, status = THROTTLED_LOGIN, 429
        else:  # an unknown name, a wrong password and a locked account look alike
            text, status = WRONG_LOGIN, 401
        return render_template("pages/login.html", form=form, error=text), status
    old = session.get(SID_KEY)
    if old is not None:
        end_session(old)
    language = session.get(SESSION_KEY)
    session.clear()  # a new session: nothing (not even the CSRF token) survives login
    if language is not None:
        session[SESSION_KEY] = language
    prune_sessions(now_ms, session_policy())
    session[SID_KEY] = start_session(account, now_ms)
    return redirect(safe_next(form.next.data) or url_for("staff_pages.home"))


@staff_pages.post("/logout")
def logout() -> Response:
    """End this session (or, with ``everywhere``, every session of the account)."""
    form = LogoutForm(prefix="logout")
    account = current_account()
    if account is not None and form.validate_on_submit() and form.everywhere.data:
        end_sessions(account.user_id)
    sid = session.get(SID_KEY)
    if sid is not None:
        end_session(sid)
    language = session.get(SESSION_KEY)
    session.clear()
    if language is not None:
        session[SESSION_KEY] = language
    return redirect(url_for("staff_pages.login", bye=1))


@staff_pages.post("/language")
def language() -> Response:
    """Remember the chosen language in the session and go back where the switch was."""
    form = LanguageForm(prefix="language")
    if form.validate_on_submit():
        session[SESSION_KEY] = form.lang.data
    return redirect(safe_next(form.next.data) or url_for("staff_pages.home"))


@staff_pages.get("")
@require_role(*ROLES)
def home() -> str:
    """What this account's role may do, as links (text until the page exists)."""
    account = current_account()
    assert account is not None  # require_role saw to it
    links = [(link, served(link.path)) for link in ROLE_LINKS[account.role]]
    return render_template("pages/home.html", links=links, venues=sorted(account.venues))
