"""The optional ``[broker_admin]`` table: how the aggregator manages kiosks' broker accounts.

```toml
[broker_admin]
username = "safecode_admin"
password_file = "broker-admin.password"   # or password = "..."; relative to the config
timeout_s = 5                             # per broker call
pin_client_id = true                      # a kiosk logs in only as client id = kiosk id
# host, port, tls, ca_file, cert_file, key_file: default to [mqtt]'s
```

Without the table kiosks get no broker accounts (``NoBrokerAccounts``).
"""

from __future__ import annotations

import dataclasses
import math
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.config_file import ConfigError
from transport.settings import MqttSettings

from .broker_accounts import BrokerAccounts, NoBrokerAccounts

_CONNECTION = ("host", "port", "tls", "ca_file", "cert_file", "key_file")
_KEYS = {"username", "password", "password_file", "timeout_s", "pin_client_id", *_CONNECTION}
MAX_PASSWORD_FILE = 4096


@dataclass(frozen=True)
class BrokerAdmin:
    """The admin's broker connection and how long one call may take."""

    settings: MqttSettings
    timeout_s: float = 5.0
    pin_client_id: bool = True

    def accounts(self, reserved: Iterable[str] = ()) -> BrokerAccounts:
        """The ``DynsecAccounts`` this admin drives; ``reserved`` names are never touched."""
        from .broker_acls import ADMIN_USER, AGGREGATOR_USER
        from .dynsec import DynsecAccounts

        names = {ADMIN_USER, AGGREGATOR_USER, *(name for name in reserved if name)}
        return DynsecAccounts(
            self.settings,
            timeout_s=self.timeout_s,
            reserved=names,
            pin_client_id=self.pin_client_id,
        )


def broker_accounts(admin: BrokerAdmin | None, mqtt: MqttSettings) -> BrokerAccounts:
    """Real per-kiosk accounts when ``admin`` is configured, else the stand-in."""
    if admin is None:
        return NoBrokerAccounts()
    return admin.accounts(reserved=[mqtt.username] if mqtt.username else [])


def _read_password(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            raise ConfigError(
                f"broker_admin.password_file {path} is open to other users; chmod 600 it"
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSWORD_FILE + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"broker_admin.password_file {path}: no such file") from exc
    except OSError as exc:
        raise ConfigError(f"broker_admin.password_file {path}: cannot read it: {exc}") from exc
    if len(data) > MAX_PASSWORD_FILE:
        raise ConfigError(f"broker_admin.password_file {path} is too large for a password")
    try:
        password = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"broker_admin.password_file {path} is not UTF-8 text") from exc
    if not password:
        raise ConfigError(f"broker_admin.password_file {path} is empty")
    return password


def _password(table: dict[str, Any], base: Path) -> str:
    given = [name for name in ("password", "password_file") if name in table]
    if len(given) != 1:
        raise ConfigError("[broker_admin] needs exactly one of password and password_file")
    value = table[given[0]]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"broker_admin.{given[0]} must be a non-empty string")
    return value if given[0] == "password" else _read_password(base / value)


def parse_broker_admin(table: object, mqtt: MqttSettings, *, base: Path) -> BrokerAdmin | None:
    """Check a ``[broker_admin]`` table (None when absent); connection defaults from ``mqtt``."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("config [broker_admin] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"config [broker_admin] has unknown key {str(unknown[0])[:40]!r}")
    username = table.get("username")
    if not isinstance(username, str) or not username:
        raise ConfigError("broker_admin.username must be a non-empty string")
    timeout = table.get("timeout_s", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ConfigError("broker_admin.timeout_s must be a number of seconds")
    if not math.isfinite(timeout) or not 0 < timeout <= 120:
        raise ConfigError("broker_admin.timeout_s must be more than 0 and at most 120")
    pin = table.get("pin_client_id", True)
    if type(pin) is not bool:
        raise ConfigError("broker_admin.pin_client_id must be true or false")
    changes: dict[str, Any] = {name: table[name] for name in _CONNECTION if name in table}
    if changes.get("tls") is False:
        # Plain to the admin listener: [mqtt]'s TLS files do not apply.
        for name in ("ca_file", "cert_file", "key_file"):
            changes.setdefault(name, None)
    try:
        settings = dataclasses.replace(
            mqtt, username=username, password=_password(table, base), **changes
        )
    except ConfigError as exc:
        raise ConfigError(f"[broker_admin]: {exc}") from exc
    return BrokerAdmin(settings=settings, timeout_s=float(timeout), pin_client_id=pin)
