"""The operator's fleet page: every kiosk, its alarms, kiosks online over the day; retiring.

- ``GET /staff/fleet``: counts (enrolled, online, each alarm), a chart of kiosks online
  over the last 24 hours from the five-minute samples (aggregator/fleet_history.py) with
  an hourly table beside it, and every enrolled kiosk (last heartbeat, waiting check-ins,
  clock and its offset, firmware, alarms), :data:`PAGE_SIZE` a page, kiosks with alarms
  first; ``?alarms=1`` lists only those, ``?page=N`` pages on.
- ``GET /staff/fleet/<kiosk_id>/retire``: the confirmation step: what retiring does, the
  kiosk's figures (check-ins still waiting are said in words), and a form where the
  operator types the kiosk id again.
- ``POST`` the same path (CSRF token, ``confirm`` = the kiosk id): the same retire path
  as the operator API's ``POST /v1/operator/kiosks/<id>/retire``
  (:func:`aggregator.registry.retire_kiosk`, then the kiosk's broker account removed);
  a typed id that does not match retires nothing (400, counted as ``retire_unconfirmed``).
  Retiring twice is harmless, so a broker failure can be retried from the answer page.

Role ``operator`` only. Malformed or unknown kiosk ids are 404; query parameters other
than ``alarms=1`` and a page number in range are 404 too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id

from ..accounts.roles import OPERATOR
from ..api.errors import refusals
from ..api.operator import broker_accounts
from ..broker_accounts import BrokerAccountError
from ..fleet_history import SLOT_MS, samples_between
from ..kiosk_health import ALARMS, KioskHealth, active_kiosks, kiosk_health
from ..registry import RegistryError, retire_kiosk
from ..tables import KioskEntry
from ..venue_counts import HOUR_MS, hour_boundaries, local_time
from .charts import Point, Words, count, legend_line, line_chart
from .guard import current_account, require_role
from .i18n import add_korean, translate
from .kiosk_view import ALARM_TEXT, KioskRow, fmt, kiosk_row, offline_after_ms, site_zone

log = logging.getLogger("aggregator.pages")
fleet_pages = Blueprint("fleet_pages", __name__, url_prefix="/staff/fleet")

PAGE_SIZE = 100
DAY_HOURS = 24
KOREAN = {
    "The fleet": "전체 키오스크",
    "Kiosks enrolled": "등록된 키오스크",
    "Kiosks online": "온라인 키오스크",
    "Kiosks online, last 24 hours": "온라인 키오스크 (최근 24시간)",
    "Time": "시각",
    "Hour": "시각",
    "No samples yet: ingest samples the fleet every 5 minutes.": (
        "아직 기록이 없습니다. 수집 프로세스가 5분마다 기록합니다."
    ),
    "No samples in this period": "이 기간에 기록이 없습니다",
    "Lowest online": "최저 온라인",
    "Highest online": "최고 온라인",
    "no sample": "기록 없음",
    "online (solid line)": "온라인 (실선)",
    "enrolled (dashed line)": "등록 (점선)",
    "Only kiosks with alarms": "경보가 있는 키오스크만",
    "Show": "보기",
    "Retire": "퇴역",
    "Retire {kiosk}": "{kiosk} 퇴역",
    "Retire kiosk {kiosk}": "키오스크 {kiosk} 퇴역",
    "Every kiosk": "모든 키오스크",
    "Page {page} of {pages}": "{pages}쪽 중 {page}쪽",
    "Previous page": "이전 쪽",
    "Next page": "다음 쪽",
    "No kiosk is enrolled.": "등록된 키오스크가 없습니다.",
    "No kiosk has an alarm.": "경보가 있는 키오스크가 없습니다.",
    "Retiring refuses every check-in this kiosk signs from now on, and removes its broker "
    "account. It cannot be undone: the device comes back only enrolled under a new id.": (
        "퇴역하면 이 키오스크가 지금부터 서명하는 모든 체크인이 거부되고 브로커 계정이 "
        "삭제됩니다. 되돌릴 수 없으며, 장치는 새 ID로 다시 등록해야만 쓸 수 있습니다."
    ),
    "{n} check-ins still wait in its outbox: they will be refused. Retire it with "
    "safecode provision retire to let it deliver them first.": (
        "아직 {n}건의 체크인이 전송 대기 중이며 거부됩니다. 먼저 전달되게 하려면 "
        "safecode provision retire로 퇴역하세요."
    ),
    "This kiosk is already retired: retiring it again removes its broker account again.": (
        "이 키오스크는 이미 퇴역했습니다. 다시 퇴역하면 브로커 계정을 다시 삭제합니다."
    ),
    "To confirm, type the kiosk id": "확인하려면 키오스크 ID를 입력하세요",
    "Retire this kiosk": "이 키오스크 퇴역",
    "Cancel": "취소",
    "The kiosk id typed does not match: nothing was retired.": (
        "입력한 키오스크 ID가 일치하지 않습니다. 아무것도 퇴역하지 않았습니다."
    ),
    "Kiosk {kiosk} is retired and its broker account is removed.": (
        "키오스크 {kiosk}를 퇴역하고 브로커 계정을 삭제했습니다."
    ),
    "Kiosk {kiosk} is retired, but its broker account could not be removed: try again.": (
        "키오스크 {kiosk}는 퇴역했지만 브로커 계정을 삭제하지 못했습니다. 다시 시도하세요."
    ),
    "Try again": "다시 시도",
    "Back to the fleet": "전체 키오스크로 돌아가기",
    "Retired": "퇴역함",
    "{online} of {kiosks} online at {when}; lowest {lowest}, highest {highest}.": (
        "{when} 기준 {kiosks}대 중 {online}대 온라인, 최저 {lowest}대, 최고 {highest}대."
    ),
}
add_korean(KOREAN)


class RetireForm(FlaskForm):
    """The retire confirmation: the kiosk id typed again."""

    confirm = StringField("confirm", validators=[DataRequired(), Length(max=63)])


@dataclass(frozen=True)
class HourRow:
    """One hour of the online chart's table."""

    hour: str
    lowest: int | None
    highest: int | None
    enrolled: int | None


@fleet_pages.get("")
@require_role(OPERATOR)
def fleet_page() -> str:
    """Counts, the online chart, and the kiosks (alarms first), a page at a time."""
    only_alarms, page = _listing_params()
    now_ms, zone = _now_ms(), site_zone()
    limit = offline_after_ms()
    everything = [kiosk_health(entry, now_ms, limit) for entry in active_kiosks()]
    alarm_counts = {alarm: sum(alarm in k.alarms for k in everything) for alarm in ALARMS}
    listed = sorted(everything, key=lambda k: (not k.alarms, k.kiosk_id))
    if only_alarms:
        listed = [k for k in listed if k.alarms]
    pages = max(1, -(-len(listed) // PAGE_SIZE))
    if page > pages:
        abort(404)
    shown = listed[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows: list[KioskRow] = [kiosk_row(k, now_ms, zone) for k in shown]
    chart, hour_rows = _online_chart(now_ms, zone)
    return render_template(
        "pages/fleet.html",
        rows=rows,
        enrolled=len(everything),
        online=sum(k.online for k in everything),
        alarm_counts=[(translate(ALARM_TEXT[a]), n) for a, n in alarm_counts.items()],
        chart=chart,
        hour_rows=hour_rows,
        legend_value=legend_line("value"),
        legend_total=legend_line("total"),
        only_alarms=only_alarms,
        page=page,
        pages=pages,
        zone=zone.key,
        count=count,
        fmt=fmt,
    )


def _listing_params() -> tuple[bool, int]:
    """``alarms`` (only "1") and ``page`` (1..) from the query; anything else is a 404."""
    if set(request.args) - {"alarms", "page"}:
        abort(404)
    alarms = request.args.getlist("alarms")
    pages = request.args.getlist("page")
    if len(alarms) > 1 or len(pages) > 1 or (alarms and alarms[0] != "1"):
        abort(404)
    page_text = pages[0] if pages else "1"
    if not page_text.isascii() or not page_text.isdigit() or len(page_text) > 6:
        abort(404)
    page = int(page_text)
    if page < 1:
        abort(404)
    return bool(alarms), page


def _online_chart(now_ms: int, zone: ZoneInfo) -> tuple[Markup, list[HourRow]]:
    """The chart of kiosks online over the last 24 local hours, and its hourly table."""
    hours = hour_boundaries(now_ms, zone, DAY_HOURS)
    start, end = hours[0], hours[-1]
    samples = {s.slot_ms: s for s in samples_between(start, end)}
    points = []
    for slot in range(start - start % SLOT_MS, min(now_ms, end), SLOT_MS):
        if slot < start:
            continue
        sample = samples.get(slot)
        stamp = f"{local_time(slot, zone):%H:%M}"
        points.append(
            Point(
                x=(slot - start) / (end - start),
                long_label=stamp,
                value=sample.online if sample else None,
                total=sample.kiosks if sample else None,
            )
        )
    ticks = [((h - start) / (end - start), f"{local_time(h, zone):%H}") for h in hours[::3]]
    rows = []
    for h in hours[:-1]:
        inside = [s for slot, s in samples.items() if h <= slot < h + HOUR_MS]
        rows.append(
            HourRow(
                hour=f"{local_time(h, zone):%m-%d %H}:00",
                lowest=min((s.online for s in inside), default=None),
                highest=max((s.online for s in inside), default=None),
                enrolled=max(inside, key=lambda s: s.slot_ms).kiosks if inside else None,
            )
        )
    taken = list(samples.values())
    if taken:
        latest = max(taken, key=lambda s: s.slot_ms)
        summary = fmt(
            "{online} of {kiosks} online at {when}; lowest {lowest}, highest {highest}.",
            online=count(latest.online),
            kiosks=count(latest.kiosks),
            when=f"{local_time(latest.slot_ms, zone):%H:%M}",
            lowest=count(min(s.online for s in taken)),
            highest=count(max(s.online for s in taken)),
        )
    else:
        summary = translate("No samples yet: ingest samples the fleet every 5 minutes.")
    words = Words(
        title=translate("Kiosks online, last 24 hours"),
        x_axis=translate("Hour"),
        y_axis=translate("Kiosks"),
        empty=translate("No samples in this period"),
        summary=summary,
    )
    return line_chart("online", words, points, ticks), rows


def _entry_or_404(kiosk_id: str) -> KioskEntry:
    try:
        check_kiosk_id(kiosk_id)
    except MalformedError:
        abort(404)
    entry = KioskEntry.get_or_none(KioskEntry.kiosk_id == kiosk_id)
    if entry is None:
        abort(404)
    return entry


def _confirm_page(entry: KioskEntry, form: RetireForm, error: str | None, status: int):  # noqa: ANN202
    now_ms, zone = _now_ms(), site_zone()
    health: KioskHealth = kiosk_health(entry, now_ms, offline_after_ms())
    return (
        render_template(
            "pages/retire.html",
            entry=entry,
            row=kiosk_row(health, now_ms, zone),
            waiting=health.queue or 0,
            form=form,
            error=error,
            zone=zone.key,
            count=count,
            fmt=fmt,
        ),
        status,
    )


@fleet_pages.get("/<kiosk_id>/retire")
@require_role(OPERATOR)
def retire(kiosk_id: str):  # noqa: ANN201
    """The confirmation step: what retiring does, and the kiosk id to type again."""
    entry = _entry_or_404(kiosk_id)
    return _confirm_page(entry, RetireForm(), None, 200)


@fleet_pages.post("/<kiosk_id>/retire")
@require_role(OPERATOR)
def retire_confirmed(kiosk_id: str):  # noqa: ANN201
    """Retire the kiosk when the typed id matches (the CSRF token was checked before)."""
    entry = _entry_or_404(kiosk_id)
    form = RetireForm()
    if not form.validate_on_submit() or form.confirm.data != entry.kiosk_id:
        refusals().count("retire_unconfirmed", f"retire of {entry.kiosk_id} not confirmed")
        error = "The kiosk id typed does not match: nothing was retired."
        return _confirm_page(entry, RetireForm(formdata=None), error, 400)
    account = current_account()
    assert account is not None  # require_role saw to it
    try:
        retire_kiosk(entry.kiosk_id)
    except RegistryError:  # deleted between the two reads: there is nothing to retire
        abort(404)
    broker_ok = True
    try:
        broker_accounts().remove_kiosk(entry.kiosk_id)
    except BrokerAccountError as exc:
        broker_ok = False
        log.warning("kiosk %s retired, broker account not removed: %s", entry.kiosk_id, exc)
    log.info("staff %s (operator) retired kiosk %s", account.name, entry.kiosk_id)
    return (
        render_template(
            "pages/retired.html",
            kiosk_id=entry.kiosk_id,
            broker_ok=broker_ok,
            form=RetireForm(formdata=None, data={"confirm": entry.kiosk_id}),
            fmt=fmt,
        ),
        200 if broker_ok else 502,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
