"""``safecode bench flood``: a hostile flood through a real broker, and what it cost.

One enrolled kiosk turns hostile (its broker account can publish on its own
topics only, as dynamic security allows): garbage check-ins, a heartbeat storm,
alternating offline/online heartbeats and a burst of valid check-ins, all at once.
Meanwhile the other kiosks check visitors in at a steady rate. The same steady rate
is measured first without the flood, so their receipt latency under the flood is
reported against a baseline from the same run.

Counted: refusals (by the aggregator's own counters), heartbeats coalesced, kiosk
configs published (seen by a subscriber) and signed, the aggregator's log lines,
and every valid check-in published against the ledger: lost and doubled must be 0.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import click
import paho.mqtt.client as mqtt

from protocol import keys, topics
from protocol.status import encode_status
from simulator.broker import LocalBroker

from .ingest import CollectedProcess, KioskFleet, KioskSpec, _fleet_main, _percentile, make_site


@dataclass(frozen=True)
class FloodSize:
    """How much the hostile kiosk sends."""

    garbage: int
    heartbeats: int
    toggles: int
    burst: int


def _noise(port: int, kiosk_id: str, size: FloodSize) -> dict[str, int]:
    """Publish the garbage, the heartbeat storm and the offline/online toggles, mixed."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{kiosk_id}-noise")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, 60)
    client.loop_start()
    checkin = topics.topic(kiosk_id, topics.CHECKIN)
    status = topics.topic(kiosk_id, topics.STATUS)
    online = encode_status("online", config_serial=None)
    offline = encode_status("offline")
    info = None
    for n in range(max(size.garbage, size.heartbeats, size.toggles)):
        if n < size.garbage:
            info = client.publish(checkin, b"\xff garbage %d" % n, qos=1)
        if n < size.heartbeats:
            info = client.publish(status, encode_status("online", uptime_s=n), qos=1)
        if n < size.toggles:
            info = client.publish(status, offline if n % 2 else online, qos=1)
    if info is not None:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return {"garbage": size.garbage, "heartbeats": size.heartbeats + size.toggles}


def _attacker_main(
    conn: Connection, port: int, spec: KioskSpec, issuer_seed: bytes, size: FloodSize
) -> None:
    """The hostile kiosk's process: a valid burst (as a fleet of one) and the noise."""
    fleet = KioskFleet(port, [spec], issuer_seed)
    fleet.generate(size.burst)
    conn.send("ready")
    command, args = conn.recv()
    if command != "flood":  # stopped before the flood
        fleet.close()
        return
    (seconds,) = args
    burst: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: burst.update(fleet.run(seconds, max(1, size.burst), None, 30.0))
    )
    sender.start()
    noise = _noise(port, spec.kiosk_id, size)
    sender.join()
    conn.send({**noise, "burst_published": burst["published"]})
    command, args = conn.recv()
    left = fleet.drain(*args)
    with fleet.lock:
        conn.send({"left": left, "sent": list(fleet.sent), "conflicts": fleet.conflicts})
    conn.recv()
    fleet.close()


class ConfigWatch:
    """Counts kiosk config messages published on the broker (not the retained replays)."""

    def __init__(self, port: int) -> None:
        self.count = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood-watch")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 60)
        self.client.subscribe(f"{topics.PREFIX}/+/{topics.CONFIG}", qos=0)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        if not message.retain:
            self.count += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FloodRun:
    """One run: site, broker, aggregator, the steady kiosks and the hostile one."""

    def __init__(self, *, kiosks: int, seconds: float, rate: float, size: FloodSize) -> None:
        self.kiosks, self.seconds, self.rate, self.size = kiosks, seconds, rate, size
        self.workdir = Path(tempfile.mkdtemp(prefix="safecode-bench-flood-"))
        self.broker = LocalBroker(workdir=self.workdir / "broker").start()
        self.procs: list[tuple[Any, Connection]] = []
        self.aggregator: CollectedProcess | None = None
        self.watch: ConfigWatch | None = None

    def _fork(self, target: Any, *args: Any) -> Connection:
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(target=target, args=(child, *args), daemon=True)
        proc.start()
        self.procs.append((proc, parent))
        if parent.recv() != "ready":
            raise click.ClickException("a kiosk process did not start")
        return parent

    def run(self, log: Any) -> dict[str, Any]:
        try:
            return self._run(log)
        finally:
            self.close()

    def _run(self, log: Any) -> dict[str, Any]:
        url = f"sqlite:///{self.workdir / 'ledger.sqlite'}"
        config, issuer, specs = make_site(
            self.workdir, url, self.broker.port, self.kiosks + 1, client_id="bench-flood"
        )
        seed = keys.private_seed(issuer)
        self.watch = ConfigWatch(self.broker.port)
        python = [sys.executable, "-m", "safecode", "aggregator", "run"]
        self.aggregator = CollectedProcess(
            "aggregator", [*python, "--config", str(config), "--summary-json"]
        )
        if not self.aggregator.wait_for("listening on", 30):
            raise click.ClickException(f"aggregator did not start: {self.aggregator.lines[-5:]}")
        log(f"making check-ins: {self.kiosks} steady kiosks, a burst of {self.size.burst}")
        steady = self._fork(_fleet_main, self.broker.port, specs[1:], seed)
        per_kiosk = int(self.rate * self.seconds * 2 * 1.2 / self.kiosks) + 5
        steady.send(("generate", (per_kiosk,)))
        steady.recv()
        attacker = self._fork(_attacker_main, self.broker.port, specs[0], seed, self.size)
        log(f"baseline: {self.seconds:.0f} s at {self.rate:.0f} check-ins/s")
        steady.send(("run", (self.seconds, 50, self.rate, 30.0)))
        quiet = steady.recv()
        log(f"flood: {self.seconds:.0f} s at the same rate while kiosk {specs[0].kiosk_id} floods")
        attacker.send(("flood", (self.seconds,)))
        steady.send(("run", (self.seconds, 50, self.rate, 30.0)))
        flooded, noise = steady.recv(), attacker.recv()
        log("draining: every valid check-in must be sealed once")
        for conn in (steady, attacker):
            conn.send(("drain", (120.0, 10.0)))
        drained = [steady.recv(), attacker.recv()]
        latency = {}
        for name, result in (("quiet", quiet), ("flood", flooded)):
            steady.send(("latencies", (result["ids"],)))
            latency[name] = _percentile(steady.recv(), 0.95)
        return self._figures(noise, drained, latency, url)

    def _figures(
        self, noise: dict[str, int], drained: list[dict], latency: dict, url: str
    ) -> dict[str, Any]:
        from aggregator.db import CheckinEntry, open_database

        db = open_database(url)
        rows = list(CheckinEntry.select(CheckinEntry.checkin_id, CheckinEntry.leaf_index))
        db.close()
        sealed = [bytes(row.checkin_id) for row in rows if row.leaf_index is not None]
        published = {cid for result in drained for cid in result["sent"]}
        assert self.aggregator is not None and self.watch is not None
        configs_seen = self.watch.count
        summary = self.aggregator.stop()
        lines = self.aggregator.lines
        self.aggregator = None
        quiet, flood = latency["quiet"], latency["flood"]
        return {
            "kiosks_steady": self.kiosks,
            "steady_rate_per_s": self.rate,
            "seconds_per_phase": self.seconds,
            "garbage_sent": noise["garbage"],
            "garbage_refused_and_counted": summary.get("refused:malformed", 0),
            "heartbeats_sent": noise["heartbeats"],
            "heartbeats_coalesced": summary.get("dropped:heartbeat_coalesced", 0),
            "configs_published": configs_seen,
            "configs_signed": summary.get("configs_sent", 0),
            "valid_burst": self.size.burst,
            "valid_published": len(published),
            "sealed": len(set(sealed)),
            "lost": len(published - set(sealed)),
            "doubled": len(sealed) - len(set(sealed)) + sum(r["conflicts"] for r in drained),
            "acknowledged_then_dropped": summary.get("error:inbox_full", 0),
            "backpressure_waits": summary.get("backpressure:inbox_full", 0),
            "log_lines": len(lines),
            "refusal_log_lines": sum("refused" in line for line in lines),
            "steady_receipt_ms_p95_quiet": quiet,
            "steady_receipt_ms_p95_flood": flood,
            "flood_vs_quiet_p95": round(flood / quiet, 2) if quiet and flood else None,
            "machine": f"{platform.machine()} {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}",
        }

    def close(self) -> None:
        """Stop whatever still runs and remove the work folder."""
        if self.aggregator is not None:
            self.aggregator.stop()
        if self.watch is not None:
            self.watch.close()
        for proc, conn in self.procs:
            if proc.is_alive():
                conn.send(("stop", ()))
                proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        self.broker.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@click.command("flood")
@click.option("--kiosks", default=4, show_default=True, help="Steady (well-behaved) kiosks.")
@click.option("--seconds", default=15.0, show_default=True, help="Each phase: quiet, flood.")
@click.option("--rate", default=20.0, show_default=True, help="Steady check-ins per second.")
@click.option("--garbage", default=5000, show_default=True, help="Garbage check-ins.")
@click.option("--heartbeats", default=5000, show_default=True, help="Heartbeat storm.")
@click.option("--toggles", default=2000, show_default=True, help="Offline/online heartbeats.")
@click.option("--burst", default=2000, show_default=True, help="Valid check-ins in one burst.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON figures.")
def flood_command(
    kiosks: int,
    seconds: float,
    rate: float,
    garbage: int,
    heartbeats: int,
    toggles: int,
    burst: int,
    as_json: bool,
) -> None:
    """A hostile kiosk floods a real broker: refusals, losses, configs, logs, latency."""
    if not 1 <= kiosks <= 100:
        raise click.BadParameter("must be from 1 to 100", param_hint="--kiosks")
    if not 1 <= seconds <= 600:
        raise click.BadParameter("must be from 1 to 600", param_hint="--seconds")
    if not 0.5 <= rate <= 1000:
        raise click.BadParameter("must be from 0.5 to 1000", param_hint="--rate")
    for name, value in (
        ("--garbage", garbage),
        ("--heartbeats", heartbeats),
        ("--toggles", toggles),
        ("--burst", burst),
    ):
        if not 0 <= value <= 1_000_000:
            raise click.BadParameter("must be from 0 to 1000000", param_hint=name)

    def log(text: str) -> None:
        if not as_json:
            click.echo(f"bench flood: {text}", err=True)

    size = FloodSize(garbage=garbage, heartbeats=heartbeats, toggles=toggles, burst=burst)
    figures = FloodRun(kiosks=kiosks, seconds=seconds, rate=rate, size=size).run(log)
    click.echo(json.dumps(figures, sort_keys=True, indent=None if as_json else 2))
