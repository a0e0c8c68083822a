"""A whole site as real processes, for reliability tests.

A private Mosquitto (:class:`simulator.broker.LocalBroker`), a site laid out by
:func:`provisioning.site.init_site` (what ``safecode provision init-site`` and the demo
use), ``safecode aggregator run`` and ``safecode kiosk run`` as child processes started
the demo's way (``simulator.process.RelayedProcess``), their output lines kept with the time they
came. The outbox and the ledger are read with nothing but sqlite3 and the aggregator's
models, from copies or after their writers have gone.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from aggregator.db import CheckinEntry, open_database
from provisioning.site import Site
from simulator.broker import LocalBroker
from simulator.process import RelayedProcess
from simulator.site import init_simulated_site
from support.config_file import read_toml

ACCEPTED = re.compile(r"^\[[ \d.]+s\] (?P<kiosk>[\w-]+): accepted seq=(?P<seq>\d+) ")


@dataclass(frozen=True)
class Line:
    """One line a child printed and the monotonic time it arrived."""

    at: float
    text: str


class Child:
    """A ``safecode`` subprocess whose output lines are kept (and mirrored to a log file)."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.lines: list[Line] = []
        self._changed = threading.Condition()
        self._log = log_path.open("a", encoding="utf-8")
        self._log.write(f"=== start {name}: safecode {' '.join(args)}\n")
        self._process = RelayedProcess(name, args, time.monotonic(), self._keep)

    def _keep(self, text: str) -> None:
        with self._changed:
            self.lines.append(Line(time.monotonic(), text))
            self._changed.notify_all()
        self._log.write(text + "\n")
        self._log.flush()

    @property
    def pid(self) -> int:
        return self._process.popen.pid

    @property
    def summary(self) -> dict[str, Any] | None:
        """The JSON counters printed on a clean exit (``--summary-json``)."""
        return self._process.summary

    def alive(self) -> bool:
        return self._process.popen.poll() is None

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """The first line from index ``start`` matching ``pattern``; AssertionError on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    found = regex.search(line.text)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(line.text for line in self.lines[-30:])
                    raise AssertionError(f"{self.name}: no line like {pattern!r}; last:\n{tail}")
                if not self.alive():  # its last lines may still be on their way
                    deadline = min(deadline, time.monotonic() + 1.0)
                self._changed.wait(min(left, 0.5))

    def kill9(self) -> None:
        """SIGKILL, no warning, and reap it."""
        self._process.popen.kill()
        self._process.popen.wait()
        self._process.stop(timeout=1)  # joins the output relay
        self._log.write(f"=== {self.name} killed with SIGKILL\n")
        self._log.flush()

    def stop(self, timeout: float) -> int:
        """SIGTERM (SIGKILL after ``timeout``); the exit code."""
        code = self._process.stop(timeout=timeout)
        self._log.write(f"=== {self.name} exited with {code}\n")
        self._log.flush()
        return code

    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def accepted(self, since: float = 0.0, until: float = float("inf")) -> list[tuple[str, int]]:
        """(kiosk id, seq) of every "accepted seq=N" line that came in [since, until)."""
        found = []
        for line in self.lines:
            match = ACCEPTED.match(line.text)
            if match and since <= line.at < until:
                found.append((match["kiosk"], int(match["seq"])))
        return found


class SiteRig:
    """Broker, site, aggregator and kiosk processes under one folder; ``close`` ends them all."""

    def __init__(
        self,
        root: Path,
        *,
        kiosks: int = 1,
        visitors_per_kiosk: int = 300,
        fps: float = 20.0,
        resend_after_s: float = 2.0,
    ) -> None:
        self.root = Path(root)
        self.log_path = self.root / "processes.log"
        self.root.mkdir(parents=True, exist_ok=True)
        self.broker = LocalBroker(workdir=self.root / "broker").start()
        self.children: list[Child] = []
        self.site: Site = init_simulated_site(
            self.root / "site",
            kiosks=kiosks,
            visitors=visitors_per_kiosk * kiosks,
            mqtt_port=self.broker.port,
        )
        for config in self.site.kiosk_configs:
            data = read_toml(config)
            data["kiosk"]["resend_after_s"] = resend_after_s
            data["camera"]["fps"] = fps
            config.write_text(tomli_w.dumps(data))

    # -- processes ------------------------------------------------------------------------

    def _start(self, name: str, args: list[str], ready: str, timeout: float = 30) -> Child:
        child = Child(name, args, self.log_path)
        self.children.append(child)
        child.wait_for(ready, timeout)
        return child

    def start_aggregator(self) -> Child:
        config = str(self.site.aggregator_config)
        args = ["aggregator", "run", "--config", config, "--summary-json"]
        return self._start("aggregator", args, r"listening on")

    def kiosk_id(self, number: int) -> str:
        return self.kiosk_config(number).parent.name

    def kiosk_config(self, number: int) -> Path:
        return self.site.kiosk_configs[number - 1]

    def start_kiosk(self, number: int = 1, *, drain_seconds: float = 5.0) -> Child:
        args = ["kiosk", "run", "--config", str(self.kiosk_config(number)), "--mock-pins"]
        args += ["--summary-json", "--drain-seconds", str(drain_seconds)]
        return self._start(self.kiosk_id(number), args, r": scanning")

    def close(self) -> None:
        for child in reversed(self.children):
            if child.alive():
                child.stop(timeout=10)
        self.broker.stop()

    # -- what is stored -------------------------------------------------------------------

    def outbox_path(self, number: int = 1) -> Path:
        return self.kiosk_config(number).parent / "state" / "outbox.sqlite"

    def outbox_rows(self, number: int = 1) -> dict[int, dict[str, Any]]:
        """seq -> row of a kiosk's outbox, read from a copy (the kiosk's files stay as they are)."""
        source = self.outbox_path(number)
        copy = self.root / "snapshots" / f"{time.monotonic_ns()}" / source.name
        copy.parent.mkdir(parents=True)
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
        return read_outbox(copy)

    def ledger(self) -> dict[str, list[dict[str, Any]]]:
        """kiosk id -> its check-ins in the ledger database, in the order they were stored."""
        db = open_database(self.site.database_url, create=False)
        try:
            found: dict[str, list[dict[str, Any]]] = {}
            for entry in CheckinEntry.select().order_by(CheckinEntry.id):
                found.setdefault(entry.kiosk_id, []).append(
                    {"seq": entry.seq, "leaf_index": entry.leaf_index, "id": entry.id}
                )
            return found
        finally:
            db.close()

    def verify_ledger(self) -> subprocess.CompletedProcess[str]:
        """``safecode ledger verify`` on the ledger database."""
        return subprocess.run(
            [sys.executable, "-m", "safecode", "ledger", "verify"]
            + ["--db", self.site.database_url, "--vkey", self.site.ledger_vkey],
            capture_output=True,
            text=True,
            timeout=120,
        )


def read_outbox(path: Path) -> dict[int, dict[str, Any]]:
    """seq -> {delivered, rejected} of an outbox file (opened for writing: pass a copy)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT seq, delivered_ms, rejected_ms FROM outbox").fetchall()
    finally:
        db.close()
    return {
        seq: {"delivered": delivered is not None, "rejected": rejected is not None}
        for seq, delivered, rejected in rows
    }
