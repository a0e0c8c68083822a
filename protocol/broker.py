"""How a kiosk or the aggregator reaches the MQTT broker (shared connection settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MqttSettings:
    """Broker address, credentials and TLS options."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: int = 30
