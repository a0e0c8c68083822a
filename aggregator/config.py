"""Aggregator configuration, read from TOML."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.block import ORIGIN_PATTERN
from protocol.broker import MqttSettings
from protocol.config_file import ConfigError, read_toml
from protocol.note import is_valid_name
from protocol.receipt import MAX_ENTRIES


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
    mqtt: MqttSettings = field(default_factory=MqttSettings)


def load_config(path: Path) -> AggregatorConfig:
    """Read and check an aggregator config file; raise ConfigError naming what is wrong."""
    path = Path(path)
    data = read_toml(path)
    return parse_config(data, base=path.parent)


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
        config = AggregatorConfig(
            origin=section.pop("origin"),
            database_url=url,
            ledger_key_path=base / section.pop("ledger_key"),
            issuer_key_path=base / section.pop("issuer_key"),
            mqtt=MqttSettings(**data.get("mqtt", {})),
            **section,
        )
    except KeyError as exc:
        raise ConfigError(f"config lacks {exc}") from exc
    except TypeError as exc:
        raise ConfigError(f"config is invalid: {exc}") from exc
    _check(config)
    return config


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
    port = config.http_port
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        raise ConfigError("aggregator.http_port must be a TCP port number")
