"""``safecode bench ingest``: check-ins sealed per second through a real broker.

Simulated kiosks (real device keys, enrolled; real visitor presentations, made
before the timed part) publish signed check-ins through a private Mosquitto to
real aggregator processes (``safecode aggregator ingest`` on a shared
subscription, ``safecode aggregator sequence``). Kiosks behave as the firmware
does: at most ``max_in_flight`` unreceipted rows each, resent after a timeout.

Phases: the crypto ceiling (Ed25519 verifications per second on all cores), the
peak (kiosks publish as fast as receipts allow; check-ins sealed per second over
the timed window), then latency (publishing paced at half the peak rate;
publish-to-receipt p50/p95), then a drain: every published check-in must be
sealed exactly once.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import click
import paho.mqtt.client as mqtt
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.errors import ProtocolError
from protocol.receipt import Receipt, parse_answer
from simulator.broker import LocalBroker
from simulator.visitors import enrol_visitor

SHOWS_PER_VISITOR = 30
_AGG = ("ingest", "sequence", "aggregator")
ORIGIN = "bench.localhost/ledger"


# --- the crypto ceiling --------------------------------------------------------------------


def _verify_for(seconds: float) -> tuple[int, float]:
    """Verifications done in ``seconds`` of wall time, and the CPU seconds they took."""
    key = keys.generate()
    public, sig = key.public_key(), key.sign(b"bench")
    count, end = 0, time.perf_counter() + seconds
    cpu = time.process_time()
    while time.perf_counter() < end:
        for _ in range(200):
            public.verify(sig, b"bench")
        count += 200
    return count, time.process_time() - cpu


def verify_rates(seconds: float = 3.0) -> tuple[float, float, int]:
    """Ed25519 verifications per second with one process per core, per CPU second, cores.

    The first depends on what else runs on the machine; the second does not (much).
    """
    cores = os.cpu_count() or 1
    with mp.get_context("fork").Pool(cores) as pool:
        start = time.perf_counter()
        results = pool.map(_verify_for, [seconds] * cores)
        elapsed = time.perf_counter() - start
    count = sum(n for n, _ in results)
    return count / elapsed, count / max(1e-9, sum(cpu for _, cpu in results)), cores


# --- simulated kiosks (one process holds several) -----------------------------------------


@dataclass(frozen=True)
class KioskSpec:
    kiosk_id: str
    venue_id: str
    device_seed: bytes


@dataclass
class _Kiosk:
    spec: KioskSpec
    client: mqtt.Client
    ready: deque[tuple[bytes, bytes]] = field(default_factory=deque)
    seq: int = 0
    mono_ms: int = 0
    in_flight: int = 0


class KioskFleet:
    """Several kiosks in one process: pre-made records, an in-flight cap, resends."""

    def __init__(self, port: int, specs: list[KioskSpec], issuer_seed: bytes) -> None:
        self.issuer = _key(issuer_seed)
        self.lock = threading.Lock()
        self.sent: dict[bytes, list[Any]] = {}  # id -> [kiosk index, wire, first, last]
        # (last send, id) in sending order: resends look only at the oldest few, never
        # scan every row ever sent (which made the load generator the busiest process).
        self.unanswered: deque[tuple[float, bytes]] = deque()
        self.done: dict[bytes, float] = {}  # id -> receipt time (perf_counter)
        self.leaf: dict[bytes, int] = {}
        self.conflicts = 0
        self.refusals = 0
        self.kiosks: list[_Kiosk] = []
        for spec in specs:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id=spec.kiosk_id, clean_session=True
            )
            client.max_inflight_messages_set(200)
            client.on_message = self._on_message
            client.connect("127.0.0.1", port, 60)
            client.subscribe(topics.topic(spec.kiosk_id, topics.RECEIPT), qos=1)
            client.loop_start()
            self.kiosks.append(_Kiosk(spec, client))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            answer = parse_answer(bytes(message.payload))
        except ProtocolError:
            return
        with self.lock:
            if not isinstance(answer, Receipt):
                self.refusals += len(answer.entries)
                return
            for entry in answer.entries:
                known = self.leaf.setdefault(entry.checkin_id, entry.leaf_index)
                if known != entry.leaf_index:
                    self.conflicts += 1
                sent = self.sent.get(entry.checkin_id)
                if sent is not None and entry.checkin_id not in self.done:
                    self.done[entry.checkin_id] = now
                    self.kiosks[sent[0]].in_flight -= 1

    def generate(self, per_kiosk: int) -> None:
        """Make ``per_kiosk`` signed check-ins for every kiosk, with real presentations."""
        t0 = int(time.time())
        for kiosk in self.kiosks:
            device = _key(kiosk.spec.device_seed)
            boot = uuid.uuid4().bytes
            made = 0
            while made < per_kiosk:
                wallet = enrol_visitor(self.issuer, t0 - 3600)
                for show in range(min(SHOWS_PER_VISITOR, per_kiosk - made)):
                    shown = t0 - 10 - show
                    kiosk.seq += 1
                    kiosk.mono_ms += 1
                    checkin_id = os.urandom(16)
                    wire = sign_checkin(
                        device,
                        checkin_id=checkin_id,
                        kiosk_id=kiosk.spec.kiosk_id,
                        venue_id=kiosk.spec.venue_id,
                        seq=kiosk.seq,
                        door="entrance",
                        scanned_ms=shown * 1000 + 500,
                        clock=ClockState(True, boot, kiosk.mono_ms),
                        presentation=wallet.show(shown).to_bytes(),
                    )
                    kiosk.ready.append((checkin_id, wire))
                    made += 1

    def run(self, seconds: float, max_in_flight: int, rate: float | None, resend_s: float) -> dict:
        """Publish for ``seconds`` (at ``rate`` per second in all, or as fast as allowed)."""
        start = time.perf_counter()
        end = start + seconds
        published = resent = 0
        ran_out = False
        ids: list[bytes] = []
        while (now := time.perf_counter()) < end:
            budget = math.inf if rate is None else rate * (now - start) - published
            progressed = False
            for index, kiosk in enumerate(self.kiosks):
                if budget < 1:
                    break
                with self.lock:
                    room = max_in_flight - kiosk.in_flight
                while room > 0 and budget >= 1 and kiosk.ready:
                    checkin_id, wire = kiosk.ready.popleft()
                    with self.lock:
                        self.sent[checkin_id] = [index, wire, now, now]
                        self.unanswered.append((now, checkin_id))
                        kiosk.in_flight += 1
                    kiosk.client.publish(
                        topics.topic(kiosk.spec.kiosk_id, topics.CHECKIN), wire, qos=1
                    )
                    ids.append(checkin_id)
                    published += 1
                    budget -= 1
                    room -= 1
                    progressed = True
                if not kiosk.ready:
                    ran_out = True
            resent += self._resend(resend_s)
            if not progressed:
                time.sleep(0.002)
        return {"published": published, "resent": resent, "ran_out": ran_out, "ids": ids}

    def _resend(self, resend_s: float) -> int:
        now = time.perf_counter()
        stale = []
        with self.lock:
            queue = self.unanswered
            while queue and now - queue[0][0] > resend_s:
                _, cid = queue.popleft()
                if cid in self.done:
                    continue
                entry = self.sent[cid]
                entry[3] = now
                queue.append((now, cid))
                stale.append(entry)
        for index, wire, _first, _last in stale:
            kiosk = self.kiosks[index]
            kiosk.client.publish(topics.topic(kiosk.spec.kiosk_id, topics.CHECKIN), wire, qos=1)
        return len(stale)

    def drain(self, timeout: float, resend_s: float) -> int:
        """Resend unreceipted rows until none are left or ``timeout``; returns rows left."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            with self.lock:
                left = len(self.sent) - len(self.done)
            if not left:
                return 0
            self._resend(resend_s)
            time.sleep(0.1)
        with self.lock:
            return len(self.sent) - len(self.done)

    def latencies(self, ids: list[bytes]) -> list[float]:
        with self.lock:
            return [(self.done[cid] - self.sent[cid][2]) * 1000 for cid in ids if cid in self.done]

    def close(self) -> None:
        for kiosk in self.kiosks:
            kiosk.client.disconnect()
            kiosk.client.loop_stop()


def _key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _fleet_main(conn: Connection, port: int, specs: list[KioskSpec], issuer_seed: bytes) -> None:
    """A kiosk-fleet process: answers the coordinator's commands over ``conn``."""
    fleet = KioskFleet(port, specs, issuer_seed)
    conn.send("ready")
    while True:
        command, args = conn.recv()
        if command == "generate":
            fleet.generate(*args)
            conn.send("ok")
        elif command == "run":
            conn.send(fleet.run(*args))
        elif command == "latencies":
            conn.send(fleet.latencies(*args))
        elif command == "drain":
            left = fleet.drain(*args)
            with fleet.lock:
                conn.send(
                    {
                        "left": left,
                        "sent": list(fleet.sent),
                        "conflicts": fleet.conflicts,
                        "refusals": fleet.refusals,
                    }
                )
        elif command == "stop":
            fleet.close()
            conn.send(_rss_mb(os.getpid()))
            return


# --- the coordinator -----------------------------------------------------------------------


def _rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process in MB (from /proc)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out["rss_mb" if line.startswith("VmRSS") else "peak_rss_mb"] = round(
                    int(line.split()[1]) / 1024, 1
                )
    except OSError:
        pass
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fresh_postgres_schema(url: str) -> tuple[str, str]:
    """Create a fresh schema for this run; the URL that uses it, and the schema name."""
    import psycopg2

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    parts = urlparse(url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    conn.close()
    query = dict(parse_qsl(parts.query))
    query["options"] = f"-csearch_path={schema}"
    return urlunparse(parts._replace(query=urlencode(query))), schema


def _drop_postgres_schema(url: str, schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


class CollectedProcess:
    """An aggregator subprocess whose output lines are collected in the background."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if "sealed block" not in line:
                self.lines.append(line.rstrip())

    def wait_for(self, pattern: str, timeout: float) -> bool:
        """Whether a line matching ``pattern`` came within ``timeout`` (False if it exited)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(re.search(pattern, line) for line in self.lines):
                return True
            if self.popen.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self) -> dict[str, Any]:
        """Terminate (kill after 60 s) and return its last JSON line, or {}."""
        self.popen.terminate()
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        summary: dict[str, Any] = {}
        for line in reversed(self.lines):
            if line.startswith("{"):
                summary = json.loads(line)
                break
        return summary


def _tree_size() -> int:
    from aggregator.db import BlockEntry

    last = BlockEntry.select().order_by(BlockEntry.height.desc()).first()
    return 0 if last is None else last.tree_size


def _per(cores: float, rate: float) -> float | None:
    """Milliseconds of CPU per item: ``cores`` busy at ``rate`` items per second."""
    return round(1000 * cores / rate, 3) if rate > 0 else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def make_site(
    workdir: Path,
    url: str,
    port: int,
    kiosks: int,
    *,
    mqtt_login: dict[str, str] | None = None,
    **aggregator: Any,
) -> tuple[Path, Ed25519PrivateKey, list[KioskSpec]]:
    """Keys, an aggregator config and ``kiosks`` enrolled kiosks; (config, issuer, kiosks).

    ``mqtt_login`` (username, password) goes into the config's ``[mqtt]`` table.
    """
    from aggregator.db import KioskEntry, open_database
    from aggregator.registry import enrol_kiosk

    workdir.mkdir(parents=True, exist_ok=True)
    issuer, ledger = keys.generate(), keys.generate()
    keys.save_private(issuer, workdir / "issuer.key")
    keys.save_private(ledger, workdir / "ledger.key")
    config = workdir / "aggregator.toml"
    section = {
        "origin": ORIGIN,
        "database_url": url,
        "ledger_key": "ledger.key",
        "issuer_key": "issuer.key",
        **aggregator,
    }
    mqtt_section = {"host": "127.0.0.1", "port": port, **(mqtt_login or {})}
    config.write_text(tomli_w.dumps({"aggregator": section, "mqtt": mqtt_section}))
    db = open_database(url)
    specs = []
    with db.atomic():  # one commit: tens of thousands of kiosks enrol in seconds
        for number in range(kiosks):
            device = keys.generate()
            seed = keys.private_seed(device)
            spec = KioskSpec(f"kiosk-{number + 1}", f"venue-{number + 1}", seed)
            if number < 2:  # the registry's own checks, once; then the same rows in bulk
                enrol_kiosk(spec.kiosk_id, spec.venue_id, keys.public_bytes(device))
            specs.append(spec)
        now_ms = int(time.time() * 1000)
        rows = [
            {
                "kiosk_id": spec.kiosk_id,
                "venue_id": spec.venue_id,
                "device_key": keys.public_bytes(_key(spec.device_seed)),
                "enrolled_ms": now_ms,
            }
            for spec in specs[2:]
        ]
        for start in range(0, len(rows), 500):
            KioskEntry.insert_many(rows[start : start + 500]).execute()
    db.close()
    return config, issuer, specs


class IngestRun:
    """One run of the ingest benchmark: its site, broker and processes, phase by phase.

    Each phase keeps what it measured on the instance; :meth:`figures` turns that into
    the JSON figures and :meth:`close` stops whatever is still running.
    """

    # The peak rate cannot beat the ceiling: make that many records, and some more.
    PER_CHECKIN_MAX = 3
    WARMUP_S = 3.0

    def __init__(
        self,
        *,
        seconds: float,
        kiosks: int,
        db_url: str | None,
        ingest_processes: int,
        workers: int,
        fleets: int,
        max_in_flight: int,
        latency_seconds: float,
        log: Any,
    ) -> None:
        self.seconds, self.kiosks, self.db_url = seconds, kiosks, db_url
        self.ingest_processes, self.workers, self.fleets = ingest_processes, workers, fleets
        self.max_in_flight, self.latency_seconds, self.log = max_in_flight, latency_seconds, log
        self.workdir = Path(tempfile.mkdtemp(prefix="safecode-bench-ingest-"))
        self.schema: str | None = None
        self.procs: list[CollectedProcess] = []
        self.fleet_procs: list[tuple[Any, Connection]] = []
        self.broker = LocalBroker(workdir=self.workdir / "broker").start()

    def run(self) -> dict[str, Any]:
        """The whole benchmark, phase by phase; returns the figures."""
        try:
            self.open_site()
            self.start_fleets()
            self.start_aggregator()
            self.measure_peak()
            self.measure_latency()
            self.collect()
            return self.figures()
        finally:
            self.close()

    def open_site(self) -> None:
        """Measure the crypto ceiling, then lay out the database, keys and kiosks."""
        from aggregator.db import open_database

        self.load_before = os.getloadavg()[0]
        self.log("measuring the crypto ceiling")
        self.verify_before, self.per_cpu_before, self.cores = verify_rates()
        if self.db_url is None:
            url = f"sqlite:///{self.workdir / 'ledger.sqlite'}"
            self.kind = "sqlite"
        else:
            url, self.schema = _fresh_postgres_schema(self.db_url)
            self.kind = "postgresql"
        self.config, self.issuer, self.specs = make_site(
            self.workdir,
            url,
            self.broker.port,
            self.kiosks,
            shared_group="bench",
            ingest_workers=self.workers,
            client_id="bench-aggregator",
        )
        self.db = open_database(url)

    def ask_fleets(self, command: str, args: tuple[Any, ...]) -> list[Any]:
        """Send one command to every fleet, then collect their answers in order."""
        for _, conn in self.fleet_procs:
            conn.send((command, args))
        return [conn.recv() for _, conn in self.fleet_procs]

    def start_fleets(self) -> None:
        """Fork the kiosk-fleet processes and have them make the peak's check-ins."""
        peak_records = int(self.verify_before / 2 * (self.seconds + 5) * 1.05) + 1000
        context = mp.get_context("fork")
        for index in range(self.fleets):
            mine = self.specs[index :: self.fleets]
            if not mine:
                continue
            parent, child = context.Pipe()
            proc = context.Process(
                target=_fleet_main,
                args=(child, self.broker.port, mine, keys.private_seed(self.issuer)),
                daemon=True,
            )
            proc.start()
            self.fleet_procs.append((proc, parent))
        for _, conn in self.fleet_procs:
            if conn.recv() != "ready":
                raise click.ClickException("a kiosk fleet did not start")
        self.log(f"making {peak_records} check-ins with real presentations (not timed)")
        self.ask_fleets("generate", (math.ceil(peak_records / self.kiosks),))

    def start_aggregator(self) -> None:
        """One all-in-one process, or ingest processes plus a sequencer; wait until up."""
        python = [sys.executable, "-m", "safecode", "aggregator"]
        config = ["--config", str(self.config)]
        if self.ingest_processes == 0:  # one process: ingest and sequencer share SQLite's lock
            self.procs.append(
                CollectedProcess("aggregator", [*python, "run", *config, "--summary-json"])
            )
        for number in range(self.ingest_processes):
            client_id = ["--client-id", f"bench-ingest-{number + 1}"]
            self.procs.append(
                CollectedProcess(
                    f"ingest-{number + 1}",
                    [*python, "ingest", *config, *client_id, "--summary-json"],
                )
            )
        if self.ingest_processes:
            self.procs.append(
                CollectedProcess("sequence", [*python, "sequence", *config, "--summary-json"])
            )
        for proc in self.procs:
            if not proc.wait_for("listening on", 30):
                raise click.ClickException(f"{proc.name} did not start: {proc.lines[-5:]}")

    def measure_peak(self) -> None:
        """Peak: as fast as receipts allow; sealed per second and CPU of every process."""
        self.log(
            f"peak: {self.seconds + self.WARMUP_S:.0f} s of publishing as fast as receipts allow"
        )
        for _, conn in self.fleet_procs:
            conn.send(("run", (self.WARMUP_S + self.seconds, self.max_in_flight, None, 30.0)))
        time.sleep(self.WARMUP_S)
        pids = {proc.name: proc.popen.pid for proc in self.procs}
        pids["mosquitto"] = self.broker.process.pid if self.broker.process else 0
        for number, (proc, _) in enumerate(self.fleet_procs):
            pids[f"kiosk_fleet_{number + 1}"] = proc.pid or 0
        cpu_start = {name: _cpu_s(pid) for name, pid in pids.items()}
        with self.db.connection_context():
            t_start, n_start = time.perf_counter(), _tree_size()
        time.sleep(self.seconds)
        with self.db.connection_context():
            t_end, n_end = time.perf_counter(), _tree_size()
        self.cpu_cores = {
            name: round((_cpu_s(pid) - cpu_start[name]) / (t_end - t_start), 2)
            for name, pid in pids.items()
        }
        self.peak_runs = [conn.recv() for _, conn in self.fleet_procs]
        # Measured again right after the peak: the machine may be shared, so the higher
        # of the two (the stricter ceiling) is used.
        self.verify_after, per_cpu_after, _ = verify_rates()
        self.verify_rate = max(self.verify_before, self.verify_after)
        self.verify_per_cpu_s = max(self.per_cpu_before, per_cpu_after)
        self.peak = (n_end - n_start) / (t_end - t_start)
        self.rss_at_peak = {proc.name: _rss_mb(proc.popen.pid) for proc in self.procs}

    def measure_latency(self) -> None:
        """Latency at half the peak rate, with records made before it starts; then drain."""
        self.half = self.peak / 2
        lat_records = int(self.half * self.latency_seconds * 1.2) + 100
        self.log(
            f"latency: making {lat_records} check-ins, then "
            f"{self.latency_seconds:.0f} s at {self.half:.0f}/s"
        )
        self.ask_fleets("drain", (120.0, 30.0))
        self.ask_fleets("generate", (math.ceil(lat_records / self.kiosks),))
        share = self.half / max(1, len(self.fleet_procs))
        self.lat_runs = self.ask_fleets(
            "run", (self.latency_seconds, self.max_in_flight, share, 30.0)
        )
        self.log("draining: every published check-in must be sealed once")
        self.drained = self.ask_fleets("drain", (180.0, 10.0))
        self.latencies: list[float] = []
        for (_, conn), run in zip(self.fleet_procs, self.lat_runs, strict=True):
            conn.send(("latencies", (run["ids"],)))
            self.latencies.extend(conn.recv())

    def collect(self) -> None:
        """What was published and sealed; stop the aggregator and the fleets."""
        from aggregator.db import CheckinEntry

        self.published = set()
        for result in self.drained:
            self.published.update(result["sent"])
        with self.db.connection_context():
            rows = list(CheckinEntry.select(CheckinEntry.checkin_id, CheckinEntry.leaf_index))
        self.sealed_ids = [bytes(row.checkin_id) for row in rows if row.leaf_index is not None]
        self.summaries = {proc.name: proc.stop() for proc in self.procs}
        self.log_tails = {
            proc.name: [x for x in proc.lines if "gap" not in x][-40:] for proc in self.procs
        }
        self.procs = []
        self.fleet_rss = []
        for proc, conn in self.fleet_procs:
            conn.send(("stop", ()))
            self.fleet_rss.append(conn.recv())
            proc.join(timeout=10)
        self.fleet_procs = []
        self.db.close()

    def figures(self) -> dict[str, Any]:
        """The JSON figures of the run."""
        return {
            **self.run_figures(),
            **self.delivery_figures(),
            **self.crypto_figures(),
            **self.resource_figures(),
        }

    def run_figures(self) -> dict[str, Any]:
        """The settings, the peak and the machine."""
        return {
            "database": self.kind,
            "seconds": self.seconds,
            "kiosks": self.kiosks,
            "ingest_processes": self.ingest_processes,
            "ingest_workers_per_process": self.workers,
            "kiosk_fleet_processes": len(self.peak_runs),
            "max_in_flight_per_kiosk": self.max_in_flight,
            "sealed_per_s_peak": round(self.peak, 1),
            "cores": self.cores,
            "load_before_and_after": [round(self.load_before, 2), round(os.getloadavg()[0], 2)],
            "machine": f"{platform.machine()} {platform.python_implementation()} "
            f"{platform.python_version()}, {self.cores} cores, load {os.getloadavg()[0]:.2f} "
            f"(1-min average at the end; 2 cores shared with other users)",
        }

    def delivery_figures(self) -> dict[str, Any]:
        """Published, sealed, lost, duplicated; scan-to-receipt latency."""
        sealed_set = set(self.sealed_ids)
        drained, latencies = self.drained, self.latencies
        return {
            "published_peak_phase": sum(r["published"] for r in self.peak_runs),
            "fleet_ran_out_of_records": any(r["ran_out"] for r in self.peak_runs),
            "published": len(self.published),
            "sealed": len(sealed_set),
            "lost": len(self.published - sealed_set),
            "duplicated": len(self.sealed_ids)
            - len(sealed_set)
            + sum(r["conflicts"] for r in drained),
            "unexpected_sealed": len(sealed_set - self.published),
            "refused": sum(r["refusals"] for r in drained),
            "resent": sum(r["resent"] for r in self.peak_runs + self.lat_runs),
            "latency_rate_per_s": round(self.half, 1),
            "latency_samples": len(latencies),
            "scan_to_receipt_ms_p50": _percentile(latencies, 0.50),
            "scan_to_receipt_ms_p95": _percentile(latencies, 0.95),
            "scan_to_receipt_ms_median": round(statistics.median(latencies), 1)
            if latencies
            else None,
        }

    @property
    def issuer_share(self) -> float:
        """Share of check-ins whose issuer signature was checked (not in the cache)."""
        hits = sum(s.get("issuer_cache:hit", 0) for s in self.summaries.values())
        misses = sum(s.get("issuer_cache:miss", 0) for s in self.summaries.values())
        return misses / (hits + misses) if hits + misses else 1.0

    @property
    def per_checkin(self) -> float:
        """Signature checks per check-in: two, plus the issuer's when not cached."""
        return 2 + self.issuer_share

    @property
    def aggregator_cores(self) -> float:
        return sum(v for k, v in self.cpu_cores.items() if k.startswith(_AGG))

    def crypto_figures(self) -> dict[str, Any]:
        """The peak against the crypto ceiling, on all cores and at the aggregator's CPU."""
        per_checkin, peak, cores = self.per_checkin, self.peak, self.cores
        verify_per_cpu_s, agg_cores = self.verify_per_cpu_s, self.aggregator_cores
        ceiling = self.verify_rate / per_checkin
        return {
            "ed25519_verify_per_s_all_cores": round(self.verify_rate),
            "ed25519_verify_per_s_before_and_after_peak": [
                round(self.verify_before),
                round(self.verify_after),
            ],
            "issuer_cache_miss_share": round(self.issuer_share, 4),
            "verifications_per_checkin": round(per_checkin, 3),
            "verifications_per_checkin_uncached": self.PER_CHECKIN_MAX,
            "crypto_ceiling_checkins_per_s": round(ceiling, 1),
            "ratio_to_ceiling": round(peak / ceiling, 3),
            "checkins_per_aggregator_core_s": round(peak / max(0.01, agg_cores), 1),
            "crypto_ceiling_per_core": round(ceiling / cores, 1),
            "ed25519_verify_per_cpu_s": round(verify_per_cpu_s),
            # An upper bound, not a measurement: all cores shared by an aggregator costing
            # only its crypto floor and the load generator and broker at their cost here.
            "bound_with_crypto_only_aggregator": self.crypto_only_bound(ceiling),
            # The ceiling scaled to the CPU the aggregator really used: what it sealed per
            # CPU second against what pure verification does per CPU second. Unlike the
            # all-cores figure, this one does not move with other users' load.
            "crypto_ceiling_at_aggregator_cpu": round(
                verify_per_cpu_s * agg_cores / per_checkin, 1
            ),
            "ratio_to_ceiling_at_aggregator_cpu": round(
                peak / max(0.01, verify_per_cpu_s * agg_cores / per_checkin), 3
            ),
        }

    def crypto_only_bound(self, ceiling: float) -> dict[str, float]:
        """The most any aggregator could seal on this machine: one that spent nothing but
        its verifications, beside the load generator and broker as measured here."""
        gen_cores = sum(v for k, v in self.cpu_cores.items() if k.startswith("kiosk_fleet"))
        floor_ms = 1000 * self.per_checkin / self.verify_per_cpu_s
        others_ms = 1000 * (gen_cores + self.cpu_cores.get("mosquitto", 0.0)) / max(1.0, self.peak)
        free_bound = 1000 * self.cores / max(1e-6, floor_ms + others_ms)
        return {
            "checkins_per_s": round(free_bound, 1),
            "ratio_to_ceiling": round(free_bound / ceiling, 3),
        }

    def resource_figures(self) -> dict[str, Any]:
        """CPU per sealed check-in, cores used, memory, and the aggregator's own counts."""
        peak, agg_cores, cpu_cores = self.peak, self.aggregator_cores, self.cpu_cores
        gen_cores = sum(v for k, v in cpu_cores.items() if k.startswith("kiosk_fleet"))
        broker = self.broker
        return {
            # CPU seconds each part spent per check-in sealed in the peak window.
            "cpu_ms_per_sealed_checkin": {
                "aggregator": _per(agg_cores, peak),
                "mosquitto": _per(cpu_cores.get("mosquitto", 0.0), peak),
                "load_generator": _per(gen_cores, peak),
                # Verification alone, at the measured verifications per CPU second.
                "crypto_floor": round(1000 * self.per_checkin / self.verify_per_cpu_s, 3),
            },
            # Cores each process kept busy during the peak window: kiosks and broker share
            # the machine with the aggregator, and other users may too (see load).
            "cpu_cores_used_at_peak": cpu_cores,
            "aggregator_cores_used_at_peak": round(agg_cores, 2),
            "memory_mb": {
                **{name: rss for name, rss in self.rss_at_peak.items()},
                "mosquitto": _rss_mb(broker.process.pid) if broker.process else {},
                "kiosk_fleets": self.fleet_rss,
            },
            "aggregator_counts": self.summaries,
            "aggregator_log_tail": self.log_tails,
        }

    def close(self) -> None:
        """Stop whatever still runs; drop the PostgreSQL schema; remove the work folder."""
        for proc in self.procs:
            proc.stop()
        for proc, _conn in self.fleet_procs:
            proc.kill()
        self.broker.stop()
        if self.schema is not None and self.db_url is not None:
            _drop_postgres_schema(self.db_url, self.schema)
        shutil.rmtree(self.workdir, ignore_errors=True)


@click.command("ingest")
@click.option("--seconds", default=30.0, show_default=True, help="Timed peak window.")
@click.option("--kiosks", default=20, show_default=True, help="Simulated kiosks.")
@click.option("--db", "db_url", default=None, help="postgresql://... (default: SQLite file).")
@click.option(
    "--ingest-processes",
    default=None,
    type=int,
    help="Ingest processes on a shared subscription plus one sequencer process; 0 runs "
    "one all-in-one 'aggregator run' process. Default: 2 (cryptography holds the GIL "
    "while it verifies, so only processes use more than one core).",
)
@click.option("--workers", default=2, show_default=True, help="Ingest threads per process.")
@click.option("--fleets", default=2, show_default=True, help="Kiosk-fleet processes.")
@click.option("--max-in-flight", default=100, show_default=True, help="Unreceipted per kiosk.")
@click.option("--latency-seconds", default=10.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON figures.")
def ingest_command(
    seconds: float,
    kiosks: int,
    db_url: str | None,
    ingest_processes: int | None,
    workers: int,
    fleets: int,
    max_in_flight: int,
    latency_seconds: float,
    as_json: bool,
) -> None:
    """End-to-end ingest rate, loss, duplicates, latency and memory, as JSON."""
    for name, value in (("--seconds", seconds), ("--latency-seconds", latency_seconds)):
        if not 1 <= value <= 3600:
            raise click.BadParameter("must be from 1 to 3600", param_hint=name)
    if ingest_processes is None:
        ingest_processes = 2
    if not 0 <= ingest_processes <= 64:
        raise click.BadParameter("must be from 0 to 64", param_hint="--ingest-processes")
    for name, value in (
        ("--kiosks", kiosks),
        ("--workers", workers),
        ("--fleets", fleets),
        ("--max-in-flight", max_in_flight),
    ):
        if not 1 <= value <= 1000:
            raise click.BadParameter("must be from 1 to 1000", param_hint=name)

    def log(text: str) -> None:
        if not as_json:
            click.echo(f"bench ingest: {text}", err=True)

    figures = IngestRun(
        seconds=seconds,
        kiosks=kiosks,
        db_url=db_url,
        ingest_processes=ingest_processes,
        workers=workers,
        fleets=fleets,
        max_in_flight=max_in_flight,
        latency_seconds=latency_seconds,
        log=log,
    ).run()
    click.echo(json.dumps(figures, sort_keys=True, indent=None if as_json else 2))
