"""The registry of every table in the ledger database.

Model modules import ``BaseModel`` from ``aggregator.models_base``; this module imports
them (never the reverse), so ``aggregator.db`` creates every table without a cycle.
A new table is added here.
"""

from __future__ import annotations

from . import card_checks, cosignatures, counters, operators, placement, revocations, tiles, vault
from .accounts.tables import ACCOUNT_MODELS
from .audit_log import AuditLogEntry
from .cases.tables import CASE_MODELS
from .desk import cards as desk_cards
from .desk import tokens as desk_tokens
from .fleet_history import FleetSampleEntry
from .issuer.tables import WALLET_MODELS
from .models_base import BaseModel
from .notices.tables import NOTICE_MODELS
from .region_homes import KioskHome
from .tables import BlockEntry, CheckinEntry, KioskEntry

ALL_MODELS: tuple[type[BaseModel], ...] = (
    KioskEntry,
    CheckinEntry,
    BlockEntry,
    counters.CounterEntry,
    operators.OperatorToken,
    cosignatures.CosignatureEntry,
    vault.DayKey,
    placement.KioskClockEntry,
    tiles.TileEntry,
    revocations.RevokedCredentialEntry,
    *WALLET_MODELS,
    card_checks.CardSightingEntry,
    desk_tokens.DeskToken,
    desk_cards.CardEntry,
    AuditLogEntry,
    *ACCOUNT_MODELS,
    FleetSampleEntry,
    *CASE_MODELS,
    *NOTICE_MODELS,
    KioskHome,  # kiosks homed on regional brokers (aggregator/region_homes.py)
)


def all_models() -> list[type[BaseModel]]:
    """Every table of the ledger database."""
    return list(ALL_MODELS)
