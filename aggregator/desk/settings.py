"""What the desk needs: the issuer's signing key and the ``[issuer]`` settings.

The desk signs card credentials with the issuer key (``aggregator.issuer_key``),
seals contacts and owners to the health authority's public key, tags phone numbers
with the issuer's pepper and dates cards in the issuer's time zone
(``aggregator.issuer.settings``). Only the issuer process (``aggregator web --issuer``
or ``aggregator run``) serves the desk: it builds DeskSettings from the wallet
issuer's ``ISSUER`` and ``ISSUER_KEY`` app settings (aggregator/api/desk.py), or takes
``DESK`` as given (tests). Any other process answers the desk with 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.presentation import CARD_MAX_DAYS

from ..issuer.settings import IssuerSettings

#: Active (unexpired, unrevoked) cards one phone number may hold at once.
DEFAULT_MAX_CARDS_PER_PHONE = 3


@dataclass(frozen=True)
class DeskSettings:
    """The issuer key and settings, and the desk's own limits."""

    issuer_key: Ed25519PrivateKey
    issuer: IssuerSettings
    card_days: int = CARD_MAX_DAYS
    max_cards_per_phone: int = DEFAULT_MAX_CARDS_PER_PHONE
