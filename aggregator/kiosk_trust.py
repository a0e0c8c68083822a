"""What an enrolled kiosk must trust and where it finds the broker, for the operator API.

The operator API hands this to provisioning, which writes it into the kiosk's config:
the issuer public keys (to verify visitor codes offline), the ledger public key (to
verify receipts) and the broker address as kiosks reach it. Only public keys leave here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from protocol import keys
from protocol.config_file import ConfigError

from .config import AggregatorConfig

log = logging.getLogger("aggregator.api")


@dataclass(frozen=True)
class KioskTrust:
    """Issuer and ledger public keys (did:key) and the broker address for kiosks."""

    issuer_keys: tuple[str, ...]
    ledger_key: str
    mqtt_host: str
    mqtt_port: int
    mqtt_tls: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer_keys": list(self.issuer_keys),
            "ledger_key": self.ledger_key,
            "mqtt": {"host": self.mqtt_host, "port": self.mqtt_port, "tls": self.mqtt_tls},
        }


def trust_from_config(config: AggregatorConfig) -> KioskTrust:
    """Read the issuer and ledger keys named by an aggregator config; ConfigError if unreadable."""
    try:
        issuer = keys.load_private(config.issuer_key_path)
        ledger = keys.load_private(config.ledger_key_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the issuer or ledger key for enrolment: {exc}") from exc
    return KioskTrust(
        issuer_keys=(keys.did_key(issuer),),
        ledger_key=keys.did_key(ledger),
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
