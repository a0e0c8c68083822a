"""Lay out a complete site on one machine: aggregator, kiosks and simulated visitors.

Used by ``safecode demo`` and the end-to-end tests, and by anyone who wants a
working installation to try things on. The visitors come from the caller (a
:data:`CrowdWriter`, e.g. ``simulator.visitors.write_crowd``): provisioning holds
no simulation code. Each kiosk makes its own device key in
its own state folder; only the public key is read from it, as enrolment over
SSH will do. The aggregator's keys get one folder each under ``aggregator/keys/``,
the layout the systemd units use (provisioning/site_keys.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aggregator.broker_accounts import BrokerAccounts, NoBrokerAccounts
from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER
from aggregator.db import open_database
from aggregator.issuer.settings import DEFAULT_TIME_ZONE
from aggregator.registry import enrol_kiosk
from kiosk.identity import ensure_device_key
from protocol import keys
from protocol.authority_key import format_public_key, parse_public_key
from protocol.kiosk_toml import KioskToml
from protocol.note import NoteVerifier
from support.private_files import private_dir, write_private_text

from .regions import FILE_NAME as REGIONS_FILE
from .regions import RegionBroker, home_kiosk
from .site_keys import SiteKeys

DEFAULT_ORIGIN = "safecode.localhost/ledger"

# Writes ``count`` visitors enrolled with the issuer key to a crowd file.
CrowdWriter = Callable[[Path, Ed25519PrivateKey, int], None]


@dataclass(frozen=True)
class BrokerLogins:
    """The admin and aggregator passwords of a broker with per-kiosk accounts (dynsec)."""

    admin_password: str
    aggregator_password: str


def _broker_accounts(logins: BrokerLogins | None, host: str, port: int) -> BrokerAccounts:
    if logins is None:
        return NoBrokerAccounts()
    from aggregator.dynsec import DynsecAccounts
    from transport.settings import MqttSettings

    admin = MqttSettings(host=host, port=port, username=ADMIN_USER, password=logins.admin_password)
    return DynsecAccounts(admin, reserved={AGGREGATOR_USER})


def _region_accounts(region: RegionBroker) -> BrokerAccounts:
    """Kiosk accounts on a regional broker (none if it takes anonymous kiosks)."""
    if region.admin_password is None:
        return NoBrokerAccounts()
    return _broker_accounts(
        BrokerLogins(region.admin_password, aggregator_password=""), region.host, region.port
    )


@dataclass(frozen=True)
class Site:
    """Where a laid-out site's files are."""

    root: Path
    aggregator_config: Path
    kiosk_configs: tuple[Path, ...]
    crowd_file: Path
    database_url: str
    ledger_vkey: str
    http_port: int | None
    #: The aggregator's key files, one folder per key (provisioning/site_keys.py).
    keys: SiteKeys
    #: Which regional broker each kiosk is homed on (provisioning/regions.py), if any.
    regions_file: Path | None = None


def init_site(
    root: Path,
    *,
    kiosks: int = 3,
    visitors: int = 25,
    mqtt_host: str = "127.0.0.1",
    mqtt_port: int = 1883,
    http_port: int | None = None,
    origin: str = DEFAULT_ORIGIN,
    venue_prefix: str = "venue",
    camera: str = "simulated",
    broker_logins: BrokerLogins | None = None,
    write_crowd: CrowdWriter | None = None,
    authority_key: str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
    regions: Sequence[RegionBroker] = (),
) -> Site:
    """Create keys, configs, a kiosk registry and a crowd file under ``root``.

    ``write_crowd`` makes the ``visitors`` simulated visitors (needed unless there are none).

    ``authority_key`` (the health authority's public key text) makes the aggregator an
    issuer of wallet credentials: an ``[issuer]`` table, the HA key file and a fresh
    phone-tag pepper; ``time_zone`` is the calendar its day credentials follow.

    With ``broker_logins`` (a running broker with the dynamic-security plugin) each
    kiosk gets its own broker account, limited to its own topics, and the aggregator
    logs in as itself and manages those accounts.

    With ``regions`` (regional brokers bridged to the one at ``mqtt_host:mqtt_port``,
    see ``aggregator.broker_regions``) kiosk N is homed on region N modulo their
    number: its ``[mqtt]`` points at that broker, its account is made there (with the
    region's admin password) and ``regions.toml`` records the home.
    """
    root = Path(root).resolve()
    agg_dir = private_dir(root / "aggregator")  # new folders 0700: the layout is private
    site_keys = SiteKeys(agg_dir)
    ledger_key, issuer_key = site_keys.ensure()
    database_url = f"sqlite:///{agg_dir / 'ledger.sqlite'}"
    mqtt = {"host": mqtt_host, "port": mqtt_port}
    issuer = None
    if authority_key is not None:  # checked and rewritten in its one canonical form
        key_text = format_public_key(parse_public_key(authority_key))
        issuer = site_keys.issuer_settings(key_text, time_zone)
    agg_config = _write_aggregator_config(
        site_keys, origin, database_url, mqtt, http_port, broker_logins, issuer
    )
    accounts = _broker_accounts(broker_logins, mqtt_host, mqtt_port)

    crowd_file = root / "visitors.crowd"
    if write_crowd is None:
        if visitors:
            raise ValueError("init_site: visitors need a write_crowd (the simulator's)")
    else:
        write_crowd(crowd_file, issuer_key, visitors)

    trust = {
        "issuer_keys": [keys.did_key(issuer_key)],
        "ledger_key": keys.did_key(ledger_key),
    }
    db = open_database(database_url)
    configs = []
    for number in range(1, kiosks + 1):
        kiosk_id = f"kiosk-{number}"
        venue_id = f"{venue_prefix}-{(number + 1) // 2}"
        kiosk_dir = private_dir(root / "kiosks" / kiosk_id / "state").parent
        device_key, _ = ensure_device_key(kiosk_dir / "state" / "device.key")
        enrol_kiosk(kiosk_id, venue_id, keys.public_bytes(device_key))
        config = kiosk_dir / "kiosk.toml"
        home_mqtt, home_accounts = mqtt, accounts
        if regions:
            region = regions[(number - 1) % len(regions)]
            home_mqtt = {"host": region.host, "port": region.port}
            home_accounts = _region_accounts(region)
            home_kiosk(root / REGIONS_FILE, kiosk_id, region)
        login = home_accounts.ensure_kiosk(kiosk_id)
        kiosk_mqtt = (
            home_mqtt
            if login is None
            else {**home_mqtt, "username": login.username, "password": login.password}
        )
        camera_table = {
            "kind": camera,
            "path": str(crowd_file),
            "fps": 10.0,
            "visitor_share": [number - 1, kiosks],
        }
        tables = _kiosk_tables(kiosk_id, venue_id, trust, kiosk_mqtt, camera_table)
        write_private_text(config, tomli_w.dumps(tables))
        configs.append(config)
    db.close()
    vkey = NoteVerifier.from_public_key(origin, ledger_key.public_key()).to_string()
    regions_file = root / REGIONS_FILE if regions else None
    return Site(
        root,
        agg_config,
        tuple(configs),
        crowd_file,
        database_url,
        vkey,
        http_port,
        site_keys,
        regions_file,
    )


def _write_aggregator_config(
    site_keys: SiteKeys,
    origin: str,
    database_url: str,
    mqtt: dict[str, object],
    http_port: int | None,
    broker_logins: BrokerLogins | None,
    issuer: dict[str, str] | None = None,
) -> Path:
    """Write aggregator.toml (and the broker admin's password file); returns its path."""
    agg_dir = site_keys.base
    aggregator: dict[str, object] = {
        "origin": origin,
        "database_url": database_url,
        **site_keys.config_settings(),
    }
    if http_port:
        aggregator["http_port"] = http_port
    agg_config = agg_dir / "aggregator.toml"
    agg_tables: dict[str, object] = {"aggregator": aggregator, "mqtt": mqtt}
    if broker_logins is not None:
        agg_tables["mqtt"] = {
            **mqtt,
            "username": AGGREGATOR_USER,
            "password": broker_logins.aggregator_password,
        }
        write_private_text(agg_dir / "broker-admin.password", broker_logins.admin_password)
        agg_tables["broker_admin"] = {
            "username": ADMIN_USER,
            "password_file": "broker-admin.password",
        }
    if issuer is not None:
        agg_tables["issuer"] = issuer
    write_private_text(agg_config, tomli_w.dumps(agg_tables))
    return agg_config


def _kiosk_tables(
    kiosk_id: str,
    venue_id: str,
    trust: dict[str, object],
    mqtt: dict[str, object],
    camera: dict[str, object],
) -> dict[str, object]:
    """A kiosk.toml of the site, as TOML tables (the shape protocol.kiosk_toml defines)."""
    return KioskToml(
        kiosk_id=kiosk_id,
        venue=venue_id,
        state_dir="state",
        issuer_keys=tuple(trust["issuer_keys"]),
        ledger_key=str(trust["ledger_key"]),
        mqtt=mqtt,
        camera=camera,
    ).to_dict()
