"""The kiosk.toml document: written by provisioning, read by the kiosk.

Tables ``[kiosk]`` (``id``, ``venue``, ``door``, ``state_dir``, ``pins_file`` and
further tuning keys), ``[trust]`` (``issuer_keys``, ``ledger_key`` as did:key),
``[mqtt]`` and ``[camera]``. This module owns the table and key names and checks the
shape; the kiosk (kiosk.config) checks the tuning, broker and camera values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import keys
from .checkin import DOORS
from .errors import MalformedError
from .ids import VENUE_ID_PATTERN, check_kiosk_id

TABLES = ("kiosk", "trust", "mqtt", "camera")
_NAMED = ("id", "venue", "door", "state_dir", "pins_file")
_TRUST = ("issuer_keys", "ledger_key")
MAX_ISSUER_KEYS = 16


class MissingKeyError(MalformedError):
    """A required table or key is absent; ``key`` names it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"kiosk.toml lacks {key!r}")
        self.key = key


@dataclass(frozen=True)
class KioskToml:
    """A kiosk's config document; ``settings`` holds the further ``[kiosk]`` keys."""

    kiosk_id: str
    venue: str
    state_dir: str
    issuer_keys: tuple[str, ...]
    ledger_key: str
    door: str = "entrance"
    pins_file: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    mqtt: Mapping[str, Any] = field(default_factory=dict)
    camera: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The TOML document (None values left out), after the same checks a reader applies."""
        kiosk: dict[str, Any] = {
            "id": self.kiosk_id,
            "venue": self.venue,
            "door": self.door,
            "state_dir": self.state_dir,
        }
        if self.pins_file is not None:
            kiosk["pins_file"] = self.pins_file
        document = {
            "kiosk": {**kiosk, **self.settings},
            "trust": {"issuer_keys": list(self.issuer_keys), "ledger_key": self.ledger_key},
            "mqtt": {k: v for k, v in self.mqtt.items() if v is not None},
            "camera": {k: v for k, v in self.camera.items() if v is not None},
        }
        KioskToml.from_dict(document)
        return document

    @classmethod
    def from_dict(cls, data: Any) -> KioskToml:
        """Check a parsed kiosk.toml strictly; MissingKeyError or MalformedError."""
        if not isinstance(data, Mapping):
            raise MalformedError("kiosk.toml must be a table")
        unknown = sorted(set(data) - set(TABLES))
        if unknown:
            raise MalformedError(f"unknown table {str(unknown[0])[:40]!r}")
        kiosk = _table(data, "kiosk", required=True)
        trust = _table(data, "trust", required=True)
        for name in ("id", "venue", "state_dir"):
            if name not in kiosk:
                raise MissingKeyError(name)
        for name in _TRUST:
            if name not in trust:
                raise MissingKeyError(name)
        unknown = sorted(set(trust) - set(_TRUST))
        if unknown:
            raise MalformedError(f"unknown key trust.{str(unknown[0])[:40]}")
        return cls(
            kiosk_id=check_kiosk_id(kiosk["id"]),
            venue=_venue(kiosk["venue"]),
            state_dir=_text(kiosk["state_dir"], "kiosk.state_dir"),
            issuer_keys=_issuer_keys(trust["issuer_keys"]),
            ledger_key=_did_key(trust["ledger_key"]),
            door=_door(kiosk.get("door", "entrance")),
            pins_file=_optional_text(kiosk.get("pins_file"), "kiosk.pins_file"),
            settings={k: v for k, v in kiosk.items() if k not in _NAMED},
            mqtt=dict(_table(data, "mqtt")),
            camera=dict(_table(data, "camera")),
        )


def _table(data: Mapping[str, Any], name: str, *, required: bool = False) -> Mapping[str, Any]:
    if name not in data:
        if required:
            raise MissingKeyError(name)
        return {}
    value = data[name]
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise MalformedError(f"[{name}] must be a table")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedError(f"{name} must be non-empty text")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    """Absent or empty (as configs before this module wrote "no pins file") is None."""
    return None if value is None or value == "" else _text(value, name)


def _venue(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(VENUE_ID_PATTERN, value):
        raise MalformedError("kiosk.venue must be 1-63 lowercase letters, digits or hyphens")
    return value


def _door(value: Any) -> str:
    if value not in DOORS or not isinstance(value, str):
        raise MalformedError(f"kiosk.door must be one of {', '.join(DOORS)}")
    return value


def _did_key(value: Any) -> str:
    keys.load_public(keys.parse_did_key(value))
    return value


def _issuer_keys(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise MalformedError("trust.issuer_keys must be a list of did:key texts")
    if not value:
        raise MalformedError("trust.issuer_keys must name at least one issuer")
    if len(value) > MAX_ISSUER_KEYS:
        raise MalformedError(f"trust.issuer_keys names over {MAX_ISSUER_KEYS} issuers")
    return tuple(_did_key(k) for k in value)
