"""``safecode aggregator revoke``: revoke visitor credentials and tell every kiosk at once."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import click

from protocol import keys
from protocol.credential import CREDENTIAL_ID_SIZE
from transport.paho_client import make_client

from .cli_options import CONFIG_OPTION
from .config import ConfigError, load_config

_HEX_ID = re.compile(rf"[0-9a-f]{{{2 * CREDENTIAL_ID_SIZE}}}")


def _credential_id(text: str) -> bytes:
    value = text.strip().lower()
    if not _HEX_ID.fullmatch(value):
        raise click.BadParameter(
            f"{text[:40]!r} is not a credential id ({2 * CREDENTIAL_ID_SIZE} hex digits)"
        )
    return bytes.fromhex(value)


@click.command("revoke")
@CONFIG_OPTION
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to reach the broker.")
@click.argument("credential_ids", nargs=-1)
def revoke_command(config_path: Path, timeout: float, credential_ids: tuple[str, ...]) -> None:
    """Revoke CREDENTIAL_IDS (hex) and publish the list to every kiosk's config topic.

    With no ids, publishes the current list again (after enrolling kiosks, say). Each
    kiosk gets a config signed by the ledger key, retained, so it applies it on its
    next connect too; revoked codes then get the red light as "revoked".
    """
    from .db import open_database
    from .revocations import publish_revocations, revoke, revoked_ids

    ids = [_credential_id(text) for text in credential_ids]
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    ledger_key = keys.load_private(config.ledger_key_path)
    db = open_database(config.database_url)
    try:
        added = revoke(ids)
        revoked = revoked_ids()
        client = make_client(config.mqtt, f"{config.client_id}-revoke", persistent=False)
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
        try:
            client.connect(config.mqtt.host, config.mqtt.port, config.mqtt.keepalive)
        except OSError as exc:
            raise click.ClickException(
                f"revocation stored, but the broker {config.mqtt.host}:{config.mqtt.port} "
                f"is unreachable ({exc}); run this again to publish it"
            ) from exc
        client.loop_start()
        try:
            if not connected.wait(timeout):
                raise click.ClickException(
                    "revocation stored, but the broker refused or did not answer; "
                    "run this again to publish it"
                )
            infos = []
            sent = publish_revocations(
                lambda topic, wire: infos.append(client.publish(topic, wire, qos=1, retain=True)),
                ledger_key,
                revoked,
            )
            for info in infos:
                info.wait_for_publish(timeout)
        finally:
            client.disconnect()
            client.loop_stop()
    finally:
        db.close()
    click.echo(json.dumps({"added": added, "revoked": len(revoked), "kiosks": sorted(sent)}))
