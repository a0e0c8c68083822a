"""What an enrolled kiosk must trust and where it finds the broker, for the operator API.

The operator API hands this to provisioning, which writes it into the kiosk's config:
the issuer public keys (to verify visitor codes offline), the ledger public key (to
verify receipts) and the broker address as kiosks reach it. Only public keys leave here.
"""

from __future__ import annotations

import logging

from protocol.enrolment import KioskTrust
from protocol.errors import ProtocolError
from support.config_file import ConfigError

from .config import AggregatorConfig
from .key_files import issuer_public_path, ledger_public_path, read_did_file

__all__ = ["KioskTrust", "trust_from_config", "trust_or_none"]

log = logging.getLogger("aggregator.api")


def trust_from_config(config: AggregatorConfig) -> KioskTrust:
    """The issuer and ledger public keys from their ``.pub`` files; ConfigError if unreadable.

    Only the public files are read (aggregator/key_files.py): the read API never needs
    the signing keys. The aggregator's ingest and sequencer processes write them when
    they start.
    """
    try:
        issuer = read_did_file(issuer_public_path(config))
        ledger = read_did_file(ledger_public_path(config))
    except (OSError, ProtocolError) as exc:
        raise ConfigError(
            f"cannot read the issuer or ledger public key for enrolment ({exc}); "
            "'safecode aggregator run', 'ingest' or 'sequence' writes them beside the keys"
        ) from exc
    return KioskTrust(
        issuer_keys=(issuer,),
        ledger_key=ledger,
        mqtt_host=config.mqtt.host,
        mqtt_port=config.mqtt.port,
        mqtt_tls=config.mqtt.tls,
    )


def trust_or_none(config: AggregatorConfig) -> KioskTrust | None:
    """``trust_from_config``, or None (logged) when a process may not read the keys.

    A read-only API process that cannot read the key files still serves the ledger;
    only enrolment answers 503 then.
    """
    try:
        return trust_from_config(config)
    except ConfigError as exc:
        log.warning("kiosk enrolment disabled in this process: %s", exc)
        return None
