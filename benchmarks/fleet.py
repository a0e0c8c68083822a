"""``safecode bench fleet``: Jeju on one box, N kiosks connected at once, then a broker restart.

N enrolled kiosks (real device keys; each its own broker account and role, laid out in
bulk in the dynamic-security file before the broker starts, as
``aggregator.broker_acls.with_kiosks`` does) connect through one Mosquitto (with the
dynamic-security plugin and persistence) to one all-in-one aggregator
(``safecode aggregator run``). The kiosks live in a few fleet processes, thousands of
MQTT connections each (``simulator/fleet.py``: paho's external loop on one selector),
heartbeating every ``heartbeat_s`` with a retained last will, and visitors check in
at ``--rate`` per second over the whole fleet (Jeju: about 1.35 million check-ins a
day; the peak hour taken as 10 % of a day is 37.5/s; times ten, 375/s).

Phases: connect (set-up rate), the fleet view whole (every kiosk's heartbeat stored),
``--minutes`` of check-ins (scan-to-receipt, CPU and memory of broker and aggregator,
heartbeat-to-fleet-view delay), the reconnect storm (the broker stops, writing its
persistence, and starts again; every kiosk reconnects with the firmware's jittered
back-off while visitors keep checking in; timed until the fleet view is whole again),
then a drain: every check-in made must be sealed exactly once and its receipt verified.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import click

from aggregator.broker_acls import AGGREGATOR_USER, dynsec_document, new_password, with_kiosks
from kiosk.config import KioskConfig
from protocol import keys
from simulator.broker import LocalBroker
from simulator.fleet import PER_SOURCE_ADDRESS, FleetKioskSpec, FleetSettings, serve
from support.private_files import write_private_text
from transport.settings import MqttSettings

from .ingest import CollectedProcess, _cpu_s, _percentile, _rss_mb, make_site

#: Jeju: ~1.35 million check-ins a day, the peak hour 10 % of a day, times ten.
JEJU_PEAK_X10_PER_S = 1_350_000 * 0.10 / 3600 * 10
#: File descriptors kept beside one per kiosk (broker listeners, database, pipes, logs).
FD_MARGIN = 4096
#: File descriptors the broker needs beside one per kiosk (listener, persistence, log).
BROKER_FD_MARGIN = 100
#: Kiosks per fleet process.
PER_FLEET_PROCESS = 12_500


def _kiosk_default(name: str) -> Any:
    """A default of the kiosk's config (``kiosk/config.py``), e.g. the heartbeat interval."""
    return next(f.default for f in dataclasses.fields(KioskConfig) if f.name == name)


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE (soft and hard) to ``wanted`` where it is lower.

    Children (the broker, the fleets) inherit it. Raising the hard limit needs root
    (CAP_SYS_RESOURCE); otherwise the soft limit goes up to the hard one. Returns the
    (soft, hard) limits now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _kernel_limits() -> dict[str, str]:
    """The kernel settings a fleet on loopback runs into (read, never changed)."""
    found = {}
    for name, path in (
        ("ephemeral_ports", "/proc/sys/net/ipv4/ip_local_port_range"),
        ("somaxconn", "/proc/sys/net/core/somaxconn"),
        ("tcp_max_syn_backlog", "/proc/sys/net/ipv4/tcp_max_syn_backlog"),
    ):
        try:
            found[name] = " ".join(Path(path).read_text().split())
        except OSError:
            continue
    return found


def _spread(values: list[int]) -> dict[str, Any]:
    """Samples, p50, p95, p99 and max of ``values``."""
    return {
        "samples": len(values),
        "p50": _percentile(values, 0.50),
        "p95": _percentile(values, 0.95),
        "p99": _percentile(values, 0.99),
        "max": max(values) if values else None,
    }


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped at a full accept queue (machine-wide:
    ``TcpExt ListenOverflows``; Mosquitto 2.0 listens with a backlog of 100)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            found = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(found["ListenOverflows"]) if "ListenOverflows" in found else None
    return None


class FleetRun:
    """One run of the fleet benchmark: site, broker, aggregator, fleets, phase by phase."""

    def __init__(
        self,
        *,
        kiosks: int,
        minutes: float,
        rate: float,
        fleets: int | None,
        storm: bool,
        heartbeat_s: float,
        jitter_s: float | None,
        timeout_s: float,
        log: Any,
        per_source_address: int = PER_SOURCE_ADDRESS,
    ) -> None:
        self.per_source_address = per_source_address
        self.kiosks, self.minutes, self.rate, self.storm = kiosks, minutes, rate, storm
        self.fleets = fleets or max(1, math.ceil(kiosks / PER_FLEET_PROCESS))
        self.heartbeat_s, self.timeout_s, self.log = heartbeat_s, timeout_s, log
        defaults = MqttSettings()
        self.jitter_s = defaults.reconnect_jitter_s if jitter_s is None else jitter_s
        self.workdir = Path(tempfile.mkdtemp(prefix="safecode-bench-fleet-"))
        self.fleet_procs: list[tuple[Any, Connection]] = []
        self.aggregator: CollectedProcess | None = None
        self.broker: LocalBroker | None = None
        self.figures_: dict[str, Any] = {}
        self.limits: dict[str, Any] = {}

    # --- set-up ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """The whole benchmark; returns the figures."""
        try:
            self.load_before = os.getloadavg()[0]
            self.open_site()
            self.start_aggregator()
            self.start_fleets()
            self.connect()
            self.steady()
            if self.storm:
                self.reconnect_storm()
            self.drain()
            self.collect()
            return self.figures()
        finally:
            self.close()

    def open_site(self) -> None:
        """File limits, the aggregator's site, every kiosk's broker account, the broker."""
        from aggregator.db import open_database

        wanted = 2 * self.kiosks + FD_MARGIN  # broker: one per kiosk; fleets: one per kiosk
        soft, hard = raise_fd_limit(wanted)
        self.limits = {
            "nofile_wanted": wanted,
            "nofile": soft,
            "nofile_hard": hard,
            **_kernel_limits(),
        }
        if soft < self.kiosks + BROKER_FD_MARGIN:
            raise click.ClickException(
                f"RLIMIT_NOFILE is {soft} and its hard limit cannot be raised here (it needs "
                f"root with CAP_SYS_RESOURCE): {self.kiosks} kiosks need about "
                f"{self.kiosks + BROKER_FD_MARGIN} in the broker"
            )
        broker_dir = self.workdir / "broker"
        broker_dir.mkdir()
        port = LocalBroker().port
        admin, aggregator_pw = new_password(), new_password()
        url = f"sqlite:///{self.workdir / 'ledger.sqlite'}"
        self.log(f"enrolling {self.kiosks} kiosks (keys, registry)")
        t0 = time.perf_counter()
        self.config, self.issuer, specs = make_site(
            self.workdir,
            url,
            port,
            self.kiosks,
            mqtt_login={"username": AGGREGATOR_USER, "password": aggregator_pw},
            client_id="bench-fleet-aggregator",
        )
        self.enrol_s = time.perf_counter() - t0
        self.log(f"making {self.kiosks} broker accounts and roles in bulk")
        t0 = time.perf_counter()
        passwords = {spec.kiosk_id: new_password() for spec in specs}
        document = with_kiosks(dynsec_document(admin, aggregator_pw), passwords)
        state = broker_dir / "dynamic-security.json"
        write_private_text(state, json.dumps(document))
        self.accounts_s = time.perf_counter() - t0
        self.specs = [
            FleetKioskSpec(s.kiosk_id, s.venue_id, s.device_seed, passwords[s.kiosk_id])
            for s in specs
        ]
        ledger = keys.load_private(self.workdir / "ledger.key")
        self.ledger_public = keys.public_bytes(ledger)
        self.broker = LocalBroker(port, workdir=broker_dir, dynsec_file=state).start(timeout=60)
        self.db = open_database(url)

    def start_aggregator(self) -> None:
        python = [sys.executable, "-m", "safecode", "aggregator"]
        self.aggregator = CollectedProcess(
            "aggregator", [*python, "run", "--config", str(self.config), "--summary-json"]
        )
        if not self.aggregator.wait_for("listening on", 60):
            raise click.ClickException(
                f"the aggregator did not start: {self.aggregator.lines[-5:]}"
            )

    def start_fleets(self) -> None:
        """Fork the fleet processes (each holds its share of the kiosks)."""
        assert self.broker is not None
        mqtt = MqttSettings(port=self.broker.port, reconnect_jitter_s=self.jitter_s)
        settings = FleetSettings(
            mqtt=mqtt,
            issuer_seed=keys.private_seed(self.issuer),
            ledger_public=self.ledger_public,
            heartbeat_s=self.heartbeat_s,
            resend_after_s=_kiosk_default("resend_after_s"),
            per_source_address=self.per_source_address,
        )
        context = mp.get_context("fork")
        per = math.ceil(self.kiosks / self.fleets)
        for first in range(0, self.kiosks, per):
            parent, child = context.Pipe()
            proc = context.Process(
                target=serve,
                args=(child, self.specs[first : first + per], settings, first),
                daemon=True,
            )
            proc.start()
            self.fleet_procs.append((proc, parent))
        self.fleet_start = [conn.recv()[1] for _, conn in self.fleet_procs]

    def ask(self, *command: Any) -> list[Any]:
        """Send one command to every fleet, then collect their answers in order."""
        for _, conn in self.fleet_procs:
            conn.send(command)
        return [conn.recv() for _, conn in self.fleet_procs]

    # --- the fleet view --------------------------------------------------------------------

    def online_since(self, since_ms: int) -> int:
        """Kiosks whose stored heartbeat says online and arrived at or after ``since_ms``."""
        from peewee import fn

        from aggregator.db import KioskEntry

        state = fn.json_extract(KioskEntry.last_status, "$.state")
        with self.db.connection_context():
            return (
                KioskEntry.select()
                .where((KioskEntry.last_status_ms >= since_ms) & (state == "online"))
                .count()
            )

    def where(self) -> str:
        """Where the kiosks are, for the log: their links' states (the fleets' counts)."""
        stats = self.ask("stats")
        names = ("connected_now", "awaiting_connack_now", "connecting_now", "idle_now")
        parts = [f"{name[:-4]} {sum(s.get(name, 0) for s in stats)}" for name in names]
        return ", ".join(parts)

    def stored_since(self, since_ms: int) -> int:
        """Kiosks with any stored status (online or not) from at or after ``since_ms``."""
        from aggregator.db import KioskEntry

        with self.db.connection_context():
            return KioskEntry.select().where(KioskEntry.last_status_ms >= since_ms).count()

    def fleet_view_online(self, since_ms: int) -> int:
        """The operators' fleet view (``aggregator/api/fleet.py``): kiosks online now and
        heard from at or after ``since_ms``."""
        from aggregator.api.fleet import fleet
        from aggregator.web import DEFAULTS

        offline_after_ms = int(DEFAULTS["OFFLINE_AFTER_S"] * 1000)  # the read API's default
        with self.db.connection_context():
            view = fleet(int(time.time() * 1000), offline_after_ms)
        return sum(1 for k in view if k.online and (k.last_seen_ms or 0) >= since_ms)

    def wait_whole(self, since_ms: int, what: str) -> float | None:
        """Seconds until every kiosk is online in the fleet view with a heartbeat since
        ``since_ms`` (None if ``timeout_s`` passed)."""
        start = time.monotonic()
        seen = -1
        while time.monotonic() - start < self.timeout_s:
            online = self.online_since(since_ms)
            if online >= self.kiosks:
                in_view = self.fleet_view_online(since_ms)
                if in_view >= self.kiosks:
                    return time.monotonic() - start
                self.log(f"{what}: the fleet view shows {in_view} of them online")
            if online != seen:
                self.log(
                    f"{what}: {online}/{self.kiosks} kiosks in the fleet view ({self.where()}; "
                    f"{self.stored_since(since_ms)} heard from, online or not)"
                )
                seen = online
            time.sleep(1.0)
        return None

    def heartbeat_delays(self, since_ms: int) -> list[int]:
        """Milliseconds from each kiosk's heartbeat made (its ``clock_wall_ms``) to stored,
        for heartbeats stored at or after ``since_ms``."""
        from peewee import fn

        from aggregator.db import KioskEntry

        made = fn.json_extract(KioskEntry.last_status, "$.clock_wall_ms")
        with self.db.connection_context():
            rows = KioskEntry.select(KioskEntry.last_status_ms, made.alias("made")).where(
                (KioskEntry.last_status_ms >= since_ms) & made.is_null(False)
            )
            return [int(stored) - int(made_ms) for stored, made_ms in rows.tuples()]

    # --- phases ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Every kiosk connects at once (as after a power cut); set-up rate, view whole."""
        self.log(f"connecting {self.kiosks} kiosks from {self.fleets} fleet process(es)")
        t0_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        self.ask("connect")
        while time.monotonic() - t0 < self.timeout_s:
            connected = sum(s["connected_now"] for s in self.ask("stats"))
            if connected >= self.kiosks:
                break
            time.sleep(0.5)
        times = sorted(t for ts in self.ask("connect_times") for t in ts)
        self.connect_s = (times[-1] - t0) if len(times) >= self.kiosks else None
        self.log(f"connected in {self.connect_s} s; waiting for the fleet view")
        # None: not whole within ``timeout_s`` (the figures say so; the run goes on).
        self.whole_after_connect_s = self.wait_whole(t0_ms, "connect")

    def _pids(self) -> dict[str, int]:
        assert self.broker is not None and self.aggregator is not None
        pids = {"mosquitto": self.broker.process.pid if self.broker.process else 0}
        pids["aggregator"] = self.aggregator.popen.pid
        for number, (proc, _) in enumerate(self.fleet_procs):
            pids[f"fleet_{number + 1}"] = proc.pid or 0
        return pids

    def steady(self) -> None:
        """``minutes`` of check-ins at ``rate``: CPU, memory, heartbeat delays."""
        seconds = self.minutes * 60
        self.log(f"{seconds:.0f} s of check-ins at {self.rate:g}/s")
        share = self.rate / self.kiosks
        per = math.ceil(self.kiosks / self.fleets)
        for index, (_, conn) in enumerate(self.fleet_procs):
            mine = min(per, self.kiosks - index * per)
            conn.send(("rate", share * mine))
        for _, conn in self.fleet_procs:
            conn.recv()
        self.steady_start = time.monotonic()
        pids = self._pids()
        cpu0 = {name: _cpu_s(pid) for name, pid in pids.items()}
        self.delays: list[int] = []
        sample_ms = int(time.time() * 1000)
        end = self.steady_start + seconds
        while time.monotonic() < end:
            time.sleep(min(self.heartbeat_s, max(0.0, end - time.monotonic())))
            now_ms = int(time.time() * 1000)
            self.delays += self.heartbeat_delays(sample_ms)
            sample_ms = now_ms
        elapsed = time.monotonic() - self.steady_start
        self.steady_end = time.monotonic()
        self.cpu_cores = {
            name: round((_cpu_s(pid) - cpu0[name]) / elapsed, 3) for name, pid in pids.items()
        }
        self.rss = {name: _rss_mb(pid) for name, pid in pids.items()}
        self.steady_stats = self.ask("stats")

    def reconnect_storm(self) -> None:
        """Restart the broker (persistence on); time until the fleet view is whole again."""
        assert self.broker is not None
        self.log("reconnect storm: restarting the broker")
        overflows = listen_overflows()
        t0 = time.monotonic()
        self.broker.stop(timeout=120)
        self.broker_stop_s = time.monotonic() - t0
        t1 = time.monotonic()
        self.broker.start(timeout=120)
        self.broker_start_s = time.monotonic() - t1
        up_ms = int(time.time() * 1000)
        self.storm_start = time.monotonic()
        pids = self._pids()  # the broker's new process: its CPU so far is the storm's
        cpu0 = {name: 0.0 if name == "mosquitto" else _cpu_s(pid) for name, pid in pids.items()}
        whole = self.wait_whole(up_ms, "storm")
        self.storm_end = time.monotonic()
        self.storm_delays = self.heartbeat_delays(up_ms)  # each kiosk's newest since
        after = listen_overflows()
        self.storm_overflows = None if overflows is None or after is None else after - overflows
        elapsed = max(1e-9, self.storm_end - self.storm_start)
        self.cpu_cores_storm = {
            name: round((_cpu_s(pid) - cpu0[name]) / elapsed, 3) for name, pid in pids.items()
        }
        self.storm_s = None if whole is None else self.broker_start_s + whole
        stats = self.ask("stats")
        self.storm_stats = stats
        self.log(f"storm: fleet view whole {self.storm_s} s after the restart")

    def drain(self) -> None:
        """No more visitors; wait until every check-in made has its verified receipt."""
        self.ask("rate", 0.0)
        self.log("draining: every check-in must get its receipt")
        start = time.monotonic()
        self.drained = False
        seen = -1
        while time.monotonic() - start < self.timeout_s:
            left = sum(s["unanswered"] for s in self.ask("stats"))
            if not left:
                self.drained = True
                break
            if left != seen and int(time.monotonic() - start) % 10 == 0:
                self.log(f"draining: {left} check-ins without a receipt")
                seen = left
            time.sleep(1.0)
        self.drain_s = time.monotonic() - start

    def collect(self) -> None:
        """What was made, answered and sealed; stop the fleets and the aggregator."""
        from aggregator.db import CheckinEntry

        self.final_stats = self.ask("stats")
        self.latencies = [pair for answer in self.ask("latencies") for pair in answer]
        made: set[bytes] = set()
        answered: dict[bytes, int] = {}
        for sent, done in self.ask("ids"):
            made.update(sent)
            answered.update(done)
        with self.db.connection_context():
            rows = list(CheckinEntry.select(CheckinEntry.checkin_id, CheckinEntry.leaf_index))
        sealed = [bytes(r.checkin_id) for r in rows if r.leaf_index is not None]
        leaf = {bytes(r.checkin_id): r.leaf_index for r in rows}
        self.made, self.answered, self.sealed = made, answered, sealed
        self.wrong_leaf = sum(1 for cid, index in answered.items() if leaf.get(cid) != index)
        self.fleet_end = self.ask("stop")
        assert self.aggregator is not None
        self.aggregator_rss_end = _rss_mb(self.aggregator.popen.pid)
        self.summary = self.aggregator.stop()
        self.fleet_procs_joined = [proc.join(timeout=10) for proc, _ in self.fleet_procs]
        self.fleet_procs = []

    # --- figures ---------------------------------------------------------------------------

    def _lat(self, start: float, end: float) -> dict[str, float | None]:
        values = [ms for scan, ms in self.latencies if start <= scan < end]
        return {
            "samples": len(values),
            "p50": _percentile(values, 0.50),
            "p95": _percentile(values, 0.95),
            "p99": _percentile(values, 0.99),
        }

    def figures(self) -> dict[str, Any]:
        """The JSON figures of the run."""
        sealed_set = set(self.sealed)
        counts: dict[str, int] = {}
        for stats in self.final_stats:
            for key, value in stats.items():
                if isinstance(value, int) and not key.endswith("_mb"):
                    counts[key] = counts.get(key, 0) + value
        storm_end = getattr(self, "storm_end", self.steady_end)
        storm = {}
        if self.storm:
            storm = {
                "reconnect_storm_s": None if self.storm_s is None else round(self.storm_s, 1),
                "broker_stop_s": round(self.broker_stop_s, 2),
                "broker_start_s": round(self.broker_start_s, 2),
                # Cores each process used from the restart until the view was whole.
                "cpu_cores_storm": self.cpu_cores_storm,
                "heartbeat_to_fleet_view_ms_storm": _spread(self.storm_delays),
                # Connects dropped at a full accept queue meanwhile (the kernel's count,
                # machine-wide): each costs its kiosk a SYN retransmit (1 s, then 2 s, ...).
                "listen_overflows_storm": self.storm_overflows,
                "scan_to_receipt_ms_storm": self._lat(self.steady_end, storm_end),
            }
        delays = self.delays
        rss = self.rss
        return {
            "kiosks": self.kiosks,
            "minutes": self.minutes,
            "checkins_per_s": round(self.rate, 1),
            # Of the check-ins scanned in the timed window, those receipted, per second.
            "receipted_per_s": round(
                len([1 for s, _ in self.latencies if self.steady_start <= s < self.steady_end])
                / max(1e-9, self.steady_end - self.steady_start),
                1,
            ),
            "scan_to_receipt_ms": self._lat(self.steady_start, self.steady_end),
            "lost": len(self.made - sealed_set),
            "duplicated": len(self.sealed) - len(sealed_set) + counts.get("conflicts", 0),
            "unanswered": len(self.made) - len(self.answered),
            "receipt_leaf_mismatch": self.wrong_leaf,
            "made": len(self.made),
            "sealed": len(sealed_set),
            "unexpected_sealed": len(sealed_set - self.made),
            "broker_rss_mb": rss["mosquitto"].get("rss_mb"),
            "aggregator_rss_mb": rss["aggregator"].get("rss_mb"),
            "peak_rss_mb": {name: value.get("peak_rss_mb") for name, value in rss.items()},
            "fleet_rss_mb": [s.get("rss_mb") for s in self.steady_stats],
            "fleet_kb_per_kiosk": round(
                1024
                * sum(
                    s["rss_mb"] - f["rss_mb"]
                    for s, f in zip(self.steady_stats, self.fleet_start, strict=True)
                )
                / self.kiosks,
                1,
            ),
            "cpu_cores_steady": self.cpu_cores,
            **storm,
            "connect_s": None if self.connect_s is None else round(self.connect_s, 2),
            "connections_per_s": None
            if not self.connect_s
            else round(self.kiosks / self.connect_s, 1),
            "fleet_view_whole_after_connect_s": None
            if self.whole_after_connect_s is None
            else round(self.whole_after_connect_s, 1),
            "heartbeat_s": self.heartbeat_s,
            "heartbeat_to_fleet_view_ms": _spread(delays),
            "reconnect_jitter_s": self.jitter_s,
            "enrol_s": round(self.enrol_s, 2),
            "broker_accounts_s": round(self.accounts_s, 2),
            "drain_s": round(self.drain_s, 1),
            "drained": self.drained,
            "fleet_processes": len(self.final_stats),
            "kiosks_per_source_address": self.per_source_address,
            "source_addresses": math.ceil(self.kiosks / self.per_source_address),
            "limits": self.limits,
            "fleet_counts": counts,
            "aggregator_counts": self.summary,
            "load_before_and_after": [round(self.load_before, 2), round(os.getloadavg()[0], 2)],
            "machine": f"{platform.machine()} {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} cores, load "
            f"{os.getloadavg()[0]:.2f} (1-min average at the end)",
        }

    def close(self) -> None:
        """Stop whatever still runs and remove the work folder."""
        for proc, _conn in self.fleet_procs:
            proc.kill()
        if self.aggregator is not None and self.aggregator.popen.poll() is None:
            self.aggregator.stop()
        if self.broker is not None:
            self.broker.stop(timeout=60)
        shutil.rmtree(self.workdir, ignore_errors=True)


@click.command("fleet")
@click.option("--kiosks", default=1000, show_default=True, help="Kiosks connected at once.")
@click.option("--minutes", default=1.0, show_default=True, help="Minutes of check-ins.")
@click.option(
    "--rate",
    default=JEJU_PEAK_X10_PER_S,
    show_default=True,
    help="Check-ins per second over the whole fleet (Jeju's peak hour times ten).",
)
@click.option(
    "--fleets",
    type=int,
    default=None,
    help=f"Fleet processes (default: one per {PER_FLEET_PROCESS:,} kiosks).",
)
@click.option("--no-storm", is_flag=True, help="Skip the broker restart.")
@click.option(
    "--heartbeat-s",
    type=float,
    default=None,
    help="Heartbeat interval (default: the kiosk's, kiosk.heartbeat_s).",
)
@click.option(
    "--jitter-s",
    type=float,
    default=None,
    help="First reconnect jitter window (default: the firmware's, mqtt.reconnect_jitter_s).",
)
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="Per phase.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON figures.")
def fleet_command(
    kiosks: int,
    minutes: float,
    rate: float,
    fleets: int | None,
    no_storm: bool,
    heartbeat_s: float | None,
    jitter_s: float | None,
    timeout_s: float,
    as_json: bool,
) -> None:
    """N kiosks on one broker and one aggregator; a broker restart; as JSON."""
    if not 1 <= kiosks <= 200_000:
        raise click.BadParameter("must be from 1 to 200000", param_hint="--kiosks")
    if not 0.05 <= minutes <= 600:
        raise click.BadParameter("must be from 0.05 to 600", param_hint="--minutes")
    if not 0 < rate <= 10_000:
        raise click.BadParameter("must be more than 0 and at most 10000", param_hint="--rate")
    if fleets is not None and not 1 <= fleets <= 64:
        raise click.BadParameter("must be from 1 to 64", param_hint="--fleets")

    def log(text: str) -> None:
        if not as_json:
            click.echo(f"bench fleet: {text}", err=True)

    # A terminated benchmark still stops its broker, aggregator and fleets (``finally``).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    figures = FleetRun(
        kiosks=kiosks,
        minutes=minutes,
        rate=rate,
        fleets=fleets,
        storm=not no_storm,
        heartbeat_s=heartbeat_s if heartbeat_s is not None else _kiosk_default("heartbeat_s"),
        jitter_s=jitter_s,
        timeout_s=timeout_s,
        log=log,
    ).run()
    click.echo(json.dumps(figures, sort_keys=True, indent=None if as_json else 2))
