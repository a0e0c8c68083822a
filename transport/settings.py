"""How a kiosk or the aggregator reaches the MQTT broker: the ``[mqtt]`` settings.

Paho-free: the client factory that applies them is :mod:`transport.paho_client`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.config_file import ConfigError


@dataclass(frozen=True)
class MqttSettings:
    """Broker address, per-device credentials, TLS options and reconnect backoff.

    Reconnects back off from ``reconnect_min_s`` to ``reconnect_max_s`` (paho), each
    after an extra random wait in a window starting at ``reconnect_jitter_s``
    (transport/backoff.py), so a fleet does not reconnect in step.

    ``tls = true`` verifies the broker's certificate and host name against ``ca_file``
    (the system's CAs when it is not given); ``cert_file``/``key_file`` present a
    client certificate. ``tls_insecure`` exists only to be refused with a clear
    message: a kiosk never talks to a broker it has not verified.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    #: The first window of the extra random wait before a reconnect (transport/backoff.py).
    reconnect_jitter_s: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("mqtt.host must be a host name or address")
        if type(self.port) is not int or not 0 < self.port < 65536:
            raise ConfigError("mqtt.port must be an integer from 1 to 65535")
        for name in ("username", "password", "ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"mqtt.{name} must be a string")
        if self.password is not None and not self.username:
            raise ConfigError("mqtt.password needs mqtt.username")
        for name in ("tls", "tls_insecure"):
            if type(getattr(self, name)) is not bool:
                raise ConfigError(f"mqtt.{name} must be true or false")
        if self.tls_insecure:
            raise ConfigError(
                "mqtt.tls_insecure is refused: give the broker's CA in mqtt.ca_file instead"
            )
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ConfigError("mqtt.ca_file, cert_file and key_file need mqtt.tls = true")
        if self.key_file and not self.cert_file:
            raise ConfigError("mqtt.key_file needs mqtt.cert_file")
        for name in ("keepalive", "reconnect_min_s", "reconnect_max_s"):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= 3600:
                raise ConfigError(f"mqtt.{name} must be an integer from 1 to 3600 (seconds)")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ConfigError("mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s")
        jitter = self.reconnect_jitter_s
        is_number = isinstance(jitter, int | float) and not isinstance(jitter, bool)
        if not is_number or not 0 <= jitter <= 3600:
            raise ConfigError("mqtt.reconnect_jitter_s must be a number from 0 to 3600 (seconds)")

    def tls_context(self) -> ssl.SSLContext | None:
        """The client-side TLS context (certificate and host name verified), or None."""
        if not self.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


def mqtt_settings_from_table(table: Any, base: Path | None = None) -> MqttSettings:
    """MqttSettings from a config file's ``[mqtt]`` table (ConfigError when it is wrong).

    With ``base``, relative TLS file paths (``ca_file``, ``cert_file``, ``key_file``)
    are taken from that folder; without it they are kept as written.
    """
    if base is not None:
        table = dict(table)
        for name in ("ca_file", "cert_file", "key_file"):
            if isinstance(table.get(name), str):
                table[name] = str(base / table[name])
    return MqttSettings(**table)
