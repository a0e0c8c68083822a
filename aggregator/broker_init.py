"""Set up a Mosquitto broker for per-kiosk accounts: dynamic-security file and config.

``init_broker_dir`` writes, into a new or empty folder:

- ``dynamic-security.json``: the admin and aggregator accounts and roles, no kiosks,
  everything not granted refused (``broker_acls.dynsec_document``);
- ``mosquitto.conf``: the plugin, no anonymous clients, one listener (TLS when given);
- ``broker-admin.password`` and ``aggregator.password``: fresh random passwords;
- ``aggregator-snippet.toml``: the ``[mqtt]`` credentials and ``[broker_admin]`` table
  to put into the aggregator's config.

Secrets are written 0600 and never printed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from glob import glob
from pathlib import Path

from .broker_acls import ADMIN_USER, AGGREGATOR_USER, dynsec_document, new_password

PLUGIN_NAME = "mosquitto_dynamic_security.so"
PLUGIN_GLOBS = (
    f"/usr/lib/*/{PLUGIN_NAME}",
    f"/usr/lib/{PLUGIN_NAME}",
    f"/usr/local/lib/{PLUGIN_NAME}",
)
FILES = (
    "dynamic-security.json",
    "mosquitto.conf",
    "broker-admin.password",
    "aggregator.password",
    "aggregator-snippet.toml",
)


class BrokerInitError(RuntimeError):
    """The broker folder cannot be laid out; the message says why."""


HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.:-]{0,252})")


def check_host(value: str, what: str) -> str:
    """A host name or IP address (letters, digits, '.', ':', '-'), else BrokerInitError."""
    if not HOST.fullmatch(value):
        raise BrokerInitError(f"{what} {value[:60]!r} is not a host name or IP address")
    return value


def _conf_value(value: object, what: str) -> str:
    """A value for one mosquitto.conf line: no control characters (no line breaks)."""
    text = str(value)
    if not text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise BrokerInitError(f"{what} {text[:60]!r} cannot go into mosquitto.conf")
    return text


@dataclass(frozen=True)
class ListenerTls:
    """Files of a TLS listener (paths as the broker will see them)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


def find_dynsec_plugin() -> Path:
    """Where Mosquitto's dynamic-security plugin is installed, or BrokerInitError."""
    for pattern in PLUGIN_GLOBS:
        for found in sorted(glob(pattern)):
            return Path(found)
    raise BrokerInitError(
        f"{PLUGIN_NAME} not found (on Debian it comes with the mosquitto package); "
        "give its path with --plugin"
    )


def plugin_lines(plugin: Path, dynsec_file: Path) -> list[str]:
    """mosquitto.conf lines loading the plugin with its state file; no anonymous clients."""
    return [
        "allow_anonymous false",
        f"plugin {_conf_value(plugin, 'plugin path')}",
        f"plugin_opt_config_file {_conf_value(dynsec_file, 'folder')}",
    ]


def listener_lines(port: int, bind: str, tls: ListenerTls | None) -> list[str]:
    """One listener, TLS 1.2 or newer when ``tls`` is given."""
    lines = [f"listener {port} {check_host(bind, 'listener address')}"]
    if tls is not None:
        lines += [
            f"cafile {_conf_value(tls.ca_file, 'CA file')}",
            f"certfile {_conf_value(tls.cert_file, 'certificate file')}",
            f"keyfile {_conf_value(tls.key_file, 'key file')}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    return lines


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _snippet(host: str, port: int, tls: ListenerTls | None, aggregator_password: str) -> str:
    lines = [
        "# Put these into the aggregator's config (made by safecode aggregator broker-init).",
        "[mqtt]",
        f"host = {json.dumps(host)}",
        f"port = {port}",
        f'username = "{AGGREGATOR_USER}"',
        f"password = {json.dumps(aggregator_password)}",
    ]
    if tls is not None:
        lines += ["tls = true", f"ca_file = {json.dumps(str(tls.ca_file))}"]
    lines += [
        "",
        "[broker_admin]",
        f'username = "{ADMIN_USER}"',
        'password_file = "broker-admin.password"  # copy it beside the config, mode 600',
        "",
    ]
    return "\n".join(lines)


def init_broker_dir(
    folder: Path,
    *,
    port: int,
    bind: str = "0.0.0.0",
    tls: ListenerTls | None = None,
    plugin: Path | None = None,
    public_host: str = "127.0.0.1",
) -> list[Path]:
    """Write the broker's files into ``folder`` (refusing to overwrite any); return them."""
    if not 0 < port < 65536:
        raise BrokerInitError(f"port {port} is not a TCP port number")
    check_host(public_host, "broker host")
    plugin = plugin or find_dynsec_plugin()
    if not plugin.is_file():
        raise BrokerInitError(f"plugin {plugin} is not a file")
    folder = Path(folder)
    dynsec_file = folder.resolve() / "dynamic-security.json"
    conf = [
        "# safecode broker: per-kiosk accounts through the dynamic-security plugin.",
        "# The broker rewrites dynamic-security.json: its user must own that file.",
        *plugin_lines(plugin, dynsec_file),
        "",
        *listener_lines(port, bind, tls),
        "",
    ]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BrokerInitError(f"cannot make {folder}: {exc}") from exc
    taken = [name for name in FILES if (folder / name).exists()]
    if taken:
        raise BrokerInitError(f"{folder / taken[0]} exists already; refusing to overwrite it")
    admin_password, aggregator_password = new_password(), new_password()
    try:
        _write_secret(
            dynsec_file, json.dumps(dynsec_document(admin_password, aggregator_password), indent=2)
        )
        (folder / "mosquitto.conf").write_text("\n".join(conf), encoding="utf-8")
        _write_secret(folder / "broker-admin.password", admin_password + "\n")
        _write_secret(folder / "aggregator.password", aggregator_password + "\n")
        _write_secret(
            folder / "aggregator-snippet.toml",
            _snippet(public_host, port, tls, aggregator_password),
        )
    except OSError as exc:
        raise BrokerInitError(f"cannot write into {folder}: {exc}") from exc
    return [folder / name for name in FILES]
