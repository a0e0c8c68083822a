"""``safecode aggregator broker-init``: lay out a Mosquitto broker for per-kiosk accounts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from .broker_init import BrokerInitError, ListenerTls, init_broker_dir

_FILE = click.Path(dir_okay=False, path_type=Path)


def _listener_tls(
    cafile: Path | None, certfile: Path | None, keyfile: Path | None, require_certificate: bool
) -> ListenerTls | None:
    """The TLS listener the options describe (None for plain MQTT), or a UsageError."""
    tls_files = (cafile, certfile, keyfile)
    if any(tls_files) and not all(tls_files):
        raise click.UsageError("a TLS listener needs --cafile, --certfile and --keyfile")
    if require_certificate and not all(tls_files):
        raise click.UsageError("--require-certificate needs a TLS listener (--cafile ...)")
    if not (cafile and certfile and keyfile):
        return None
    for path in tls_files:
        if path is not None and not path.is_file():
            raise click.UsageError(f"{path}: no such file")
    return ListenerTls(cafile.resolve(), certfile.resolve(), keyfile.resolve(), require_certificate)


def _listener_tls_options(command: Callable[..., None]) -> Callable[..., None]:
    """--cafile, --certfile, --keyfile and --require-certificate of a broker's listener."""
    for option in reversed(
        (
            click.option(
                "--cafile", type=_FILE, default=None, help="CA certificate (TLS listener)."
            ),
            click.option(
                "--certfile", type=_FILE, default=None, help="Broker certificate (TLS listener)."
            ),
            click.option(
                "--keyfile", type=_FILE, default=None, help="Broker private key (TLS listener)."
            ),
            click.option(
                "--require-certificate",
                is_flag=True,
                help="Clients must also present a certificate from --cafile.",
            ),
        )
    ):
        command = option(command)
    return command


@click.command("broker-init")
@click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the broker's files (made if missing; existing files are never overwritten).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Listener port [8883 with TLS, else 1883].",
)
@click.option("--bind", default="0.0.0.0", show_default=True, help="Listener address.")
@click.option(
    "--host",
    "public_host",
    default="127.0.0.1",
    show_default=True,
    help="Broker host name the aggregator connects to (for the snippet).",
)
@_listener_tls_options
@click.option(
    "--plugin",
    type=_FILE,
    default=None,
    help="Path of mosquitto_dynamic_security.so [found under /usr/lib].",
)
def broker_init_command(
    folder: Path,
    port: int | None,
    bind: str,
    public_host: str,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    require_certificate: bool,
    plugin: Path | None,
) -> None:
    """Write a Mosquitto config and dynamic-security file for per-kiosk accounts.

    The broker then refuses anonymous clients; the aggregator logs in as
    safecode_aggregator and manages kiosk accounts as safecode_admin (passwords in
    DIR, mode 600, never printed). Add DIR/mosquitto.conf to the broker (e.g. a
    link in /etc/mosquitto/conf.d), make the broker's user own DIR/dynamic-security.json, and merge
    DIR/aggregator-snippet.toml into the aggregator's config.
    """
    tls = _listener_tls(cafile, certfile, keyfile, require_certificate)
    try:
        written = init_broker_dir(
            folder,
            port=port or (8883 if tls else 1883),
            bind=bind,
            tls=tls,
            plugin=plugin,
            public_host=public_host,
        )
    except BrokerInitError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(f"wrote {path}")
    if tls is None:
        click.echo(
            "warning: the listener is plain MQTT; give --cafile/--certfile/--keyfile for TLS",
            err=True,
        )


@click.command("broker-region")
@click.option("--region", required=True, help="Region name (lowercase letters, digits, '-').")
@click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the regional broker's files (as broker-init, plus conf.d/bridge.conf).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=1883,
    show_default=True,
    help="The regional broker's listener port (kiosks connect here).",
)
@click.option("--bind", default="0.0.0.0", show_default=True, help="Listener address.")
@click.option(
    "--host",
    "public_host",
    default="127.0.0.1",
    show_default=True,
    help="Host name kiosks of this region use for the broker.",
)
@_listener_tls_options
@click.option("--central-host", required=True, help="The central broker the aggregator uses.")
@click.option("--central-port", type=click.IntRange(1, 65535), default=1883, show_default=True)
@click.option(
    "--central-cafile",
    type=_FILE,
    default=None,
    help="CA of the central broker's TLS listener (the bridge and the admin login use TLS).",
)
@click.option(
    "--central-admin-password-file",
    type=_FILE,
    required=True,
    help="The central broker's safecode_admin password (broker-init's broker-admin.password):"
    " the bridge's account is made there.",
)
@click.option("--plugin", type=_FILE, default=None, help="Path of mosquitto_dynamic_security.so.")
def broker_region_command(
    region: str,
    folder: Path,
    port: int,
    bind: str,
    public_host: str,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    require_certificate: bool,
    central_host: str,
    central_port: int,
    central_cafile: Path | None,
    central_admin_password_file: Path,
    plugin: Path | None,
) -> None:
    """Lay out a regional broker bridged to the central broker; make the bridge's account.

    DIR gets broker-init's files (the region's kiosk accounts live here: point
    provisioning's broker admin at this broker) and conf.d/bridge.conf, mode 600: a
    Mosquitto bridge carrying check-ins and status to the central broker and receipts
    and config back, QoS 1, persistent sessions. On the central broker the bridge logs in
    as safecode_bridge_REGION, allowed those topics only. The aggregator is unchanged.
    """
    from aggregator.dynsec import DynsecAccounts
    from support.config_file import ConfigError
    from transport.settings import MqttSettings

    from .broker_accounts import BrokerAccountError
    from .broker_acls import ADMIN_USER
    from .broker_admin import _read_password
    from .broker_regions import central_account_commands, init_region_dir

    try:
        admin_password = _read_password(central_admin_password_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    tls = _listener_tls(cafile, certfile, keyfile, require_certificate)
    if central_cafile is not None and not central_cafile.is_file():
        raise click.UsageError(f"{central_cafile}: no such file")
    central_ca = central_cafile.resolve() if central_cafile is not None else None
    try:
        written, password = init_region_dir(
            folder,
            region,
            port=port,
            bind=bind,
            tls=tls,
            plugin=plugin,
            public_host=public_host,
            central_host=central_host,
            central_port=central_port,
            central_cafile=central_ca,
        )
    except BrokerInitError as exc:
        raise click.ClickException(str(exc)) from exc
    admin = MqttSettings(
        host=central_host,
        port=central_port,
        username=ADMIN_USER,
        password=admin_password,
        tls=central_ca is not None,
        ca_file=str(central_ca) if central_ca else None,
    )
    try:
        DynsecAccounts(admin).run(central_account_commands(region, password))
    except BrokerAccountError as exc:
        raise click.ClickException(
            f"wrote {folder}, but the central broker did not take the bridge's account "
            f"(remove {folder} and run this again): {exc}"
        ) from exc
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"bridge account for region {region} made on {central_host}:{central_port}")
    if tls is None:
        click.echo(
            "warning: the listener is plain MQTT; give --cafile/--certfile/--keyfile for TLS",
            err=True,
        )
