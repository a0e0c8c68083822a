"""The pages staff use (issue 12, item 8's base): login, logout, a home page per role.

Server-rendered with Jinja2 from one base layout (``templates/pages/base.html``: a
header with the account and its role, the language switch and the logout form), one
style sheet and no script. Korean and English (:mod:`.i18n`). Other page modules build
on it: decorate views with :func:`require_role`, extend ``pages/base.html``, add their
links to :data:`.nav.ROLE_LINKS` and their Korean with :func:`.i18n.add_korean`.

- :mod:`.install`: settings, the session cookie, CSRF for every form (Flask-WTF);
- :mod:`.guard`: who is logged in, role and venue checks;
- :mod:`.views`: the blueprint at ``/staff``.
- :mod:`.venues` and :mod:`.fleet`: the venue owner's ``/staff/venues`` and the operator's
  ``/staff/fleet`` (kiosks, alarms, retiring), with server-drawn SVG charts (:mod:`.charts`).
"""

from __future__ import annotations

from .guard import check_venues, current_account, require_role
from .install import PAGE_KEYS, install_pages, page_settings

__all__ = [
    "PAGE_KEYS",
    "check_venues",
    "current_account",
    "install_pages",
    "page_settings",
    "require_role",
]
