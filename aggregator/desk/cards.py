"""Issuing and revoking printed cards: the credential, the card code and its stored row.

A card (``issue_card``):

- a one-off Ed25519 key is made, the issuer signs a credential for it valid from the
  start of today (the issuer's time zone) to the local midnight ``card_days`` (28) days
  later, the one-off key signs it once as a ``CodeType.CARD`` code dated at that same
  midnight (not the minute it was made), and the key is dropped: nobody, the desk
  included, can sign that card again;
- the visitor's phone number is normalised to E.164, sealed with the language, an
  optional name and a random notification secret to the health authority's key
  (``protocol.contact.seal_contact``, server-side here: the visitor has no phone to do
  it), and tagged (HMAC under the issuer's pepper, ``aggregator.phone_tag``); the
  number itself is never stored or logged;
- one ``card`` row: card id (16 random bytes), contact blob, phone tag, the card id
  sealed to the HA key (``seal_to_authority(key, "card-owner", card_id)``, as tracing
  maps any credential to its owner), credential id, issued and expiry times, revoked.

The credential id sits in the clear beside the phone tag: that is how a lost card is
revoked at the desk by phone number. What this costs is in docs/CARDS.md.
``revoke_card`` puts the credential on the revocation list (aggregator.revocations),
in the same transaction that marks the row.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee

from protocol import keys
from protocol.authority_seal import seal_to_authority
from protocol.contact import Contact, new_notify_secret, seal_contact
from protocol.credential import issue_credential
from protocol.errors import MalformedError
from protocol.issuance import day_start, local_day
from protocol.presentation import Presentation, make_card

from .. import revocations
from ..issuer.retention import DAY_S, forget_ended_revocations
from ..models_base import BaseModel, BlobField
from ..phone_numbers import normalise_phone
from ..phone_tag import phone_tag

if TYPE_CHECKING:  # the table must not pull the config in wherever the models load
    from .settings import DeskSettings

CARD_ID_SIZE = 16
OWNER_PURPOSE = "card-owner"
OWNER_PADDED_SIZE = 32
#: Languages the printed page and the contact notice come in.
LANGUAGES = ("ko", "en")
FIRST_NAME_MAX = 20


class CardError(ValueError):
    """A card that cannot be issued or revoked; ``reason`` is the counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CardEntry(BaseModel):
    """A printed card: sealed contact, phone tag, sealed owner, its credential and life."""

    card_id = BlobField(primary_key=True)
    contact = BlobField()
    phone_tag = BlobField(index=True)
    owner_sealed = BlobField()
    credential_id = BlobField(unique=True)
    issued_ms = peewee.BigIntegerField()
    expires_s = peewee.BigIntegerField()
    revoked = peewee.BooleanField(default=False)

    class Meta:
        table_name = "card"


@dataclass(frozen=True)
class IssuedCard:
    """What the desk prints: the card code, its last valid day, and the first name if any."""

    card_id: bytes
    code: Presentation
    last_day: dt.date
    language: str
    first_name: str | None


def first_name(name: str | None) -> str | None:
    """The part of ``name`` the card may show: its first word, at most 20 characters."""
    if not name:
        return None
    return name.split()[0][:FIRST_NAME_MAX]


def issue_card(
    settings: DeskSettings,
    *,
    phone: str,
    language: str,
    name: str | None = None,
    print_name: bool = False,
    now: float | None = None,
) -> IssuedCard:
    """Issue, store and return a card (see the module); CardError or a ProtocolError if not.

    Raises ``aggregator.phone_numbers.PhoneNumberError`` for a junk number,
    MalformedError for a name the contact format refuses, CardError ``bad_language``
    or ``too_many_cards`` (the phone's limit of active cards).
    """
    at = time.time() if now is None else now
    if language not in LANGUAGES:
        raise CardError("bad_language", f"lang must be one of {', '.join(LANGUAGES)}")
    e164 = normalise_phone(phone)
    contact = Contact(e164, language, new_notify_secret(), name)  # checks the name
    tag = phone_tag(settings.issuer.pepper, e164)
    zone = settings.issuer.time_zone
    today = local_day(at, zone)
    not_before = day_start(today, zone)
    not_after = day_start(today + dt.timedelta(days=settings.card_days), zone)
    one_off = keys.generate()
    credential = issue_credential(
        settings.issuer_key, keys.public_bytes(one_off), not_before=not_before, not_after=not_after
    )
    code = make_card(credential, one_off, timestamp=not_before)
    del one_off  # never stored: the card cannot be signed again
    card_id = os.urandom(CARD_ID_SIZE)
    authority = settings.issuer.authority_key
    row = {
        "card_id": card_id,
        "contact": seal_contact(authority, contact),
        "phone_tag": tag,
        "owner_sealed": seal_to_authority(
            authority, OWNER_PURPOSE, card_id, padded_size=OWNER_PADDED_SIZE
        ),
        "credential_id": credential.credential_id,
        "issued_ms": int(at * 1000),
        "expires_s": not_after,
    }
    with CardEntry._meta.database.atomic():
        if len(active_cards(tag, at)) >= settings.max_cards_per_phone:
            raise CardError(
                "too_many_cards",
                f"this phone number already holds {settings.max_cards_per_phone} active cards: "
                "revoke a lost one first",
            )
        CardEntry.insert(row).execute()
    return IssuedCard(
        card_id=card_id,
        code=code,
        last_day=today + dt.timedelta(days=settings.card_days - 1),
        language=language,
        first_name=first_name(name) if print_name else None,
    )


def active_cards(tag: bytes, now: float) -> list[CardEntry]:
    """The unrevoked, unexpired cards of a phone tag, oldest first."""
    return list(
        CardEntry.select()
        .where(
            (CardEntry.phone_tag == tag)
            & (CardEntry.revoked == False)  # noqa: E712
            & (CardEntry.expires_s > int(now))
        )
        .order_by(CardEntry.issued_ms)
    )


def cards_for_phone(settings: DeskSettings, phone: str, now: float | None = None) -> list[dict]:
    """The active cards of a phone number (to find a lost one), without their codes."""
    tag = phone_tag(settings.issuer.pepper, normalise_phone(phone))
    at = time.time() if now is None else now
    return [
        {"card_id": bytes(c.card_id).hex(), "issued_ms": c.issued_ms, "expires_s": c.expires_s}
        for c in active_cards(tag, at)
    ]


def parse_card_id(text: str) -> bytes:
    """A card id from its hex form, or MalformedError."""
    if not isinstance(text, str) or len(text) != 2 * CARD_ID_SIZE:
        raise MalformedError(f"a card id is {2 * CARD_ID_SIZE} hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise MalformedError(f"a card id is {2 * CARD_ID_SIZE} hex digits") from exc


def revoke_card(card_id: bytes, now: float | None = None) -> bool:
    """Revoke a card and put its credential on the revocation list; False if it already was.

    CardError ``unknown_card`` if there is no such card.
    """
    at = time.time() if now is None else now
    with CardEntry._meta.database.atomic():
        row = CardEntry.get_or_none(CardEntry.card_id == card_id)
        if row is None:
            raise CardError("unknown_card", "no card with this id")
        revocations.revoke([bytes(row.credential_id)], now_ms=int(at * 1000))
        if row.revoked:
            return False
        CardEntry.update(revoked=True).where(CardEntry.card_id == card_id).execute()
        return True


def forget_cards(now: float, retention_days: int) -> int:
    """Delete cards that expired more than ``retention_days`` ago; returns how many.

    Cards that ended over a day ago also leave the revocation list (kiosks refuse them
    as expired anyway).

    Until then a trace may need a card's sealed contact and owner (its visits stay
    readable as long); after it, nothing can, and the row would only keep a phone tag.
    """
    if type(retention_days) is not int or retention_days < 1:
        raise ValueError("retention_days must be a whole number of days, at least 1")
    cutoff_s = int(now) - retention_days * DAY_S
    ended = CardEntry.select(CardEntry.credential_id).where(CardEntry.expires_s < int(now) - DAY_S)
    with CardEntry._meta.database.atomic():
        forget_ended_revocations(ended)
        return int(CardEntry.delete().where(CardEntry.expires_s < cutoff_s).execute())
