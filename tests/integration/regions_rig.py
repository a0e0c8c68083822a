"""A site past one broker: a central Mosquitto, regional ones bridged to it, real processes.

The central broker runs the dynamic-security plugin with the aggregator's account (as
``safecode aggregator broker-init`` lays out). Each regional broker is laid out by
``safecode aggregator broker-region`` (run as a subprocess, as an operator would),
which also makes its bridge's account on the central broker, and is started from the
files that command wrote (its dynamic-security file and ``conf.d/bridge.conf``).
Kiosks are homed by ``init_site(regions=...)``; the last "region" may be the central
broker itself, so direct and bridged kiosks run side by side.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from aggregator.broker_acls import dynsec_document, new_password
from provisioning.regions import RegionBroker
from provisioning.site import BrokerLogins
from simulator.broker import LocalBroker, free_port
from simulator.site import init_simulated_site
from support.config_file import read_toml
from support.private_files import private_dir, write_private_text
from tests.integration.harness import SiteRig

CENTRAL = "central"


class RegionRig(SiteRig):
    """Central broker, regional brokers, a site homed on them; ``close`` ends them all."""

    def __init__(
        self,
        root: Path,
        regions: tuple[str, ...],
        *,
        direct_kiosks: int = 1,
        visitors_per_kiosk: int = 300,
        fps: float = 15.0,
        resend_after_s: float = 2.0,
    ) -> None:
        self.root = Path(root)
        self.log_path = self.root / "processes.log"
        self.root.mkdir(parents=True, exist_ok=True)
        self.children = []
        self.admin_password, aggregator_password = new_password(), new_password()
        central_dir = private_dir(self.root / "central")
        write_private_text(central_dir / "admin.password", self.admin_password + "\n")
        dynsec = central_dir / "dynamic-security.json"
        write_private_text(
            dynsec, json.dumps(dynsec_document(self.admin_password, aggregator_password))
        )
        self.broker = LocalBroker(workdir=central_dir / "run", dynsec_file=dynsec).start()
        self.regional: dict[str, LocalBroker] = {}
        homes = [self._region(name) for name in regions]
        homes += [
            RegionBroker(CENTRAL, self.broker.host, self.broker.port, self.admin_password)
        ] * direct_kiosks
        self.homes = tuple(home.name for home in homes)
        self.site = init_simulated_site(
            self.root / "site",
            kiosks=len(homes),
            visitors=visitors_per_kiosk * len(homes),
            mqtt_port=self.broker.port,
            broker_logins=BrokerLogins(self.admin_password, aggregator_password),
            regions=homes,
        )
        for config in self.site.kiosk_configs:
            data = read_toml(config)
            data["kiosk"]["resend_after_s"] = resend_after_s
            data["camera"]["fps"] = fps
            config.write_text(tomli_w.dumps(data))

    def _region(self, name: str) -> RegionBroker:
        """Lay out a regional broker with the broker-region command and start it."""
        folder = self.root / f"region-{name}"
        port = free_port()
        command = [sys.executable, "-m", "safecode", "aggregator", "broker-region"]
        command += ["--region", name, "--dir", str(folder), "--port", str(port)]
        command += ["--bind", "127.0.0.1", "--central-host", self.broker.host]
        command += ["--central-port", str(self.broker.port)]
        command += ["--central-admin-password-file", str(self.root / "central/admin.password")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        broker = LocalBroker(
            port,
            workdir=folder / "run",
            dynsec_file=folder / "dynamic-security.json",
            extra_lines=(f"include_dir {(folder / 'conf.d').resolve()}",),
        ).start()
        self.regional[name] = broker
        admin = (folder / "broker-admin.password").read_text(encoding="utf-8").strip()
        return RegionBroker(name, broker.host, broker.port, admin)

    def numbers_in(self, region: str) -> list[int]:
        """Kiosk numbers (1-based) homed on ``region``."""
        return [n for n, home in enumerate(self.homes, start=1) if home == region]

    def kill_region(self, region: str) -> None:
        """SIGKILL a regional broker: no goodbye, nothing saved since its last autosave."""
        process = self.regional[region].process
        assert process is not None
        process.kill()
        process.wait()
        self.regional[region].process = None

    def close(self) -> None:
        super().close()
        for broker in self.regional.values():
            broker.stop()

    def outbox_times(self, number: int) -> dict[int, tuple[int, int | None, int]]:
        """seq -> (created_ms, delivered_ms, attempts) from a copy of a kiosk's outbox."""
        source = self.outbox_path(number)
        copy = self.root / "snapshots" / f"{time.monotonic_ns()}" / source.name
        copy.parent.mkdir(parents=True)
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
        db = sqlite3.connect(copy)
        try:
            rows = db.execute("SELECT seq, created_ms, delivered_ms, attempts FROM outbox")
            return {
                seq: (created, delivered, attempts) for seq, created, delivered, attempts in rows
            }
        finally:
            db.close()


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50/p95/p99 (nearest rank) and the count of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def rank(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return {"n": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}
