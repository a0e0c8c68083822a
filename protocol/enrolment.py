"""The enrolment JSON: what the operator API answers and provisioning reads.

``GET /v1/operator/site`` answers :class:`SiteAnswer`: the operator's name, the keys
a kiosk must trust and the broker address. ``POST /v1/operator/kiosks`` answers
:class:`EnrolAnswer`: the kiosk's id, venue and device key, the same trust, and the
kiosk's own broker login (null without a broker accounts extension). Keys are did:key
texts. Read strictly: unknown or missing fields are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import keys
from .errors import MalformedError
from .ids import VENUE_ID_PATTERN, check_kiosk_id

MAX_ISSUER_KEYS = 16
MAX_TEXT = 255


@dataclass(frozen=True)
class KioskTrust:
    """Issuer and ledger public keys (did:key) and the broker address for kiosks."""

    issuer_keys: tuple[str, ...]
    ledger_key: str
    mqtt_host: str
    mqtt_port: int
    mqtt_tls: bool

    def to_json(self) -> dict[str, Any]:
        """The trust fields of an answer: ``issuer_keys``, ``ledger_key``, ``mqtt``."""
        return {
            "issuer_keys": list(self.issuer_keys),
            "ledger_key": self.ledger_key,
            "mqtt": {"host": self.mqtt_host, "port": self.mqtt_port, "tls": self.mqtt_tls},
        }

    @classmethod
    def from_json(cls, value: dict[str, Any], mqtt: dict[str, Any]) -> KioskTrust:
        """The trust fields of an answer (``mqtt`` already taken out); MalformedError."""
        return cls(
            issuer_keys=_issuer_keys(value.get("issuer_keys")),
            ledger_key=_did_key(value.get("ledger_key"), "ledger_key"),
            mqtt_host=_text(mqtt.get("host"), "mqtt.host"),
            mqtt_port=_port(mqtt.get("port")),
            mqtt_tls=_flag(mqtt.get("tls"), "mqtt.tls"),
        )


@dataclass(frozen=True)
class SiteAnswer:
    """``GET /v1/operator/site``: whose token it is and what kiosks must trust."""

    operator: str
    trust: KioskTrust

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, **self.trust.to_json()}

    @classmethod
    def from_dict(cls, value: Any) -> SiteAnswer:
        """Parse the answer strictly; MalformedError naming the first fault."""
        body = _object(value, ("operator", "issuer_keys", "ledger_key", "mqtt"), "site answer")
        mqtt = _object(body["mqtt"], ("host", "port", "tls"), "site answer mqtt")
        return cls(_text(body["operator"], "operator"), KioskTrust.from_json(body, mqtt))


@dataclass(frozen=True)
class EnrolAnswer:
    """``POST /v1/operator/kiosks``: the enrolled kiosk and its broker login."""

    kiosk_id: str
    venue_id: str
    device_key: str
    trust: KioskTrust
    username: str | None
    password: str | None

    def mqtt(self) -> dict[str, Any]:
        """The ``mqtt`` object: broker address and the kiosk's own login."""
        return {
            **self.trust.to_json()["mqtt"],
            "username": self.username,
            "password": self.password,
        }

    def to_dict(self) -> dict[str, Any]:
        trust = self.trust.to_json()
        return {
            "kiosk_id": self.kiosk_id,
            "venue_id": self.venue_id,
            "device_key": self.device_key,
            "issuer_keys": trust["issuer_keys"],
            "ledger_key": trust["ledger_key"],
            "mqtt": self.mqtt(),
        }

    @classmethod
    def from_dict(cls, value: Any) -> EnrolAnswer:
        """Parse the answer strictly; MalformedError naming the first fault."""
        names = ("kiosk_id", "venue_id", "device_key", "issuer_keys", "ledger_key", "mqtt")
        body = _object(value, names, "enrol answer")
        login = ("host", "port", "tls", "username", "password")
        mqtt = _object(body["mqtt"], login, "enrol answer mqtt")
        return cls(
            kiosk_id=check_kiosk_id(body["kiosk_id"]),
            venue_id=_venue(body["venue_id"]),
            device_key=_did_key(body["device_key"], "device_key"),
            trust=KioskTrust.from_json(body, mqtt),
            username=_optional_text(mqtt["username"], "mqtt.username"),
            password=_optional_text(mqtt["password"], "mqtt.password"),
        )


def _object(value: Any, names: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedError(f"the {what} is not a JSON object")
    unknown = sorted(str(k)[:40] for k in set(value) - set(names))
    if unknown:
        raise MalformedError(f"the {what} holds an unknown field {unknown[0]!r}")
    missing = [name for name in names if name not in value]
    if missing:
        raise MalformedError(f"the {what} lacks {missing[0]!r}")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        raise MalformedError(f"{name} must be text of 1-{MAX_TEXT} characters")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _flag(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise MalformedError(f"{name} must be true or false")
    return value


def _port(value: Any) -> int:
    if type(value) is not int or not 0 < value < 65536:
        raise MalformedError("mqtt.port must be an integer from 1 to 65535")
    return value


def _venue(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(VENUE_ID_PATTERN, value):
        raise MalformedError("venue_id must be 1-63 lowercase letters, digits or hyphens")
    return value


def _did_key(value: Any, name: str) -> str:
    try:
        keys.load_public(keys.parse_did_key(value))
    except MalformedError as exc:
        raise MalformedError(f"{name}: {exc}") from exc
    return value


def _issuer_keys(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ISSUER_KEYS:
        raise MalformedError(f"issuer_keys must be a list of 1-{MAX_ISSUER_KEYS} did:key texts")
    return tuple(_did_key(k, "issuer_keys") for k in value)
