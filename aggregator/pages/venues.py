"""The venue owner's pages: its venues, their kiosks, check-ins per hour and per day, alarms.

- ``GET /staff/venues``: each of the account's venues: kiosks online of enrolled,
  alarms, check-ins today;
- ``GET /staff/venues/<venue>``: one venue: its kiosks (online, waiting check-ins,
  clock, firmware, last heartbeat and last check-in), its alarms, and charts of its
  check-ins per hour over the last 24 hours and per day over the last 14 days, each
  with the same figures as a table.

Role ``venue`` only, and only the account's own venues: :func:`..guard.require_role`
checks the ``venue`` path parameter and any venue named in the query; a venue not the
account's gets the same 403 page as a role refused (a venue that does not exist looks
the same). Counts only: the pages read the kiosk rows and count check-ins through the
``(venue_id, placed_ms)`` index (aggregator/venue_counts.py); they never decrypt, and
never show a credential, a visitor, a device key or another venue's figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, render_template
from markupsafe import Markup

from ..accounts.roles import VENUE
from ..kiosk_health import active_kiosks, kiosk_health, last_checkins
from ..venue_counts import (
    counts_in_windows,
    day_boundaries,
    hour_boundaries,
    local_time,
    quarter_counts,
    window_sums,
)
from .charts import Bar, Words, bar_chart, count
from .guard import current_account, require_role
from .i18n import add_korean, translate
from .kiosk_view import KioskRow, fmt, kiosk_row, offline_after_ms, site_zone

venue_pages = Blueprint("venue_pages", __name__, url_prefix="/staff/venues")

KOREAN = {
    "Check-ins today": "오늘 체크인",
    "Kiosks online": "온라인 키오스크",
    "{online} of {kiosks}": "{kiosks}대 중 {online}대",
    "Check-ins per hour, last 24 hours": "시간별 체크인 (최근 24시간)",
    "Check-ins per day, last 14 days": "일별 체크인 (최근 14일)",
    "Hour": "시각",
    "Day": "날짜",
    "Check-ins": "체크인 수",
    "No check-ins in this period": "이 기간에 체크인이 없습니다",
    "This venue has no kiosks.": "이 시설에는 키오스크가 없습니다.",
    "No venue is bound to this account.": "이 계정에 연결된 시설이 없습니다.",
    "Counts only: these pages never show who checked in.": (
        "수치만 표시합니다. 이 페이지는 누가 체크인했는지 절대 보여주지 않습니다."
    ),
    "Back to your venues": "내 시설로 돌아가기",
    "Venue {venue}": "시설 {venue}",
}
add_korean(KOREAN)


@dataclass(frozen=True)
class VenueSummary:
    """One line of the overview."""

    venue_id: str
    kiosks: int
    online: int
    alarms: int
    checkins_today: int


@venue_pages.get("")
@require_role(VENUE)
def overview() -> str:
    """The account's venues with their kiosks online, alarms and check-ins today."""
    account = current_account()
    assert account is not None  # require_role saw to it
    venues = sorted(account.venues)
    now_ms, zone = _now_ms(), site_zone()
    limit = offline_after_ms()
    kiosks = [kiosk_health(entry, now_ms, limit) for entry in active_kiosks(venues)]
    today = day_boundaries(now_ms, zone, 1)
    checkins = counts_in_windows(venues, today) if venues else {}
    summaries = [
        VenueSummary(
            venue_id=venue,
            kiosks=sum(1 for k in kiosks if k.venue_id == venue),
            online=sum(1 for k in kiosks if k.venue_id == venue and k.online),
            alarms=sum(len(k.alarms) for k in kiosks if k.venue_id == venue),
            checkins_today=checkins.get(venue, [0])[0],
        )
        for venue in venues
    ]
    return render_template(
        "pages/venues.html", summaries=summaries, zone=zone.key, count=count, fmt=fmt
    )


@venue_pages.get("/<venue>")
@require_role(VENUE)
def venue_page(venue: str) -> str:
    """One of the account's venues (require_role refused every other venue id)."""
    now_ms, zone = _now_ms(), site_zone()
    entries = active_kiosks([venue])
    limit = offline_after_ms()
    latest = last_checkins(entries)
    rows: list[KioskRow] = [
        kiosk_row(kiosk_health(e, now_ms, limit), now_ms, zone, latest.get(e.kiosk_id))
        for e in entries
    ]
    days = day_boundaries(now_ms, zone, 14)
    hours = hour_boundaries(now_ms, zone, 24)
    quarters = quarter_counts([venue], days[0], days[-1])[venue]
    per_hour = window_sums(quarters, hours, days[0])
    per_day = window_sums(quarters, days, days[0])
    hour_bars = [
        Bar(
            label=f"{local_time(start, zone):%H}" if i % 3 == 0 else "",
            long_label=f"{local_time(start, zone):%m-%d %H}:00",
            value=n,
        )
        for i, (start, n) in enumerate(zip(hours, per_hour, strict=False))
    ]
    day_bars = [
        Bar(
            label=f"{local_time(start, zone):%d}",
            long_label=f"{local_time(start, zone):%Y-%m-%d}",
            value=n,
        )
        for start, n in zip(days, per_day, strict=False)
    ]
    charts = [
        _chart("hours", "Check-ins per hour, last 24 hours", "Hour", hour_bars),
        _chart("days", "Check-ins per day, last 14 days", "Day", day_bars),
    ]
    alarms = [(row.kiosk_id, text) for row in rows for text in row.alarm_texts]
    return render_template(
        "pages/venue.html",
        venue=venue,
        rows=rows,
        alarms=alarms,
        charts=charts,
        today=per_day[-1],
        zone=zone.key,
        count=count,
        fmt=fmt,
    )


@dataclass(frozen=True)
class Chart:
    """A chart and its table: what the template shows."""

    chart_id: str
    title: str
    x_axis: str
    svg: Markup
    bars: list[Bar]


def _chart(chart_id: str, title: str, x_axis: str, bars: list[Bar]) -> Chart:
    total = sum(bar.value for bar in bars)
    top = max(bars, key=lambda bar: bar.value)
    if total:
        summary = fmt(
            "Total {total}; highest {highest} ({when}).",
            total=count(total),
            highest=count(top.value),
            when=top.long_label,
        )
    else:
        summary = translate("Total 0.")
    words = Words(
        title=translate(title),
        x_axis=translate(x_axis),
        y_axis=translate("Check-ins"),
        empty=translate("No check-ins in this period"),
        summary=summary,
    )
    return Chart(chart_id, words.title, words.x_axis, bar_chart(chart_id, words, bars), bars)


def _now_ms() -> int:
    return int(time.time() * 1000)
