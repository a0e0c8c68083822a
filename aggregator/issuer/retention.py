"""Forgetting the issuer's records once no trace can need them.

A credential's sealed owner is what lets the health authority, during a trace, find the
enrolment behind a visit; visits are readable for ``retention_days`` (the ledger's day
keys, ``aggregator/retention.py``), so a credential row is kept until that long after
its validity ended, then deleted. A batch row only enforces one batch a day and lists
credentials for a trace: it goes once its day is as old. Nonces go once the requests
carrying them are stale. Enrolments stay until their wallet deletes them.

``safecode aggregator retention`` calls ``forget_issued`` (and the desk's ``forget_cards``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import peewee

from protocol.issuance import local_day

from ..revocations import RevokedCredentialEntry
from .tables import BatchEntry, IssuedCredentialEntry, NonceEntry

DAY_S = 86_400


@dataclass(frozen=True)
class IssuedForgotten:
    """What one run deleted."""

    credentials: int
    batches: int
    nonces: int
    revocations: int = 0


def forget_issued(now: float, retention_days: int, zone: ZoneInfo) -> IssuedForgotten:
    """Delete credentials ended, and batches issued, more than ``retention_days`` ago."""
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    cutoff_s = int(now) - retention_days * DAY_S
    oldest_day = local_day(now, zone) - datetime.timedelta(days=retention_days)
    with IssuedCredentialEntry._meta.database.atomic():
        ended = IssuedCredentialEntry.select(IssuedCredentialEntry.credential_id).where(
            IssuedCredentialEntry.not_after < int(now) - DAY_S
        )
        revocations = forget_ended_revocations(ended)
        credentials = (
            IssuedCredentialEntry.delete()
            .where(IssuedCredentialEntry.not_after < cutoff_s)
            .execute()
        )
        batches = BatchEntry.delete().where(BatchEntry.day < oldest_day.isoformat()).execute()
        nonces = NonceEntry.delete().where(NonceEntry.expires_s < int(now)).execute()
    return IssuedForgotten(credentials, batches, nonces, revocations)


def forget_ended_revocations(ended: peewee.SelectQuery) -> int:
    """Take credentials that ended over a day ago off the revocation list.

    Every kiosk and ingest refuse them as expired anyway; without this the list every
    kiosk receives would grow with each wallet that leaves, up to its size limit.
    """
    return int(
        RevokedCredentialEntry.delete()
        .where(RevokedCredentialEntry.credential_id.in_(ended))
        .execute()
    )
