"""Cases: making one, finding one of the caller's, its exposure list and its contacts.

A case belongs to the account that opened it: :func:`case_of` gives ``None`` for a
case id that does not exist and for one opened by someone else alike (the API answers
404 to both). The exposure list (``aggregator.trace.exposure.find_exposures``) runs
over the case's own period; its handles are remembered so that :func:`contacts_of_handles`
answers only for handles this case was shown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..desk.cards import CardEntry
from ..issuer.tables import EnrolmentEntry, IssuedCredentialEntry
from ..models_base import concrete_database
from ..trace.exposure import ExposureList, credential_ids_of, find_exposures
from .context import TracingContext
from .resume import forget_openings, keep_opening
from .tables import CASE_ID_SIZE, CaseEntry, CaseHandle

#: Handles stored per insert statement (each is two parameters).
_HANDLES_PER_INSERT = 200


class UnknownHandles(LookupError):
    """Handles this case's exposure lists never handed out (the API answers 404)."""


def new_case_id() -> bytes:
    """16 random bytes."""
    return os.urandom(CASE_ID_SIZE)


def create_case(
    case_id: bytes,
    opener: str,
    reason: str,
    start_ms: int,
    end_ms: int,
    now_ms: int | None = None,
    *,
    sealed_opening: bytes | None = None,
) -> CaseEntry:
    """Store a new case and its sealed opening (its audit entry was written before)."""
    opened = int(time.time() * 1000) if now_ms is None else now_ms
    with concrete_database(CaseEntry._meta.database).atomic():
        case = CaseEntry.create(
            case_id=case_id,
            opener=opener,
            reason=reason,
            start_ms=start_ms,
            end_ms=end_ms,
            opened_ms=opened,
        )
        keep_opening(case_id, sealed_opening)
    return case


def case_of(case_id: bytes, opener: str) -> CaseEntry | None:
    """The case ``case_id`` if ``opener`` opened it, else None (missing or not theirs)."""
    row = CaseEntry.get_or_none(CaseEntry.case_id == case_id)
    if row is None or row.opener != opener:
        return None
    return row


def exposures_of(
    ctx: TracingContext, case: CaseEntry, credential_ids: Sequence[bytes]
) -> ExposureList:
    """The exposure list of ``credential_ids`` over the case's period (TraceRequestError)."""
    return find_exposures(
        credential_ids, case.start_ms, case.end_ms, vault=ctx.vault, settings=ctx.trace
    )


def remember_handles(case: CaseEntry, handles: Sequence[str]) -> None:
    """Record the handles an exposure list of ``case`` is about to hand out."""
    rows = [{"case_id": bytes(case.case_id), "handle": h} for h in dict.fromkeys(handles)]
    db = concrete_database(CaseHandle._meta.database)
    with db.atomic():
        for at in range(0, len(rows), _HANDLES_PER_INSERT):
            CaseHandle.insert_many(
                rows[at : at + _HANDLES_PER_INSERT]
            ).on_conflict_ignore().execute()


def check_handles(case: CaseEntry, handles: Sequence[str]) -> None:
    """UnknownHandles unless every handle was handed out by one of the case's lists."""
    wanted = set(handles)
    known = {
        row.handle
        for row in CaseHandle.select(CaseHandle.handle).where(
            (CaseHandle.case_id == bytes(case.case_id)) & CaseHandle.handle.in_(list(wanted))
        )
    }
    if known != wanted:
        raise UnknownHandles(f"{len(wanted - known)} handle(s) are not this case's")


@dataclass
class HandleContacts:
    """Per handle: a wallet credential's sealed owner, or a card's contact blob."""

    owners: list[tuple[str, bytes]] = field(default_factory=list)
    contacts: list[tuple[str, bytes]] = field(default_factory=list)


def contacts_of_handles(ctx: TracingContext, handles: Sequence[str]) -> HandleContacts:
    """The sealed owners and card contacts behind ``handles`` (checked with check_handles)."""
    ids = credential_ids_of(list(handles), vault=ctx.vault)
    by_id: dict[bytes, list[str]] = {}  # two handles may lead to one credential
    for handle, cid in ids.items():
        by_id.setdefault(cid, []).append(handle)
    found = HandleContacts()
    if not by_id:
        return found
    wanted = list(by_id)
    for row in IssuedCredentialEntry.select(
        IssuedCredentialEntry.credential_id, IssuedCredentialEntry.sealed_owner
    ).where(IssuedCredentialEntry.credential_id.in_(wanted)):
        for handle in by_id[bytes(row.credential_id)]:
            found.owners.append((handle, bytes(row.sealed_owner)))
    for card in CardEntry.select(CardEntry.credential_id, CardEntry.contact).where(
        CardEntry.credential_id.in_(wanted)
    ):
        for handle in by_id[bytes(card.credential_id)]:
            found.contacts.append((handle, bytes(card.contact)))
    order = {handle: i for i, handle in enumerate(handles)}
    found.owners.sort(key=lambda item: order[item[0]])
    found.contacts.sort(key=lambda item: order[item[0]])
    return found


def contacts_of_enrolments(enrolments: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    """``(enrolment id, contact blob)`` of each enrolment that still exists, in order asked."""
    if not enrolments:
        return []
    blobs = {
        bytes(row.enrolment_id): bytes(row.contact)
        for row in EnrolmentEntry.select(EnrolmentEntry.enrolment_id, EnrolmentEntry.contact).where(
            EnrolmentEntry.enrolment_id.in_(list(enrolments))
        )
    }
    return [(e, blobs[e]) for e in dict.fromkeys(enrolments) if e in blobs]


def forget_case_handles(now: float, retention_days: int) -> int:
    """Delete the handles of cases opened more than ``retention_days`` ago; how many.

    A handle names an exposed visit's credential; once the visits themselves are
    unreadable (retention destroyed their day keys) no contacts request can need it.
    The case rows stay: they hold no visitor data, and their audit entries name them.
    """
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    cutoff_ms = int(now * 1000) - retention_days * 86_400_000
    old = CaseEntry.select(CaseEntry.case_id).where(CaseEntry.opened_ms < cutoff_ms)
    return int(CaseHandle.delete().where(CaseHandle.case_id.in_(old)).execute())


def forget_case_openings(now: float, retention_days: int) -> int:
    """Delete the sealed openings of cases opened, or whose period began, too long ago.

    Past ``retention_days`` after the period's start its first days' visits are
    unreadable and the issuer forgets their batch lists, so the copy kept for taking
    the case up again goes too (the case can no longer be resumed; its rows stay).
    """
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    cutoff_ms = int(now * 1000) - retention_days * 86_400_000
    old = CaseEntry.select(CaseEntry.case_id).where(
        (CaseEntry.opened_ms < cutoff_ms) | (CaseEntry.start_ms < cutoff_ms)
    )
    return forget_openings(old)
