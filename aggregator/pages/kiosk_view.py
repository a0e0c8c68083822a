"""What the venue and fleet pages share: the site's clock, kiosk rows, words and their Korean.

- :func:`site_zone` / :func:`offline_after_ms`: the app's ``TIME_ZONE`` (the site's
  calendar, ``[issuer] time_zone``, default Asia/Seoul) and ``OFFLINE_AFTER_S``;
- :class:`KioskRow`: a kiosk's health (aggregator/kiosk_health.py) as the kiosk table
  (``templates/pages/_kiosks.html``) shows it, every figure already in words;
- :func:`fmt`: a translated text with ``{name}`` fields filled in.

Every English text of these pages is a key of :data:`KOREAN` (added to the pages'
dictionary at import); ``tests/unit/test_venue_fleet_pages.py`` checks that each text
the modules use has its Korean.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from ..issuer.settings import DEFAULT_TIME_ZONE, time_zone
from ..kiosk_health import KioskHealth
from .i18n import add_korean, translate

KOREAN: dict[str, str] = {
    "Venue": "시설",
    "Kiosk": "키오스크",
    "Kiosks": "키오스크",
    "Online": "온라인",
    "Offline": "오프라인",
    "Status": "상태",
    "Alarms": "경보",
    "No alarms": "경보 없음",
    "Last heartbeat": "마지막 신호",
    "Waiting to send": "전송 대기",
    "Clock": "시계",
    "Firmware": "펌웨어",
    "Last check-in": "마지막 체크인",
    "synchronised": "동기화됨",
    "not synchronised": "동기화 안 됨",
    "unknown": "알 수 없음",
    "never": "없음",
    "none": "없음",
    "offset {offset}": "차이 {offset}",
    "{count}, oldest {age}": "{count}건, 가장 오래된 것 {age}",
    "{n} s ago": "{n}초 전",
    "{n} min ago": "{n}분 전",
    "{n} h ago": "{n}시간 전",
    "{n} d ago": "{n}일 전",
    "{n} s": "{n}초",
    "{n} min": "{n}분",
    "{n} h": "{n}시간",
    "{n} d": "{n}일",
    "Offline: no recent heartbeat": "오프라인: 최근 신호 없음",
    "Backlog: check-ins wait to be sent": "전송 지연: 보내지 못한 체크인이 쌓임",
    "Clock not synchronised": "시계가 동기화되지 않음",
    "Disk nearly full": "저장 공간 부족",
    "Times are in {zone}.": "시각은 {zone} 기준입니다.",
    "Show the figures as a table": "수치를 표로 보기",
    "Total {total}; highest {highest} ({when}).": "합계 {total}, 최고 {highest} ({when}).",
    "Total 0.": "합계 0.",
}
"""English text -> Korean, for these pages."""
add_korean(KOREAN)

ALARM_TEXT: dict[str, str] = {
    "offline": "Offline: no recent heartbeat",
    "backlog": "Backlog: check-ins wait to be sent",
    "clock": "Clock not synchronised",
    "disk": "Disk nearly full",
}


def fmt(text: str, **fields: object) -> str:
    """``text`` translated, then its ``{name}`` fields filled in."""
    return translate(text).format(**fields)


def site_zone() -> ZoneInfo:
    """The site's time zone (app setting ``TIME_ZONE``; ConfigError if it is not one)."""
    return time_zone(current_app.config.get("TIME_ZONE", DEFAULT_TIME_ZONE))


def offline_after_ms() -> int:
    """Heartbeat age after which a kiosk counts as offline (app ``OFFLINE_AFTER_S``)."""
    return int(current_app.config["OFFLINE_AFTER_S"] * 1000)


def duration(ms: int) -> str:
    """A span of time in words: seconds, minutes, hours or days (rounded down)."""
    seconds = max(ms, 0) // 1000
    if seconds < 120:
        return fmt("{n} s", n=seconds)
    if seconds < 7200:
        return fmt("{n} min", n=seconds // 60)
    if seconds < 172_800:
        return fmt("{n} h", n=seconds // 3600)
    return fmt("{n} d", n=seconds // 86_400)


def ago(then_ms: int | None, now_ms: int) -> str:
    """How long ago ``then_ms`` was, in words; "never" for None."""
    if then_ms is None:
        return translate("never")
    seconds = max(now_ms - then_ms, 0) // 1000
    if seconds < 120:
        return fmt("{n} s ago", n=seconds)
    if seconds < 7200:
        return fmt("{n} min ago", n=seconds // 60)
    if seconds < 172_800:
        return fmt("{n} h ago", n=seconds // 3600)
    return fmt("{n} d ago", n=seconds // 86_400)


def local_stamp(ms: int, zone: ZoneInfo) -> str:
    """``ms`` as local ``YYYY-MM-DD HH:MM`` (numbers read the same in both languages)."""
    return datetime.fromtimestamp(ms / 1000, tz=zone).strftime("%Y-%m-%d %H:%M")


def signed_seconds(ms: int) -> str:
    """A clock offset: ``+1.2 s`` / ``-0.4 s`` (the kiosk ahead of the aggregator: +)."""
    return f"{ms / 1000:+.1f} s"


@dataclass(frozen=True)
class KioskRow:
    """One kiosk as the kiosk table shows it: every cell already words."""

    kiosk_id: str
    venue_id: str
    online: bool
    status: str
    last_seen: str
    last_seen_at: str
    waiting: str
    clock: str
    firmware: str
    last_checkin: str
    alarms: tuple[str, ...]
    alarm_texts: tuple[str, ...]


def kiosk_row(
    health: KioskHealth, now_ms: int, zone: ZoneInfo, last_checkin_ms: int | None = None
) -> KioskRow:
    """The words of one kiosk's row."""
    if health.queue is None:
        waiting = translate("unknown")
    elif health.queue and health.oldest_unsent_ms is not None:
        waiting = fmt(
            "{count}, oldest {age}",
            count=f"{health.queue:,}",
            age=duration(health.oldest_unsent_ms),
        )
    else:
        waiting = f"{health.queue:,}"
    if health.clock_synced is None:
        clock = translate("unknown")
    else:
        clock = translate("synchronised" if health.clock_synced else "not synchronised")
    if health.clock_offset_ms is not None:
        clock += ", " + fmt("offset {offset}", offset=signed_seconds(health.clock_offset_ms))
    return KioskRow(
        kiosk_id=health.kiosk_id,
        venue_id=health.venue_id,
        online=health.online,
        status=translate("Online" if health.online else "Offline"),
        last_seen=ago(health.last_seen_ms, now_ms),
        last_seen_at="" if health.last_seen_ms is None else local_stamp(health.last_seen_ms, zone),
        waiting=waiting,
        clock=clock,
        firmware=health.firmware or translate("unknown"),
        last_checkin=(
            translate("none") if last_checkin_ms is None else local_stamp(last_checkin_ms, zone)
        ),
        alarms=health.alarms,
        alarm_texts=tuple(translate(ALARM_TEXT[a]) for a in health.alarms),
    )
