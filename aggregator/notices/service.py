"""Publishing exposure notices, listing them, and forgetting them after 28 days.

``publish`` is what ``POST /v1/cases/<case>/notices`` calls (aggregator/cases/), or
``publish_json`` with the request's decoded JSON body. In order:

1. the notice is checked strictly (protocol/notice.py) and its id must be new: a refusal
   raises ``NoticeRefused`` (HTTP status, counter reason, message), counted in
   ``COUNTS`` and, through the handler in aggregator/api/notices.py, in the API's
   refusal counters;
2. the audit entry ``notice`` (counts ``{"tags": n}``, n the real tags) is appended and
   committed (aggregator/audit_log.py): if that fails the error propagates and nothing
   is stored;
3. the tags are padded with random tags to a multiple of 16 (at least 16) and sorted,
   so the public list says neither who nor exactly how many, and the row is stored.

The public list holds the notices published in the last ``NOTICE_DAYS`` days;
``forget_notices`` (``safecode aggregator retention``) deletes older rows.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import peewee

from protocol.errors import OversizeError, ProtocolError
from protocol.notice import (
    MAX_PADDED_TAGS,
    MAX_SPAN_DAYS,
    TAG_SIZE,
    DuplicateTagError,
    Notice,
    check_notice,
    padded_size,
    parse_notice_json,
    random_tags,
)

from ..audit_log import append_audit
from .tables import NoticeEntry

log = logging.getLogger(__name__)

#: How long a notice is listed and kept: the visits' retention.
NOTICE_DAYS = 28
DAY_MS = 86_400_000
#: Notices published and refused in this process (``published``, ``refused:<reason>``).
COUNTS: Counter[str] = Counter()


class NoticeRefused(Exception):
    """A notice refused: ``status`` (HTTP), ``reason`` (counter label), ``message``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _refuse(status: int, reason: str, message: str) -> NoticeRefused:
    COUNTS[f"refused:{reason}"] += 1
    return NoticeRefused(status, reason, message)


@contextlib.contextmanager
def _format_refusals() -> Iterator[None]:
    """Turn the notice format's errors into counted refusals (413 or 400)."""
    try:
        yield
    except OversizeError as exc:
        raise _refuse(413, "too_many_tags", str(exc)) from exc
    except DuplicateTagError as exc:
        raise _refuse(400, "duplicate_tags", str(exc)) from exc
    except ProtocolError as exc:
        raise _refuse(400, "bad_notice", str(exc)) from exc


def _checked(
    *,
    notice_id: bytes,
    tags: Sequence[bytes],
    from_day: str,
    to_day: str,
    guidance: Mapping[str, str],
    now_ms: int,
) -> Notice:
    with _format_refusals():
        notice = check_notice(
            notice_id=notice_id, tags=tags, from_day=from_day, to_day=to_day, guidance=guidance
        )
    today = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC).date()
    # A day anywhere on Earth may be a day ahead of UTC; nothing older than retention.
    if datetime.date.fromisoformat(to_day) > today + datetime.timedelta(days=1):
        raise _refuse(400, "bad_notice", "to_day is in the future")
    if datetime.date.fromisoformat(from_day) < today - datetime.timedelta(days=MAX_SPAN_DAYS + 1):
        raise _refuse(400, "bad_notice", f"from_day is more than {MAX_SPAN_DAYS} days ago")
    return notice


def publish(
    *,
    case: bytes,
    actor: str,
    role: str,
    reason: str,
    notice_id: bytes,
    tags: Sequence[bytes],
    from_day: str,
    to_day: str,
    guidance: Mapping[str, str],
    now: Callable[[], float] = time.time,
) -> Notice:
    """Audit, pad and store a notice; return it as published (padded tags, ``published_ms``).

    Raises ``NoticeRefused`` for a notice the format refuses (400 ``bad_notice``,
    ``duplicate_tags``; 413 ``too_many_tags``) or whose id is taken (409
    ``notice_exists``): nothing is audited or stored then. An error from the audit
    log (a ProtocolError for ``actor``/``role``/``case``/``reason``, a peewee error
    when the database cannot take it, RuntimeError inside a transaction) propagates
    and nothing is stored. Must be called outside any database transaction.
    """
    now_ms = int(now() * 1000)
    notice = _checked(
        notice_id=notice_id,
        tags=tags,
        from_day=from_day,
        to_day=to_day,
        guidance=guidance,
        now_ms=now_ms,
    )
    if NoticeEntry.select().where(NoticeEntry.notice_id == notice.notice_id).exists():
        raise _refuse(409, "notice_exists", f"notice {notice.notice_id.hex()} is already published")
    audit_id = append_audit(
        action="notice",
        actor=actor,
        role=role,
        case=case,
        reason=reason,
        counts={"tags": len(notice.tags)},
        at_ms=now_ms,
    )
    padded = sorted([*notice.tags, *random_tags(padded_size(len(notice.tags)) - len(notice.tags))])
    if len(set(padded)) != len(padded):  # 2**-128 for random tags; kept as a guard
        raise RuntimeError("a random padding tag equals another tag")
    assert len(padded) <= MAX_PADDED_TAGS
    try:
        with NoticeEntry._meta.database.atomic():
            NoticeEntry.create(
                notice_id=notice.notice_id,
                case_id=case,
                audit_id=audit_id,
                tags=b"".join(padded),
                tag_count=len(padded),
                from_day=notice.from_day,
                to_day=notice.to_day,
                guidance_ko=notice.guidance["ko"],
                guidance_en=notice.guidance["en"],
                published_ms=now_ms,
            )
    except peewee.IntegrityError as exc:  # the same id published at the same moment
        raise _refuse(
            409, "notice_exists", f"notice {notice.notice_id.hex()} is already published"
        ) from exc
    COUNTS["published"] += 1
    log.info("published notice %s (%d tags listed)", notice.notice_id.hex(), len(padded))
    return Notice(
        notice.notice_id,
        tuple(padded),
        notice.from_day,
        notice.to_day,
        notice.guidance,
        now_ms,
    )


def publish_json(
    *,
    case: bytes,
    actor: str,
    role: str,
    reason: str,
    body: Any,
    now: Callable[[], float] = time.time,
) -> Notice:
    """``publish`` for the JSON body of ``POST /v1/cases/<case>/notices`` (the contract's form).

    ``body`` is the decoded JSON object ``{"notice": hex, "tags": [b64url], "from_day",
    "to_day", "guidance": {"ko", "en"}}``; a body the format refuses is a NoticeRefused
    (400 ``bad_notice`` / ``duplicate_tags``, 413 ``too_many_tags``), as in ``publish``.
    """
    with _format_refusals():
        notice = parse_notice_json(body)
    return publish(
        case=case,
        actor=actor,
        role=role,
        reason=reason,
        notice_id=notice.notice_id,
        tags=list(notice.tags),
        from_day=notice.from_day,
        to_day=notice.to_day,
        guidance=notice.guidance,
        now=now,
    )


def _notice_of(row: NoticeEntry) -> Notice:
    raw = bytes(row.tags)
    tags = tuple(raw[i : i + TAG_SIZE] for i in range(0, len(raw), TAG_SIZE))
    return Notice(
        bytes(row.notice_id),
        tags,
        row.from_day,
        row.to_day,
        {"ko": row.guidance_ko, "en": row.guidance_en},
        row.published_ms,
    )


def _listed(now: float | None) -> peewee.Expression:
    now_ms = int((time.time() if now is None else now) * 1000)
    return NoticeEntry.published_ms >= now_ms - NOTICE_DAYS * DAY_MS


def published(now: float | None = None) -> list[Notice]:
    """The notices published in the last NOTICE_DAYS days, oldest first."""
    rows = (
        NoticeEntry.select().where(_listed(now)).order_by(NoticeEntry.published_ms, NoticeEntry.id)
    )
    return [_notice_of(row) for row in rows]


def list_version(now: float | None = None) -> tuple[int, int, int, int]:
    """What identifies the current list without reading it: one indexed aggregate query.

    Rows are only ever added (with a growing id) and deleted, never changed, so the
    count, the highest id, the sum of ids and the latest publication time of the listed
    rows change whenever the list does.
    """
    count, high, total, latest = (
        NoticeEntry.select(
            peewee.fn.COUNT(NoticeEntry.id),
            peewee.fn.MAX(NoticeEntry.id),
            peewee.fn.SUM(NoticeEntry.id),
            peewee.fn.MAX(NoticeEntry.published_ms),
        )
        .where(_listed(now))
        .tuples()
        .get()
    )
    return (int(count), int(high or 0), int(total or 0), int(latest or 0))


def forget_notices(now: float, retention_days: int = NOTICE_DAYS) -> int:
    """Delete notices published more than ``retention_days`` ago; how many went."""
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    cutoff_ms = int(now * 1000) - retention_days * DAY_MS
    gone = int(NoticeEntry.delete().where(NoticeEntry.published_ms < cutoff_ms).execute())
    if gone:
        log.info("retention: deleted %d notice(s) published before %d", gone, cutoff_ms)
    return gone
