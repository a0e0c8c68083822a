"""Opening a case: what the aggregator holds, sealed, about the case's person.

- By phone number: its keyed tag (``aggregator.phone_tag`` under the issuer pepper)
  finds the wallet enrolments made with that number, whose batches' sealed credential
  lists (``wallet_batch``) cover the period, and the printed cards issued to it, whose
  credential ids the desk stored in the clear (``aggregator/desk/cards.py``).
- By the wallet's diagnostic code (``protocol.presentation``, code type DIAGNOSTIC):
  verified with the issuer's public key and freshness as a kiosk would, its credential
  id finds the credential's sealed owner (``wallet_credential.sealed_owner``); the
  official opens it and asks for the enrolment's batches (:func:`batches_of`). A
  printed card's code (type CARD) names its credential directly.

An unknown number or credential gives the same empty lists as a known one without
anything in the period: the answer (seen by officials only) has one shape.
Nothing here decrypts anything: the official's side holds the health authority key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocol.errors import ProtocolError
from protocol.issuance import local_day
from protocol.presentation import CodeType, Presentation

from ..desk.cards import CardEntry
from ..issuer.tables import BatchEntry, EnrolmentEntry, IssuedCredentialEntry
from ..phone_numbers import normalise_phone
from ..phone_tag import phone_tag
from .context import TracingContext


class CodeRefused(ProtocolError):
    """A code that cannot open a case: not a safecode code, stale, or badly signed."""

    reason = "bad_code"


@dataclass
class Opening:
    """What opening a case hands out: sealed batch lists and owners, card credential ids."""

    batches: list[bytes] = field(default_factory=list)
    owners: list[bytes] = field(default_factory=list)
    credentials: list[bytes] = field(default_factory=list)
    enrolments: int = 0
    cards: int = 0

    def counts(self) -> dict[str, int]:
        """The audit counts: how many of each were found (never what)."""
        return {
            "enrolments": self.enrolments,
            "batches": len(self.batches),
            "owners": len(self.owners),
            "cards": self.cards,
        }


def _batch_days(ctx: TracingContext, start_ms: int, end_ms: int) -> tuple[str, str]:
    """The first and last issuing days of batches that may cover ``[start_ms, end_ms)``."""
    first = local_day(start_ms / 1000, ctx.time_zone) - dt.timedelta(days=ctx.days_ahead - 1)
    last = local_day((end_ms - 1) / 1000, ctx.time_zone)
    return first.isoformat(), last.isoformat()


def batches_of(
    ctx: TracingContext, enrolments: Sequence[bytes], start_ms: int, end_ms: int
) -> list[bytes]:
    """The sealed credential lists of ``enrolments``' batches covering the period."""
    if not enrolments:
        return []
    first, last = _batch_days(ctx, start_ms, end_ms)
    rows = (
        BatchEntry.select(BatchEntry.sealed_credentials)
        .where(
            BatchEntry.enrolment_id.in_(list(enrolments))
            & (BatchEntry.day >= first)
            & (BatchEntry.day <= last)
        )
        .order_by(BatchEntry.day, BatchEntry.enrolment_id)
    )
    return [bytes(row.sealed_credentials) for row in rows]


def open_by_phone(ctx: TracingContext, phone: str, start_ms: int, end_ms: int) -> Opening:
    """The batches and cards of a phone number (PhoneNumberError for junk)."""
    tag = phone_tag(ctx.pepper, normalise_phone(phone))
    enrolments = [
        bytes(row.enrolment_id)
        for row in EnrolmentEntry.select(EnrolmentEntry.enrolment_id).where(
            EnrolmentEntry.phone_tag == tag
        )
    ]
    cards = list(
        CardEntry.select(CardEntry.credential_id)
        .where(
            (CardEntry.phone_tag == tag)
            & (CardEntry.issued_ms < end_ms)
            & (CardEntry.expires_s * 1000 > start_ms)
        )
        .order_by(CardEntry.issued_ms)
    )
    return Opening(
        batches=batches_of(ctx, enrolments, start_ms, end_ms),
        credentials=[bytes(card.credential_id) for card in cards],
        enrolments=len(enrolments),
        cards=len(cards),
    )


def verify_code(ctx: TracingContext, text: str, now: float) -> Presentation:
    """The diagnostic (or card) code in ``text``, verified; CodeRefused says why not."""
    try:
        code = Presentation.from_text(text)
        if code.code_type == CodeType.CARD:
            code.verify_card(ctx.issuer_keys, now=now, skew=ctx.skew_s)
        else:
            code.verify(
                ctx.issuer_keys,
                now=now,
                expected_type=CodeType.DIAGNOSTIC,
                window=ctx.window_s,
                skew=ctx.skew_s,
            )
    except ProtocolError as exc:
        raise CodeRefused(f"the code cannot open a case: {exc}") from exc
    return code


def open_by_code(ctx: TracingContext, text: str, now: float) -> Opening:
    """The sealed owner of a diagnostic code's credential, or a card's credential id."""
    code = verify_code(ctx, text, now)
    credential_id = code.credential.credential_id
    if code.code_type == CodeType.CARD:
        card = CardEntry.get_or_none(CardEntry.credential_id == credential_id)
        found = [credential_id] if card is not None else []
        return Opening(credentials=found, cards=len(found))
    row = IssuedCredentialEntry.get_or_none(IssuedCredentialEntry.credential_id == credential_id)
    return Opening(owners=[bytes(row.sealed_owner)] if row is not None else [])
