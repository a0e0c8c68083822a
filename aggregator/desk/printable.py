"""The printed card: one A6 page (print stylesheet) with the QR code as inline SVG.

Korean and English side by side whatever the visitor's language (the language comes
first), the card's last valid day, and short instructions; no identity beyond an
optional first name the staff chose to print. The QR comes from segno at error
correction level M (a card is paper: creases and smudges), sized 62 mm on the page.
Every value is escaped by Jinja2's autoescape (a name holding ``<script>`` prints as
text); the SVG is the one piece marked safe, and segno builds it from the code alone.
The card's id appears only on screen (``@media print`` hides it), for the staff.
"""

from __future__ import annotations

import segno
from jinja2 import Environment
from markupsafe import Markup

from .cards import IssuedCard

QR_ERROR = "m"
_TEXTS = {
    "ko": {
        "title": "안전코드 카드",
        "show": "입구 카메라에 이 코드를 보여 주세요.",
        "valid": "{day}까지 사용할 수 있습니다.",
        "lost": "잃어버리면 안내 데스크에 알려 주세요. 복사하거나 빌려주지 마세요.",
        "name": "이름",
    },
    "en": {
        "title": "safecode card",
        "show": "Show this code to the camera at the entrance.",
        "valid": "Valid until {day}.",
        "lost": "If you lose it, tell the desk. Do not copy or lend it.",
        "name": "Name",
    },
}
_TEMPLATE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ texts[0].title }} / {{ texts[1].title }}</title>
<style>
@page { size: A6 portrait; margin: 6mm; }
html, body { margin: 0; padding: 0; background: #fff; color: #000; }
body { font-family: "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", sans-serif; }
.card { width: 93mm; min-height: 136mm; margin: 0 auto; box-sizing: border-box;
        padding: 2mm; text-align: center; }
h1 { font-size: 13pt; margin: 0 0 2mm; }
.qr svg { width: 62mm; height: 62mm; }
p { font-size: 9.5pt; margin: 1.2mm 0; line-height: 1.3; }
.valid { font-weight: bold; font-size: 11pt; }
.name { font-size: 11pt; }
.staff { font: 9pt monospace; color: #555; margin-top: 6mm; }
@media print { .staff { display: none; } }
</style>
</head>
<body>
<main class="card">
<h1>{{ texts[0].title }} · {{ texts[1].title }}</h1>
{% if first_name %}
<p class="name">{{ texts[0].name }} / {{ texts[1].name }}: {{ first_name }}</p>
{% endif %}
<div class="qr">{{ qr_svg }}</div>
{% for t in texts %}<p class="valid">{{ t.valid }}</p>{% endfor %}
{% for t in texts %}<p>{{ t.show }}</p><p>{{ t.lost }}</p>{% endfor %}
</main>
<p class="staff">card {{ card_id }} (not printed)</p>
</body>
</html>
"""
_ENV = Environment(autoescape=True, keep_trailing_newline=True)
_PAGE = _ENV.from_string(_TEMPLATE)


def qr_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG scaled by CSS (viewBox, no fixed size)."""
    qr = segno.make(text, error=QR_ERROR, micro=False, boost_error=False)
    return qr.svg_inline(scale=1, omitsize=True, dark="#000", light="#fff")


def render_card(card: IssuedCard) -> str:
    """The printable HTML page of ``card``."""
    order = (card.language, *(lang for lang in _TEXTS if lang != card.language))
    day = card.last_day.isoformat()
    texts = [{**_TEXTS[lang], "valid": _TEXTS[lang]["valid"].format(day=day)} for lang in order]
    return _PAGE.render(
        lang=card.language,
        texts=texts,
        first_name=card.first_name,
        qr_svg=Markup(qr_svg(card.code.to_text())),  # noqa: S704 - segno's own markup
        card_id=card.card_id.hex(),
    )
