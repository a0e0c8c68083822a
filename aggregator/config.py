"""Aggregator configuration, read from TOML."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.block import ORIGIN_PATTERN
from protocol.note import is_valid_name
from protocol.receipt import MAX_ENTRIES
from support.config_file import ConfigError, load_config_file
from transport.settings import MqttSettings, mqtt_settings_from_table

from .broker_admin import BrokerAdmin, parse_broker_admin
from .bus import SHARE_GROUP
from .issuer.settings import check_issuer_table
from .region_homes import parse_regions
from .trace.settings import TraceSettings, parse_trace_table

#: Upper bound of aggregator.max_outbox_age_days: a kiosk's outbox holds days, not years.
MAX_OUTBOX_AGE_DAYS = 90


@dataclass(frozen=True)
class AggregatorConfig:
    """Where the ledger lives, which keys it uses and how it batches."""

    origin: str
    database_url: str
    ledger_key_path: Path
    issuer_key_path: Path
    batch_size: int = 1000
    batch_interval_s: float = 0.25
    window_s: int = 30
    skew_s: int = 5
    http_port: int | None = None
    #: Ingest worker threads per process (cryptography releases the GIL while verifying).
    ingest_workers: int = 2
    #: Check-ins a worker stores in one transaction at most (group commit).
    ingest_batch: int = 500
    #: Seconds a worker waits after a batch's first check-in for the rest of a burst, so
    #: a burst costs one transaction, not one per few check-ins (0: take what is queued).
    ingest_linger_s: float = 0.05
    #: Take check-ins through ``$share/<group>/...`` so ingest processes split the load.
    shared_group: str | None = None
    #: MQTT client id (persistent session); every process needs its own.
    client_id: str = "safecode-aggregator"
    issuer_cache_size: int = 100_000
    #: How often counts go to the shared counter table read by /metrics.
    counter_flush_s: float = 1.0
    #: Rate limit of refusal log lines: at most this many per reason per interval.
    log_lines_per_reason: int = 5
    log_interval_s: float = 60.0
    #: Heartbeats of one kiosk processed at most once per this many seconds (newest wins).
    heartbeat_interval_s: float = 1.0
    #: Days a visit stays readable; then its day key is destroyed (the chain still verifies).
    retention_days: int = 28
    #: Days a check-in may wait in a kiosk's outbox; an older one is refused as ``too_old``.
    max_outbox_age_days: int = 7
    #: Minutes a printed card needs between check-ins at two venues (aggregator.card_checks).
    card_travel_minutes: float = 10.0
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    #: Managing kiosks' broker accounts (``[broker_admin]``); None: kiosks get none.
    broker_admin: BrokerAdmin | None = None
    #: The data master key (``data_master_key``); None: ``data-master.key`` by the ledger key.
    data_master_key_path: Path | None = None
    #: The public key files (``ledger_public_key``, ``issuer_public_key``); None: ``<key>.pub``.
    ledger_public_key_path: Path | None = None
    issuer_public_key_path: Path | None = None
    #: The ``[issuer]`` table (shape checked, file paths absolute), for the process that
    #: issues wallet credentials (``aggregator.issuer.settings.parse_issuer_table``); None:
    #: this site issues none.
    issuer: dict[str, Any] | None = None
    #: The ``[trace]`` table: stays and thresholds of the exposure list (checked here, so a
    #: bad table stops every process at start; used by the tracing process).
    trace: TraceSettings = field(default_factory=TraceSettings)
    #: Regional brokers kiosks may be enrolled on (``[regions]``, aggregator/region_homes.py).
    regions: dict[str, Any] = field(default_factory=dict)


def load_config(path: Path) -> AggregatorConfig:
    """Read and check an aggregator config file; raise ConfigError naming what is wrong."""
    return load_config_file(path, parse_config)


def parse_config(data: dict[str, Any], *, base: Path) -> AggregatorConfig:
    """Build an AggregatorConfig; relative paths (and sqlite files) are taken from ``base``."""
    try:
        if not isinstance(data["aggregator"], dict):
            raise ConfigError("config [aggregator] must be a table")
        section = dict(data["aggregator"])
        url = section.pop("database_url")
        if not isinstance(url, str):
            raise ConfigError("config database_url must be a string")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = f"sqlite:///{(base / url[len('sqlite:///') :]).resolve()}"
        mqtt = mqtt_settings_from_table(data.get("mqtt", {}))
        config = AggregatorConfig(
            origin=section.pop("origin"),
            database_url=url,
            ledger_key_path=base / section.pop("ledger_key"),
            issuer_key_path=base / section.pop("issuer_key"),
            mqtt=mqtt,
            broker_admin=parse_broker_admin(data.get("broker_admin"), mqtt, base=base),
            issuer=check_issuer_table(data["issuer"], base=base) if "issuer" in data else None,
            trace=parse_trace_table(data.get("trace")),
            regions=parse_regions(data.get("regions"), base=base),
            **_optional_key_paths(section, base),
            **section,
        )
    except KeyError as exc:
        raise ConfigError(f"config lacks {exc}") from exc
    except TypeError as exc:
        raise ConfigError(f"config is invalid: {exc}") from exc
    _check(config)
    return config


#: Optional key file settings and the AggregatorConfig fields they fill (aggregator/key_files.py).
KEY_FILE_SETTINGS = {
    "data_master_key": "data_master_key_path",
    "ledger_public_key": "ledger_public_key_path",
    "issuer_public_key": "issuer_public_key_path",
}


def _optional_key_paths(section: dict[str, Any], base: Path) -> dict[str, Path]:
    """The key file paths ``section`` names (taken out of it), relative to ``base``."""
    paths = {}
    for setting, field_name in KEY_FILE_SETTINGS.items():
        if setting in section:
            value = section.pop(setting)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"aggregator.{setting} must be a file path")
            paths[field_name] = base / value
    return paths


def _check(config: AggregatorConfig) -> None:
    """Refuse values that would only fail later, inside a worker thread."""
    origin = config.origin
    if not isinstance(origin, str) or not re.fullmatch(ORIGIN_PATTERN, origin):
        raise ConfigError(
            f"aggregator.origin must match {ORIGIN_PATTERN} (e.g. example.org/ledger)"
        )
    if not is_valid_name(origin):
        raise ConfigError("aggregator.origin is not a valid signed-note key name")
    if type(config.batch_size) is not int or not 1 <= config.batch_size <= MAX_ENTRIES:
        raise ConfigError(f"aggregator.batch_size must be an integer from 1 to {MAX_ENTRIES}")
    interval = config.batch_interval_s
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise ConfigError("aggregator.batch_interval_s must be a number")
    if not math.isfinite(interval) or not 0 < interval <= 60:
        raise ConfigError("aggregator.batch_interval_s must be more than 0 and at most 60")
    for name in ("window_s", "skew_s"):
        value = getattr(config, name)
        if type(value) is not int or not 0 <= value <= 3600:
            raise ConfigError(f"aggregator.{name} must be an integer from 0 to 3600")
    _check_ingest(config)
    days = config.retention_days
    if type(days) is not int or not 1 <= days <= 3650:
        raise ConfigError("aggregator.retention_days must be an integer from 1 to 3650")
    age = config.max_outbox_age_days
    if type(age) is not int or not 1 <= age <= MAX_OUTBOX_AGE_DAYS:
        raise ConfigError(
            f"aggregator.max_outbox_age_days must be an integer from 1 to {MAX_OUTBOX_AGE_DAYS}"
        )
    if days <= age:
        raise ConfigError(retention_below_outbox_age(days, age))
    travel = config.card_travel_minutes
    if not _number(travel) or not 0 <= travel <= 24 * 60:
        raise ConfigError("aggregator.card_travel_minutes must be a number from 0 to 1440")
    port = config.http_port
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        raise ConfigError("aggregator.http_port must be a TCP port number")


def retention_below_outbox_age(retention_days: int, max_outbox_age_days: int) -> str:
    """Why a retention of ``retention_days`` is refused beside this outbox-age bound.

    Retention blanks the presentation hash that catches a replayed code, while ingest
    still accepts codes up to ``max_outbox_age_days`` old: a shorter retention would let
    a code already sealed be sealed again once its first visit is forgotten.
    """
    return (
        f"aggregator.retention_days ({retention_days}) must be more than "
        f"aggregator.max_outbox_age_days ({max_outbox_age_days}): forgotten visits no "
        "longer stop a replayed code that ingest would still accept"
    )


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check_ingest(config: AggregatorConfig) -> None:
    """Ingest settings: workers, shared group, client id, cache, counters and log limits."""
    limits = {
        "ingest_workers": 64,
        "ingest_batch": 5000,
        "issuer_cache_size": 10_000_000,
        "log_lines_per_reason": 1000,
    }
    for name, top in limits.items():
        value = getattr(config, name)
        if type(value) is not int or not 1 <= value <= top:
            raise ConfigError(f"aggregator.{name} must be an integer from 1 to {top}")
    group = config.shared_group
    if group is not None and (not isinstance(group, str) or not SHARE_GROUP.fullmatch(group)):
        raise ConfigError("aggregator.shared_group must be 1-64 letters, digits, - or _")
    client_id = config.client_id
    if not isinstance(client_id, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", client_id):
        raise ConfigError("aggregator.client_id must be 1-64 letters, digits, '.', - or _")
    linger = config.ingest_linger_s
    if not _number(linger) or not 0 <= linger <= 1:
        raise ConfigError("aggregator.ingest_linger_s must be a number from 0 to 1")
    for name in ("counter_flush_s", "log_interval_s", "heartbeat_interval_s"):
        value = getattr(config, name)
        if not _number(value) or not 0 < value <= 3600:
            raise ConfigError(f"aggregator.{name} must be a number more than 0, at most 3600")
