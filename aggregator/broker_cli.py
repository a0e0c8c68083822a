"""``safecode aggregator broker-init``: lay out a Mosquitto broker for per-kiosk accounts."""

from __future__ import annotations

from pathlib import Path

import click

from .broker_init import BrokerInitError, ListenerTls, init_broker_dir

_FILE = click.Path(dir_okay=False, path_type=Path)


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
@click.option("--cafile", type=_FILE, default=None, help="CA certificate (TLS listener).")
@click.option("--certfile", type=_FILE, default=None, help="Broker certificate (TLS listener).")
@click.option("--keyfile", type=_FILE, default=None, help="Broker private key (TLS listener).")
@click.option(
    "--require-certificate",
    is_flag=True,
    help="Clients must also present a certificate from --cafile.",
)
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
    tls_files = (cafile, certfile, keyfile)
    if any(tls_files) and not all(tls_files):
        raise click.UsageError("a TLS listener needs --cafile, --certfile and --keyfile")
    if require_certificate and not all(tls_files):
        raise click.UsageError("--require-certificate needs a TLS listener (--cafile ...)")
    tls = None
    if cafile and certfile and keyfile:
        for path in tls_files:
            if path is not None and not path.is_file():
                raise click.UsageError(f"{path}: no such file")
        tls = ListenerTls(
            cafile.resolve(), certfile.resolve(), keyfile.resolve(), require_certificate
        )
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
