"""Putting the staff pages into the web app: settings, session cookie, CSRF, blueprint.

Settings (``create_app`` mapping, or the config's ``[web]`` table through
:func:`page_settings`):

- ``SECRET_KEY_FILE`` (``[web] secret_key_file``, relative to the config's folder):
  the key that signs the session cookie, made 0600 on first run
  (:mod:`aggregator.accounts.secret_key`). By default it gets its own key folder like
  the other keys (provisioning/site_keys.py, the systemd units): ``keys/web/web-secret.key``
  beside ``keys/ledger/`` when the ledger key sits in a folder named ``ledger`` (in the
  units' state directory, which the web unit may write; /etc is read-only to it), else
  ``web-secret.key`` beside the ledger key. ``SECRET_KEY`` given directly
  wins. With neither (a bare ``create_app``) a random key lives as long as the process:
  sessions then end with it and are not shared between gunicorn workers.
- ``COOKIE_SECURE`` (``[web] cookie_secure``, default true): the cookie is sent over
  HTTPS only (and named ``__Host-safecode``). Set false only for loopback tests: the
  pages then refuse every client that is not on loopback.
- ``SESSION_IDLE_S`` / ``SESSION_ABSOLUTE_S`` (``[web] session_idle_s`` /
  ``session_absolute_s``; 30 minutes and 12 hours).
- ``LOGIN_POLICY`` (:class:`aggregator.accounts.login.LoginPolicy`): lockout figures.

Sessions: Flask's signed cookie carries only a random session id (plus the CSRF token
and the language); the session itself is a row in ``staff_session``
(:mod:`aggregator.accounts.sessions`), so logout and "log out everywhere" end it on the
server. The cookie is HttpOnly, SameSite=Strict, and a browser-session cookie. Why a
table and not only the signed cookie: a signed cookie stays valid until it expires, so
logging out could not end it (a copy would still work); with the table, logout, idle
and absolute timeouts, a new password and disabling an account all take effect at once.
The price is one indexed read per page view (and a write at most once a minute).

SameSite=Strict means a link followed from another site (an e-mail) arrives without the
cookie: it shows the login page, whose new CSRF cookie replaces the old session's in
that browser; staff then log in again (the orphaned row times out). Links between the
staff pages themselves are unaffected.

CSRF: Flask-WTF's CSRFProtect checks every POST, PUT, PATCH and DELETE outside
``/v1/``. Everything under ``/v1/`` is an API authenticated by bearer tokens or signed
requests, never by this cookie, and is exempt (its own tests run unchanged). A page
added anywhere else is protected by default.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from support.config_file import ConfigError

from ..accounts.login import LoginPolicy
from ..accounts.secret_key import load_or_create
from ..accounts.sessions import SessionPolicy
from .fleet import fleet_pages
from .guard import PageForbidden, PageUnauthorized
from .venues import venue_pages
from .views import csrf_error, guard_error, staff_pages

log = logging.getLogger("aggregator.pages")

PAGE_KEYS = frozenset({"secret_key_file", "cookie_secure", "session_idle_s", "session_absolute_s"})
"""The ``[web]`` keys these settings come from."""
SECRET_KEY_NAME = "web-secret.key"
API_PREFIX = "/v1/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULTS: dict[str, Any] = {
    "COOKIE_SECURE": True,
    "SESSION_IDLE_S": SessionPolicy.idle_s,
    "SESSION_ABSOLUTE_S": SessionPolicy.absolute_s,
}


def default_secret_key_file(ledger_key_path: Path) -> Path:
    """Where the session key goes without ``[web] secret_key_file`` (see module doc)."""
    folder = ledger_key_path.parent
    if folder.name == "ledger":
        return folder.parent / "web" / SECRET_KEY_NAME
    return folder / SECRET_KEY_NAME


def page_settings(web: dict[str, Any], base: Path, ledger_key_path: Path) -> dict[str, Any]:
    """The app settings of the ``[web]`` table's page keys (ConfigError if malformed)."""
    out: dict[str, Any] = {}
    if "secret_key_file" in web:
        key_file = web["secret_key_file"]
        if not isinstance(key_file, str) or not key_file:
            raise ConfigError("web.secret_key_file must be a file name")
        out["SECRET_KEY_FILE"] = base / key_file
    else:
        out["SECRET_KEY_FILE"] = default_secret_key_file(ledger_key_path)
    if "cookie_secure" in web:
        if not isinstance(web["cookie_secure"], bool):
            raise ConfigError("web.cookie_secure must be true or false")
        out["COOKIE_SECURE"] = web["cookie_secure"]
    for key in ("session_idle_s", "session_absolute_s"):
        if key in web:
            value = web[key]
            if type(value) is not int or not 60 <= value <= 7 * 24 * 3600:
                raise ConfigError(f"web.{key} must be whole seconds from 60 to 604800")
            out[key.upper()] = value
    return out


def _secret_key(app: Flask) -> bytes | str:
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    path = app.config.get("SECRET_KEY_FILE")
    if path:
        try:
            return load_or_create(Path(path))
        except OSError as exc:
            raise ConfigError(str(exc)) from exc
    log.info("no web.secret_key_file: staff sessions end when this process does")
    return secrets.token_bytes(64)


def install_pages(app: Flask) -> None:
    """Configure the session cookie and CSRF, and register the staff pages."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.setdefault("LOGIN_POLICY", LoginPolicy())
    if app.config["SESSION_IDLE_S"] > app.config["SESSION_ABSOLUTE_S"]:
        raise ConfigError("web.session_idle_s must not exceed web.session_absolute_s")
    secure = bool(app.config["COOKIE_SECURE"])
    app.config.update(
        SECRET_KEY=_secret_key(app),
        SESSION_COOKIE_NAME="__Host-safecode" if secure else "safecode_staff",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for every unsafe method off /v1/
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session (which times out on the server)
    )
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_outside_api() -> None:
        if not app.config["WTF_CSRF_ENABLED"]:  # Flask-WTF's own switch (tests only)
            return
        if request.method in UNSAFE_METHODS and not request.path.startswith(API_PREFIX):
            csrf.protect()

    # App-wide, so other blueprints' pages get them too; the JSON APIs raise none of these.
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(PageForbidden, guard_error)
    app.register_error_handler(PageUnauthorized, guard_error)
    app.register_blueprint(staff_pages)
    app.register_blueprint(venue_pages)  # /staff/venues: venue owners
    app.register_blueprint(fleet_pages)  # /staff/fleet: operators
