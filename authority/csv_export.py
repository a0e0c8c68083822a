"""The call list as CSV: one row per exposure, no cell a spreadsheet would run as a formula.

Columns (docs/ARCHITECTURE.md "Tracing a case"): ``venue, case_start, case_end,
exposed_start, exposed_end, overlap_minutes, code_type, name, phone, language``. Times
are ISO 8601 with seconds in the site's time zone (``2025-11-24T19:00:00+09:00``);
``overlap_minutes`` is the overlap in whole minutes, rounded down. Every cell that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``
(so a phone number ``+8210...`` reads ``'+8210...``, and a venue or name typed as
``=HYPERLINK(...)`` is text); then RFC 4180: fields holding a comma, a quote, CR or LF
are quoted, quotes doubled, lines end in CRLF. The browser's ``casework/src/csv.js``
must write the same bytes (``protocol/vectors/casework.json``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

COLUMNS = (
    "venue",
    "case_start",
    "case_end",
    "exposed_start",
    "exposed_end",
    "overlap_minutes",
    "code_type",
    "name",
    "phone",
    "language",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CallRow:
    """One exposure and, once decrypted, whom to call (name may be empty)."""

    venue: str
    case_start_ms: int
    case_end_ms: int
    start_ms: int
    end_ms: int
    overlap_s: float
    code_type: str
    name: str
    phone: str
    language: str


def safe_cell(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet could read it as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def iso_time(ms: int, zone: ZoneInfo) -> str:
    """``ms`` since the epoch as ISO 8601 with seconds and offset, in ``zone``."""
    return dt.datetime.fromtimestamp(ms // 1000, tz=zone).isoformat(timespec="seconds")


def cells(row: CallRow, zone: ZoneInfo) -> list[str]:
    """The row's cells, formula-safe."""
    values = [
        row.venue,
        iso_time(row.case_start_ms, zone),
        iso_time(row.case_end_ms, zone),
        iso_time(row.start_ms, zone),
        iso_time(row.end_ms, zone),
        str(int(row.overlap_s // 60)),
        row.code_type,
        row.name,
        row.phone,
        row.language,
    ]
    return [safe_cell(value) for value in values]


def csv_text(rows: Iterable[CallRow], zone: ZoneInfo) -> str:
    """The whole CSV: the header, then one line per row."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(cells(row, zone))
    return out.getvalue()
