"""Keeping a case's opening, sealed, so the official can take the case up again.

``POST /v1/cases`` hands out what opening found (``aggregator.cases.opening.Opening``):
batch lists and owners sealed by the issuer to the health authority (HA), and card
credential ids. Those very blob bytes sit in the issuer's tables beside enrolment ids
(and card ids beside phone tags), so a copy kept beside the case as it is would let
anyone reading the database join the case to its person. The copy is sealed once more,
as one fixed-size blob, to the HA key (``protocol.case_opening``): one ``case_opening``
row per case, written in the transaction that creates the case, deleted by retention
(:func:`forget_openings`). The server can neither read it nor join it to anything.

A process without the HA public key (``TracingContext.authority_key`` None), or an
opening too large for the blob, keeps nothing: that case cannot be taken up again
(410 ``no_opening``, as for cases opened before openings were kept).
"""

from __future__ import annotations

import peewee
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from protocol.case_opening import seal_case_opening
from protocol.errors import OversizeError

from .opening import Opening
from .tables import CaseEntry, CaseOpening


def seal_opening(found: Opening, authority_key: X25519PublicKey | None) -> bytes | None:
    """The row's ``sealed`` value for ``found``; None if it cannot be kept."""
    if authority_key is None:
        return None
    try:
        return seal_case_opening(authority_key, found.batches, found.owners, found.credentials)
    except OversizeError:
        return None


def keep_opening(case_id: bytes, sealed: bytes | None) -> None:
    """Store a case's sealed opening (inside the transaction that creates the case)."""
    if sealed is not None:
        CaseOpening.create(case_id=case_id, sealed=sealed)


def opening_of(case: CaseEntry) -> bytes | None:
    """The case's sealed opening, or None if none was kept (or retention deleted it)."""
    row = CaseOpening.get_or_none(CaseOpening.case_id == bytes(case.case_id))
    return None if row is None else bytes(row.sealed)


def forget_openings(old_cases: peewee.SelectQuery) -> int:
    """Delete the openings of ``old_cases`` (a query of case ids); how many."""
    return int(CaseOpening.delete().where(CaseOpening.case_id.in_(old_cases)).execute())
