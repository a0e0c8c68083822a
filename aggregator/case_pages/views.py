"""The case pages' blueprint: the official's cases, one case's work page, the script."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, render_template, send_file
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException, NotFound, ServiceUnavailable

from ..accounts.roles import OFFICIAL
from ..cases.context import EXTENSION as TRACING_EXTENSION
from ..cases.tables import CaseEntry
from ..issuer.settings import DEFAULT_TIME_ZONE
from ..pages import current_account, require_role
from ..pages.i18n import current_language
from ..pages.views import CONTENT_SECURITY_POLICY, _http_error
from .strings import GUIDANCE_EN, GUIDANCE_KO, script_strings

case_pages = Blueprint(
    "case_pages", __name__, url_prefix="/staff/cases", template_folder="templates"
)

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "casework" / "dist"
#: The staff pages' policy plus this blueprint's one script and its calls to the API.
SCRIPT_POLICY = CONTENT_SECURITY_POLICY + "; script-src 'self'; connect-src 'self'"
LIST_LIMIT = 200
_CASE_HEX = re.compile(r"[0-9a-f]{32}")
case_pages.register_error_handler(HTTPException, _http_error)  # the staff pages' error page


def _time_zone() -> str:
    tracing = current_app.extensions.get(TRACING_EXTENSION)
    return tracing.time_zone.key if tracing is not None else DEFAULT_TIME_ZONE


@case_pages.app_template_filter("case_time")
def case_time(ms: int) -> str:
    """``ms`` as ``YYYY-MM-DD HH:MM`` in the issuer's time zone."""
    return datetime.fromtimestamp(ms // 1000, ZoneInfo(_time_zone())).strftime("%Y-%m-%d %H:%M")


@case_pages.app_template_filter("case_day")
def case_day(ms: int) -> str:
    """The day (``YYYY-MM-DD``) of ``ms`` in the issuer's time zone."""
    return case_time(ms)[:10]


def _page_data(case: str | None) -> dict[str, object]:
    """What the script reads from #case-data."""
    g.staff_page_csp = SCRIPT_POLICY
    return {"case": case, "tz": _time_zone(), "strings": script_strings(current_language())}


@case_pages.get("")
@require_role(OFFICIAL)
def cases() -> str:
    """The official's cases (newest first) and the "new case" form."""
    account = current_account()
    assert account is not None
    rows = (
        CaseEntry.select()
        .where(CaseEntry.opener == account.name)
        .order_by(CaseEntry.opened_ms.desc())
        .limit(LIST_LIMIT)
    )
    return render_template(
        "cases/list.html",
        cases=[(bytes(r.case_id).hex(), r) for r in rows],
        data=_page_data(None),
        csrf=generate_csrf(),
    )


@case_pages.get("/<case>")
@require_role(OFFICIAL)
def case_page(case: str) -> str:
    """One case's work page (404 unless this official opened it)."""
    account = current_account()
    assert account is not None
    row = (
        CaseEntry.get_or_none(CaseEntry.case_id == bytes.fromhex(case))
        if _CASE_HEX.fullmatch(case)
        else None
    )
    if row is None or row.opener != account.name:
        raise NotFound()
    return render_template(
        "cases/case.html",
        case=case,
        row=row,
        data=_page_data(case),
        csrf=generate_csrf(),
        guidance_ko=GUIDANCE_KO,
        guidance_en=GUIDANCE_EN,
    )


@case_pages.get("/casework.js")
@require_role(OFFICIAL)
def script() -> Response:
    """The pages' script (``casework/dist/casework.js``; 503 until it is built)."""
    path = Path(current_app.config.get("CASEWORK_DIST") or DEFAULT_DIST) / "casework.js"
    if not path.is_file():
        raise ServiceUnavailable("the case work script is not built: run ./dev setup")
    return send_file(path, mimetype="text/javascript", conditional=True, etag=True, max_age=0)
