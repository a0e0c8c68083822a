"""The case pages' text: Korean for the templates, and the script's strings per language.

The templates mark English with ``_()`` (:mod:`aggregator.pages.i18n`); the script gets
:func:`script_strings` as JSON in the page, already in the page's language.
"""

from __future__ import annotations

from aggregator.pages.i18n import add_korean

PAGE_KOREAN = {
    "Cases": "사례",
    "Your cases": "내 사례",
    "No cases yet.": "아직 사례가 없습니다.",
    "Opened": "연 시각",
    "Reason": "사유",
    "Infectious period": "감염 가능 기간",
    "Case": "사례",
    "New case": "새 사례",
    "From": "시작일",
    "To (last day)": "종료일(마지막 날)",
    "Find the person by": "확진자 찾기",
    "Phone number": "전화번호",
    "Wallet code": "지갑 코드",
    "The text of the QR code the wallet shows under “Show to a health official”, "
    "as a QR reader reads it (SC1:…).": (
        "지갑의 “보건 담당자에게 보여 주기” 화면에 나오는 QR 코드를 판독기로 읽은 "
        "글자(SC1:…)입니다."
    ),
    "Open the case": "사례 열기",
    "This page needs JavaScript.": "이 페이지는 JavaScript가 필요합니다.",
    "Open the case's data": "사례 자료 열기",
    "Health authority key file": "보건 당국 키 파일",
    "Passphrase": "암호문",
    "The key and passphrase stay in this page's memory: they are never stored or sent.": (
        "키와 암호문은 이 페이지의 메모리에만 있으며 저장되거나 전송되지 않습니다."
    ),
    "Decrypt": "복호화",
    "The case's visits": "확진자의 방문",
    "Venue": "시설",
    "Start": "시작",
    "End": "끝",
    "Exposures": "노출",
    "Time": "시간",
    "Overlap (min)": "겹친 시간(분)",
    "Code type": "코드 종류",
    "Card holder / name": "카드 소지자 / 이름",
    "Call list": "연락 목록",
    "Export CSV": "CSV 내보내기",
    "Publish a notice": "알림 게시",
    "First day": "첫날",
    "Last day": "마지막 날",
    "Guidance in Korean": "한국어 안내",
    "Guidance in English": "영어 안내",
    "Publish": "게시",
    "Back to the cases": "사례 목록으로",
}
add_korean(PAGE_KOREAN)

GUIDANCE_KO = (
    "확진자와 같은 시간에 같은 장소를 방문하셨습니다. 증상이 없어도 가까운 보건소에서 "
    "검사를 받고, 결과가 나올 때까지 다른 사람과의 접촉을 줄여 주세요."
)
GUIDANCE_EN = (
    "You visited a place at the same time as a confirmed case. Please get tested at a "
    "public health centre even without symptoms, and limit contact with others until "
    "you have the result."
)

#: The script's strings: key -> (English, Korean).
SCRIPT_STRINGS: dict[str, tuple[str, str]] = {
    "opening": ("Opening the case…", "사례를 여는 중…"),
    "decrypting": ("Decrypting in this page…", "이 페이지에서 복호화하는 중…"),
    "step_open": ("Opening the case's sealed lists…", "사례의 봉인된 목록을 여는 중…"),
    "step_exposures": ("Asking for the exposure list…", "노출 목록을 요청하는 중…"),
    "step_contacts": ("Opening the contacts…", "연락처를 여는 중…"),
    "step_done": ("Done.", "완료."),
    "decrypted": ("Decrypted in this page.", "이 페이지에서 복호화했습니다."),
    "wrong_key": (
        "This key file or passphrase does not open the case. Nothing was shown; the attempt "
        "is in the audit log.",
        "이 키 파일이나 암호문으로는 사례를 열 수 없습니다. 아무것도 표시하지 않았으며 "
        "시도는 감사 기록에 남았습니다.",
    ),
    "not_key_file": (
        "That file is not a health authority key file. Nothing was shown; the attempt is in "
        "the audit log.",
        "보건 당국 키 파일이 아닙니다. 아무것도 표시하지 않았으며 시도는 감사 기록에 남았습니다.",
    ),
    "no_opening": (
        "This browser does not hold the case's sealed lists (they come when the case is "
        "opened): open the case again from the cases page.",
        "이 브라우저에는 사례의 봉인된 목록이 없습니다(사례를 열 때 받습니다). 사례 "
        "목록에서 사례를 다시 여세요.",
    ),
    "refused": ("The server refused", "서버가 거부했습니다"),
    "failed": ("Something failed: try again.", "실패했습니다. 다시 시도하세요."),
    "checkin": ("wallet", "지갑"),
    "card": ("card", "카드"),
    "no_name": ("(no name given)", "(이름 없음)"),
    "unknown": ("(no contact)", "(연락처 없음)"),
    "count_visits": ("Visits", "방문"),
    "count_exposures": ("Exposures", "노출"),
    "count_calls": ("People to call", "연락할 사람"),
    "count_unreadable": ("Unreadable", "읽을 수 없음"),
    "exported": ("The CSV is saved.", "CSV를 저장했습니다."),
    "publishing": ("Publishing…", "게시하는 중…"),
    "published": ("The notice is published", "알림을 게시했습니다"),
}


def script_strings(language: str) -> dict[str, str]:
    """The script's strings in ``language`` (``ko`` or ``en``)."""
    index = 1 if language == "ko" else 0
    return {key: pair[index] for key, pair in SCRIPT_STRINGS.items()}
