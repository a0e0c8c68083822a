"""Korean and English for the staff pages: a small dictionary, chosen per request.

Why not Flask-Babel: two languages and a few dozen strings. Babel would bring its CLDR
data (tens of megabytes on a Pi) and a catalogue compile step at set-up for what a
dictionary does; and a test (tests/unit/test_pages_i18n.py) checks that every string a
template marks with ``_()`` has its Korean here, which is the check a ``.po`` file gets
from ``pybabel``. Other page helpers add their strings with :func:`add_korean`.

The language is the one the visitor chose with the switch (kept in the session), else
the best match of the browser's Accept-Language, else Korean (the country's language).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import request, session

LANGUAGES: tuple[str, ...] = ("ko", "en")
DEFAULT = "ko"
SESSION_KEY = "lang"

KOREAN: dict[str, str] = {
    "Staff pages": "직원 페이지",
    "Log in": "로그인",
    "Log out": "로그아웃",
    "Log out everywhere": "모든 기기에서 로그아웃",
    "Name": "이름",
    "Password": "비밀번호",
    "Language": "언어",
    "Change": "변경",
    "Main content": "본문",
    "Skip to the content": "본문으로 건너뛰기",
    "Logged in as": "로그인 사용자",
    "Wrong name or password, or too many tries: wait a while and try again.": (
        "이름이나 비밀번호가 틀렸거나 시도 횟수가 너무 많습니다. 잠시 후 다시 시도하세요."
    ),
    "Too many failed logins from this address: wait a while and try again.": (
        "이 주소에서 로그인 실패가 너무 많습니다. 잠시 후 다시 시도하세요."
    ),
    "You have logged out.": "로그아웃했습니다.",
    "Your session has ended: please log in again.": "세션이 끝났습니다. 다시 로그인하세요.",
    "What you may do": "할 수 있는 일",
    "not available yet": "아직 준비되지 않음",
    "Open a case and trace its contacts": "확진자 사례를 열고 접촉자 추적",
    "Your venues: kiosks, check-ins per hour, alarms": "내 시설: 키오스크, 시간별 체크인, 경보",
    "The fleet: every kiosk, backlog, clock, firmware; retire a kiosk": (
        "전체 키오스크: 대기열, 시계, 펌웨어, 키오스크 퇴역"
    ),
    "Print and revoke visitor cards": "방문자 카드 인쇄 및 취소",
    "The public ledger explorer": "공개 원장 탐색기",
    "Health official": "역학조사관",
    "Venue owner": "시설 관리자",
    "Operator": "운영 기술자",
    "Desk staff": "안내 창구 직원",
    "Your venues": "내 시설",
    "Not allowed": "허용되지 않음",
    "You may not open this page.": "이 페이지를 열 수 없습니다.",
    "Not found": "찾을 수 없음",
    "There is no such page.": "그런 페이지가 없습니다.",
    "Refused": "거부됨",
    "The form was too old or not sent from this site: go back, reload and try again.": (
        "양식이 오래되었거나 이 사이트에서 보낸 것이 아닙니다. "
        "돌아가서 새로 고친 뒤 다시 시도하세요."
    ),
    "Back to the start": "처음으로",
}
"""English text -> Korean. English is the key, so a missing entry shows English."""

ROLE_LABELS: dict[str, str] = {
    "official": "Health official",
    "venue": "Venue owner",
    "operator": "Operator",
    "desk": "Desk staff",
}


def add_korean(entries: Mapping[str, str]) -> None:
    """Add Korean for more English strings (other page modules call this at import)."""
    KOREAN.update(entries)


def current_language() -> str:
    """``ko`` or ``en`` for this request (session choice, Accept-Language, default)."""
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


def translate(text: str) -> str:
    """``text`` in this request's language."""
    if current_language() == "ko":
        return KOREAN.get(text, text)
    return text
