"""Retention: destroy the data keys of days older than the retention period.

After this the visits of those days can never be read again (their ciphertexts
are erased too), and their rows are forgotten in the same run: kiosk, sequence
number, presentation hash, times and placement are blanked (aggregator/forget.py).
Every leaf, block and checkpoint stays and still verifies: the ledger only ever held
commitments. Run it daily (a timer, or the service).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .db import CheckinEntry
from .forget import allow_forgetting, forget_sealed_visits, reclaim
from .vault import DAY_MS, DayKey, day_of, forget_in_installed

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 28


@dataclass(frozen=True)
class RetentionReport:
    """What one run destroyed."""

    days: tuple[int, ...]
    records_erased: int
    #: Sealed check-ins whose where and when were blanked by this run.
    visits_forgotten: int = 0


def first_kept_day(now: float, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """The oldest day still kept at ``now``: days before it lie wholly beyond retention."""
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    return day_of(int(now * 1000) - retention_days * DAY_MS)


def destroy_expired_keys(
    now: float, retention_days: int = DEFAULT_RETENTION_DAYS
) -> RetentionReport:
    """Destroy every day key older than ``retention_days``, erase and forget that day's visits.

    A day is destroyed once all of it lies more than ``retention_days`` before ``now``.
    Its sealed check-ins keep only what the ledger needs (aggregator/forget.py); the
    database is then asked to drop the old bytes. Idempotent: a second run finds
    nothing to do.
    """
    cutoff = first_kept_day(now, retention_days)
    now_ms = int(now * 1000)
    db = DayKey._meta.database
    with db.atomic():
        allow_forgetting(db)
        days = tuple(
            row.day
            for row in DayKey.select(DayKey.day)
            .where((DayKey.day < cutoff) & ~DayKey.destroyed)
            .order_by(DayKey.day)
        )
        if days:
            DayKey.update(wrapped=b"", destroyed=True, destroyed_ms=now_ms).where(
                DayKey.day.in_(days)
            ).execute()
        # Also rows of days whose key was destroyed earlier but which still hold bytes.
        erased = (  # the visit tag dies with the key; blank it too (aggregator/trace/)
            CheckinEntry.update(sealed=b"", visit_tag=None, code_mark=None)
            .where((CheckinEntry.day < cutoff) & (CheckinEntry.sealed != b""))
            .execute()
        )
        forgotten = forget_sealed_visits(cutoff)
    forget_in_installed(list(days))  # tracing's cache (aggregator.vault) checks the rows too
    if days or erased or forgotten:
        log.info(
            "retention: destroyed the data keys of %d day(s), erased %d visit(s),"
            " forgot where and when of %d",
            len(days),
            erased,
            forgotten,
        )
        reclaim(db)
    return RetentionReport(days, erased, forgotten)
