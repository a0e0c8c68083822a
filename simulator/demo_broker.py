"""The demo's broker: per-kiosk accounts (dynamic-security plugin), shown to hold.

The demo runs Mosquitto with the dynamic-security plugin when it is installed, so
each kiosk logs in as itself and may touch only its own topics, as in the field.
``probe_foreign_topic`` then shows a kiosk refused on another kiosk's topic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from aggregator.broker_acls import dynsec_document, new_password
from kiosk.config import load_config
from protocol import topics
from provisioning.site import BrokerLogins
from support.private_files import private_dir, write_private_text
from transport.paho_client import make_client

from .broker import BrokerError, LocalBroker


def start_broker(
    folder: Path, echo: Callable[[str], None]
) -> tuple[LocalBroker, BrokerLogins | None]:
    """A loopback Mosquitto with per-kiosk accounts, or an anonymous one without the plugin."""
    private_dir(folder)
    logins = BrokerLogins(new_password(), new_password())
    state = folder / "dynamic-security.json"
    write_private_text(
        state, json.dumps(dynsec_document(logins.admin_password, logins.aggregator_password))
    )
    broker = LocalBroker(workdir=folder, dynsec_file=state)
    try:
        broker.start()
    except BrokerError as exc:
        echo(f"broker: no dynamic-security plugin ({exc}); kiosks share an anonymous broker")
        return LocalBroker(workdir=folder).start(), None
    echo(f"broker: mosquitto on 127.0.0.1:{broker.port}, one account per kiosk (dynsec)")
    return broker, logins


def _login_and_subscribe(
    own_config: Path, client_id: str, wanted: list[str], timeout: float
) -> tuple[str | None, list[bool]]:
    """Log in with a kiosk's account as ``client_id``; (refusal or None, refused per topic).

    The session is kept and nothing acknowledged, so a kiosk's own session is left as it was.
    """
    config = load_config(own_config)
    client = make_client(config.mqtt, client_id, persistent=True, manual_ack=True)
    answers: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            answers["refused"] = str(reason)
            done.set()
        else:
            client.subscribe([(topic, 1) for topic in wanted])

    def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        answers["codes"] = [code.is_failure for code in codes]
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        client.connect(config.mqtt.host, config.mqtt.port)
    except OSError as exc:
        return f"cannot connect: {exc}", []
    client.loop_start()
    try:
        if not done.wait(timeout):
            return "no answer from the broker", []
    finally:
        client.disconnect()
        client.loop_stop()
    return answers.get("refused"), answers.get("codes", [])


def probe_foreign_topic(
    own_config: Path, other_kiosk: str, echo: Callable[[str], None], timeout: float = 5.0
) -> bool:
    """Show one kiosk's account refused another kiosk's identity and topics; True if it is.

    Run once the kiosks have stopped: it logs in as the kiosk itself (session kept,
    nothing acknowledged). Its own receipt topic is asked for too, so a broker that
    refuses everything does not pass for the ACLs working.
    """
    own = load_config(own_config).kiosk_id
    refused, _ = _login_and_subscribe(own_config, other_kiosk, [], timeout)
    echo(f"broker: {own}'s account logging in as {other_kiosk}: {refused or 'ACCEPTED'}")
    own_topic, other_topic = (topics.topic(k, topics.RECEIPT) for k in (own, other_kiosk))
    failed, codes = _login_and_subscribe(own_config, own, [own_topic, other_topic], timeout)
    if failed is not None or len(codes) != 2:
        echo(f"broker: {own} could not log in as itself: {failed}")
        return False
    echo(
        f"broker: {own} may read its own receipts: {'no' if codes[0] else 'yes'}; "
        f"{other_kiosk}'s: {'refused' if codes[1] else 'ALLOWED'}"
    )
    return refused is not None and not codes[0] and codes[1]
