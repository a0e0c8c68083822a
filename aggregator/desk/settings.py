"""What the desk needs: the issuer's signing key and the ``[issuer]`` settings.

The desk signs card credentials with the issuer key (``aggregator.issuer_key``),
seals contacts and owners to the health authority's public key, tags phone numbers
with the issuer's pepper and dates cards in the issuer's time zone
(``aggregator.issuer.settings``). A process whose config has no ``[issuer]`` table, or
that cannot read the issuer key, serves no desk (503), and says so in its log. An
app that already holds the wallet issuer's ``ISSUER`` and ``ISSUER_KEY`` settings
serves the desk with those (aggregator/api/desk.py), without ``DESK``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys
from protocol.presentation import CARD_MAX_DAYS
from support.config_file import ConfigError, read_toml

from ..config import AggregatorConfig
from ..issuer.settings import IssuerSettings, parse_issuer_table

log = logging.getLogger("aggregator.api")

#: Active (unexpired, unrevoked) cards one phone number may hold at once.
DEFAULT_MAX_CARDS_PER_PHONE = 3


@dataclass(frozen=True)
class DeskSettings:
    """The issuer key and settings, and the desk's own limits."""

    issuer_key: Ed25519PrivateKey
    issuer: IssuerSettings
    card_days: int = CARD_MAX_DAYS
    max_cards_per_phone: int = DEFAULT_MAX_CARDS_PER_PHONE


def desk_settings_or_none(config: AggregatorConfig, path: Path) -> DeskSettings | None:
    """The desk's settings from the config at ``path``, or None (logged) without them."""
    table = read_toml(path).get("issuer")
    if table is None:
        log.info("desk disabled in this process: the config has no [issuer] table")
        return None
    try:
        issuer = parse_issuer_table(table, base=Path(path).parent)
        issuer_key = keys.load_private(config.issuer_key_path)
    except (ConfigError, OSError, ValueError) as exc:  # a bad key file: ValueError
        log.warning("desk disabled in this process: %s", exc)
        return None
    return DeskSettings(issuer_key=issuer_key, issuer=issuer)
