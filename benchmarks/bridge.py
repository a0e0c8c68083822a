"""``safecode bench bridge``: what a Mosquitto bridge costs a kiosk's round trip.

Two real brokers laid out as in production: the central one (dynamic security, the
aggregator's account) and a regional one from ``aggregator.broker_regions`` (its own
dynamic-security file with a kiosk account, its bridge logging into the central
broker as ``safecode_bridge_<region>``). A kiosk client publishes a check-in-sized
message (QoS 1) on its ``checkin`` topic; an echo standing in for the aggregator,
logged into the central broker, answers each on that kiosk's ``receipt`` topic (QoS 1).
Measured with the kiosk homed on the regional broker (two bridge hops per round trip)
and directly on the central broker, alternating, in the same run:

- ``round_trip_ms``: one message at a time (latency, no queueing);
- ``burst_per_s``: ``--burst`` messages published at once, until every answer is in
  (the throughput one bridge connection carries).

Both brokers run with ``set_tcp_nodelay true`` (the regional one from its
``bridge.conf``) and the clients switch Nagle off too; Mosquitto 2.0.11 cannot switch
it off on a bridge's own connection, which is what ``bridge_adds_ms_p50`` shows.

The aggregator's own work (verification, sealing, the block interval) is left out on
purpose: it is the same either way; ``tests/integration/test_regions.py`` prints
scan-to-receipt through the real aggregator.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
import paho.mqtt.client as mqtt

from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER, dynsec_document, new_password
from aggregator.broker_regions import central_account_commands, init_region_dir
from aggregator.dynsec import DynsecAccounts
from protocol import topics
from simulator.broker import LocalBroker, free_port
from support.private_files import write_private_text
from transport.settings import MqttSettings

from .util import machine_info, spread_ms

PAYLOAD = bytes(420)  # about a signed check-in's size on the wire


def _no_delay(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
    """Send small packets at once: paho leaves Nagle on, which would add ~40 ms per hop."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Client:
    """A paho client that records when each answer (by payload prefix) arrived."""

    def __init__(self, kiosk_id: str, port: int, password: str) -> None:
        self.kiosk_id = kiosk_id
        self.arrived: dict[bytes, float] = {}
        self.changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=kiosk_id)
        self.client.username_pw_set(kiosk_id, password)
        self.client.max_inflight_messages_set(100)
        self.client.on_message = self._on_message
        self.client.on_connect = _no_delay
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.arrived[bytes(message.payload[:16])] = time.perf_counter()
            self.changed.notify_all()

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, 1)
        time.sleep(0.3)

    def wait(self, keys: list[bytes], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not all(key in self.arrived for key in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise click.ClickException("answers did not come back through the broker")
                self.changed.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _echo(port: int, password: str) -> mqtt.Client:
    """The aggregator's stand-in: every check-in answered on that kiosk's receipt topic."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-echo")
    client.username_pw_set(AGGREGATOR_USER, password)
    client.max_inflight_messages_set(1000)

    def answer(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        kiosk_id, _ = topics.parse_topic(message.topic)
        client.publish(topics.topic(kiosk_id, topics.RECEIPT), message.payload[:16], qos=1)

    client.on_message = answer
    client.on_connect = _no_delay
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    client.subscribe(topics.ALL_CHECKINS, 1)
    return client


def _round(kiosk: _Client, tag: str, count: int) -> list[float]:
    checkin = topics.topic(kiosk.kiosk_id, topics.CHECKIN)
    times = []
    for number in range(count):
        key = f"{tag}{number:07d}".encode().ljust(16)
        start = time.perf_counter()
        kiosk.client.publish(checkin, key + PAYLOAD, qos=1)
        kiosk.wait([key])
        times.append(kiosk.arrived[key] - start)
    return times


def _burst(kiosk: _Client, tag: str, count: int) -> float:
    checkin = topics.topic(kiosk.kiosk_id, topics.CHECKIN)
    keys = [f"{tag}{number:07d}".encode().ljust(16) for number in range(count)]
    start = time.perf_counter()
    for key in keys:
        kiosk.client.publish(checkin, key + PAYLOAD, qos=1)
    kiosk.wait(keys, timeout=120)
    return count / (max(kiosk.arrived[key] for key in keys) - start)


def bridge_figures(root: Path, rounds: int, burst: int) -> dict[str, Any]:
    """Round trips and bursts, bridged and direct; the brokers live under ``root``."""
    admin, aggregator = new_password(), new_password()
    dynsec = root / "central-dynsec.json"
    write_private_text(dynsec, json.dumps(dynsec_document(admin, aggregator)))
    brokers: list[LocalBroker] = []
    clients: list[Any] = []
    try:
        central = LocalBroker(
            workdir=root / "central", dynsec_file=dynsec, extra_lines=("set_tcp_nodelay true",)
        ).start()
        brokers.append(central)
        port = free_port()
        _, password = init_region_dir(
            root / "region",
            "bench",
            port=port,
            bind="127.0.0.1",
            central_host=central.host,
            central_port=central.port,
        )
        central_admin = MqttSettings(port=central.port, username=ADMIN_USER, password=admin)
        DynsecAccounts(central_admin).run(central_account_commands("bench", password))
        region_dir = root / "region"
        region = LocalBroker(
            port,
            workdir=region_dir / "run",
            dynsec_file=region_dir / "dynamic-security.json",
            extra_lines=(f"include_dir {(region_dir / 'conf.d').resolve()}",),
        ).start()
        brokers.append(region)
        region_admin = (region_dir / "broker-admin.password").read_text().strip()
        homes = {
            "bridged": (region.port, region_admin),
            "direct": (central.port, admin),
        }
        echo = _echo(central.port, aggregator)
        clients.append(echo)
        kiosks: dict[str, _Client] = {}
        for kind, (home_port, home_admin) in homes.items():
            kiosk_id = f"kiosk-{kind}"
            account = DynsecAccounts(
                MqttSettings(port=home_port, username=ADMIN_USER, password=home_admin)
            ).ensure_kiosk(kiosk_id)
            kiosks[kind] = _Client(kiosk_id, home_port, account.password)
            clients.append(kiosks[kind])
            kiosks[kind].subscribe(topics.topic(kiosk_id, topics.RECEIPT))
        time.sleep(1.0)  # the bridge is up and subscribed at the central broker
        samples: dict[str, list[float]] = {kind: [] for kind in homes}
        rates: dict[str, list[float]] = {kind: [] for kind in homes}
        for lap in range(4):  # alternate, so both see the same machine load
            for kind in homes:
                tag = f"{kind[0]}{lap}"
                samples[kind] += _round(kiosks[kind], tag + "r", rounds // 4)
                rates[kind].append(_burst(kiosks[kind], tag + "b", burst))
        figures = {
            kind: {
                "round_trip_ms": spread_ms(samples[kind]),
                "burst_per_s": round(sorted(rates[kind])[len(rates[kind]) // 2], 1),
            }
            for kind in homes
        }
        figures["bridge_adds_ms_p50"] = round(
            figures["bridged"]["round_trip_ms"]["p50"] - figures["direct"]["round_trip_ms"]["p50"],
            3,
        )
        return {"rounds": rounds, "burst": burst, **figures}
    finally:
        for client in clients:
            if isinstance(client, _Client):
                client.close()
            else:
                client.loop_stop()
                client.disconnect()
        for broker in reversed(brokers):
            broker.stop()


@click.command("bridge")
@click.option("--rounds", default=400, show_default=True, help="Single round trips per home.")
@click.option("--burst", default=2000, show_default=True, help="Messages per burst.")
@click.option("--json", "as_json", is_flag=True, help="JSON only (the default output anyway).")
def bridge_command(rounds: int, burst: int, as_json: bool) -> None:
    """Round trip and burst rate through a regional broker's bridge vs the central broker."""
    if rounds < 4 or burst < 1:
        raise click.BadParameter("--rounds must be at least 4 and --burst at least 1")
    with tempfile.TemporaryDirectory(prefix="safecode-bridge-") as folder:
        figures = bridge_figures(Path(folder), rounds, burst)
    click.echo(json.dumps({**figures, "machine": machine_info(("paho-mqtt",))}, sort_keys=True))
