"""The call list's CSV (authority/csv_export.py): formula-safe cells, RFC 4180, local times."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from authority.csv_export import COLUMNS, CallRow, csv_text, safe_cell

SEOUL = ZoneInfo("Asia/Seoul")
T0 = 1_763_978_400_000  # 2025-11-24 10:00 UTC, 19:00 in Seoul


def row(**changes: object) -> CallRow:
    fields: dict[str, object] = {
        "venue": "cafe-1",
        "case_start_ms": T0,
        "case_end_ms": T0 + 3_600_000,
        "start_ms": T0 + 600_000,
        "end_ms": T0 + 4_200_000,
        "overlap_s": 3000.0,
        "code_type": "checkin",
        "name": "Kim",
        "phone": "+821012345678",
        "language": "ko",
    }
    return CallRow(**{**fields, **changes})  # type: ignore[arg-type]


def test_header_times_and_minutes() -> None:
    text = csv_text([row(overlap_s=3059.9)], SEOUL)
    assert text.split("\r\n")[0] == ",".join(COLUMNS)
    assert text.split("\r\n")[1] == (
        "cafe-1,2025-11-24T19:00:00+09:00,2025-11-24T20:00:00+09:00,"
        "2025-11-24T19:10:00+09:00,2025-11-24T20:10:00+09:00,50,checkin,Kim,'+821012345678,ko"
    )
    assert text.endswith("\r\n")


def test_every_formula_start_is_defused() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(start + "1+1") == "'" + start + "1+1"
    assert safe_cell("Kim") == "Kim" and safe_cell("") == "" and safe_cell(" =x") == " =x"
    hostile = row(venue='=HYPERLINK("http://x")', name="@SUM(A1)", language="-1")
    line = csv_text([hostile], SEOUL).split("\r\n")[1]
    assert line.startswith('"\'=HYPERLINK(""http://x"")",')
    assert ",'@SUM(A1),'+821012345678,'-1" in line


def test_rfc4180_quoting() -> None:
    text = csv_text([row(name='Lee, "Jr"\nline')], SEOUL)
    assert '"Lee, ""Jr""\nline"' in text


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(venue=CELL, name=CELL, language=CELL)
def test_no_cell_ever_starts_a_formula_and_all_round_trip(
    venue: str, name: str, language: str
) -> None:
    text = csv_text([row(venue=venue, name=name, language=language)], SEOUL)
    header, cells = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(COLUMNS)
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cells[0] == safe_cell(venue) and cells[7] == safe_cell(name)
    assert cells[9] == safe_cell(language)
