"""Kiosks homed on regional brokers: the ``[regions]`` table and the registry's record.

Past one broker (``aggregator.broker_regions``), the operator API enrols a kiosk on a
region when asked (``"region": NAME``): its broker account is made on that region's
broker, the answer gives that broker's address, and ``kiosk_home`` records the home so
retiring removes the account there. The aggregator's config names each region::

    [regions.north]
    host = "mqtt-north.example"     # what the region's kiosks connect to
    port = 8883
    tls = true

    [regions.north.broker_admin]    # the regional broker's admin, as [broker_admin]
    username = "safecode_admin"
    password_file = "broker-north-admin.password"

A kiosk enrolled without a region is homed on the aggregator's own broker (no row).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee

from support.config_file import ConfigError
from transport.settings import MqttSettings

from .broker_accounts import BrokerAccounts, NoBrokerAccounts
from .broker_admin import BrokerAdmin, parse_broker_admin
from .broker_init import BrokerInitError, check_host
from .broker_regions import check_region
from .models_base import BaseModel

_KEYS = {"host", "port", "tls", "broker_admin"}


@dataclass(frozen=True)
class RegionHome:
    """A regional broker: where its kiosks connect, and its admin (None: no accounts)."""

    name: str
    host: str
    port: int
    tls: bool
    admin: BrokerAdmin | None

    def accounts(self) -> BrokerAccounts:
        """Kiosk accounts on this region's broker."""
        return NoBrokerAccounts() if self.admin is None else self.admin.accounts()


class KioskHome(BaseModel):
    """The region a kiosk was enrolled on (kiosks of the aggregator's own broker: none)."""

    kiosk_id = peewee.CharField(primary_key=True, max_length=63)
    region = peewee.CharField(max_length=31)
    homed_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "kiosk_home"


def _region(name: object, table: object, base: Path) -> RegionHome:
    try:
        check_region(name)  # type: ignore[arg-type]
    except BrokerInitError as exc:
        raise ConfigError(f"[regions]: {exc}") from exc
    where = f"[regions.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where} has an unknown key {unknown[0][:40]!r}")
    host, port, tls = table.get("host"), table.get("port", 8883), table.get("tls", True)
    try:
        check_host(host if isinstance(host, str) else "", f"{where} host")
    except BrokerInitError as exc:
        raise ConfigError(str(exc)) from exc
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where} port must be an integer from 1 to 65535")
    if not isinstance(tls, bool):
        raise ConfigError(f"{where} tls must be true or false")
    assert isinstance(host, str)
    admin = parse_broker_admin(
        table.get("broker_admin"), MqttSettings(host=host, port=port, tls=tls), base=base
    )
    return RegionHome(str(name), host, port, tls, admin)


def parse_regions(table: object, *, base: Path) -> dict[str, RegionHome]:
    """The config's ``[regions]`` (absent: none); ConfigError naming what is wrong."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError("config [regions] must be a table of regions")
    return {str(name): _region(name, value, base) for name, value in table.items()}


def home_of(kiosk_id: str) -> str | None:
    """The region ``kiosk_id`` was enrolled on, or None (the aggregator's own broker)."""
    row = KioskHome.get_or_none(KioskHome.kiosk_id == kiosk_id)
    return None if row is None else str(row.region)


def record_home(kiosk_id: str, region: str) -> None:
    """Record ``kiosk_id``'s region (once; enrolling it again changes nothing)."""
    KioskHome.insert(
        kiosk_id=kiosk_id, region=region, homed_ms=int(time.time() * 1000)
    ).on_conflict_ignore().execute()


def region_table(home: RegionHome) -> dict[str, Any]:
    """What the operator sees of a region (no secrets)."""
    return {"host": home.host, "port": home.port, "tls": home.tls}
