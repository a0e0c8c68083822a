"""What a tracing process holds: the vault, the issuer pepper and the issuer's public keys.

The read API opens none of these. ``create_app_from_config(path, tracing=True)``
(``safecode aggregator web --tracing``, and the all-in-one ``aggregator run``) builds a
:class:`TracingContext` and puts it in ``app.extensions[EXTENSION]``; without one the
``/v1/cases`` routes answer 503 ``tracing_unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from support.config_file import ConfigError

from ..trace.settings import TraceSettings
from ..vault import Vault, VaultError

if TYPE_CHECKING:
    from ..config import AggregatorConfig

EXTENSION = "safecode.tracing"


@dataclass(frozen=True)
class TracingContext:
    """The keys and settings the case API needs (see the module docstring)."""

    vault: Vault
    #: The issuer's phone-tag pepper (``[issuer] pepper_file``).
    pepper: bytes
    #: Keys whose credentials a diagnostic code may carry (the issuer's public key).
    issuer_keys: Sequence[Ed25519PublicKey]
    time_zone: ZoneInfo
    #: Days one wallet batch covers (``[issuer] days_ahead``).
    days_ahead: int = 7
    trace: TraceSettings = field(default_factory=TraceSettings)
    #: A diagnostic code is fresh this long after its timestamp, give or take ``skew_s``.
    window_s: int = 30
    skew_s: int = 5
    #: Now, in seconds (a diagnostic code is checked against it).
    clock: Callable[[], float] = time.time
    #: The health authority's public key: a case's opening is sealed to it before it is
    #: kept (``aggregator.cases.resume``); None keeps no opening.
    authority_key: X25519PublicKey | None = None


def context_from_config(config: AggregatorConfig, config_path: Path) -> TracingContext:
    """The tracing context of an aggregator config: opens the data master key and pepper.

    ConfigError names what is missing (no ``[issuer]`` table, an unreadable key file).
    """
    from protocol import keys

    from ..issuer.settings import parse_issuer_table
    from ..key_files import data_master_key_path, issuer_public_path, read_did_file

    if config.issuer is None:
        raise ConfigError("tracing needs the [issuer] table (its pepper finds phone numbers)")
    issuer = parse_issuer_table(config.issuer, base=config_path.parent)
    master_path = data_master_key_path(config)
    try:
        vault = Vault.from_file(master_path)
    except (OSError, ValueError, VaultError) as exc:
        raise ConfigError(f"cannot open the data master key {master_path}: {exc}") from exc
    public_path = issuer_public_path(config)
    try:
        issuer_key = keys.load_public(keys.parse_did_key(read_did_file(public_path)))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the issuer public key {public_path}: {exc}") from exc
    return TracingContext(
        vault=vault,
        pepper=issuer.pepper,
        issuer_keys=(issuer_key,),
        time_zone=issuer.time_zone,
        days_ahead=issuer.days_ahead,
        trace=config.trace,
        window_s=config.window_s,
        skew_s=config.skew_s,
        authority_key=issuer.authority_key,
    )
