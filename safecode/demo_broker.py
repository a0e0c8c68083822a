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
from protocol.broker import make_client
from provisioning.site import BrokerLogins, write_private_text

from .broker import BrokerError, LocalBroker


def start_broker(
    folder: Path, echo: Callable[[str], None]
) -> tuple[LocalBroker, BrokerLogins | None]:
    """A loopback Mosquitto with per-kiosk accounts, or an anonymous one without the plugin."""
    folder.mkdir(parents=True, exist_ok=True)
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


def probe_foreign_topic(
    own_config: Path, other_kiosk: str, echo: Callable[[str], None], timeout: float = 5.0
) -> bool:
    """Log in with one kiosk's account and ask for another kiosk's receipts; True if refused.

    Its own receipt topic is asked for too, so a refusal of everything (a bad login)
    does not pass for the ACL working.
    """
    config = load_config(own_config)
    client = make_client(config.mqtt, f"{config.kiosk_id}-probe", persistent=False)
    answers: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            answers["connect"] = str(reason)
            done.set()
            return
        client.subscribe(
            [
                (topics.topic(config.kiosk_id, topics.RECEIPT), 1),
                (topics.topic(other_kiosk, topics.RECEIPT), 1),
            ]
        )

    def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        answers["codes"] = [code.is_failure for code in codes]
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        client.connect(config.mqtt.host, config.mqtt.port)
    except OSError as exc:
        echo(f"broker probe: cannot connect: {exc}")
        return False
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if "connect" in answers:
        echo(f"broker probe: {config.kiosk_id}'s login was refused: {answers['connect']}")
        return False
    own_refused, other_refused = answers.get("codes", [True, False])
    echo(
        f"broker: {config.kiosk_id} may read its own receipts: "
        f"{'no' if own_refused else 'yes'}; {other_kiosk}'s: "
        f"{'refused' if other_refused else 'ALLOWED'}"
    )
    return not own_refused and other_refused
