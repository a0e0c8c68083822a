"""The firmware and the aggregator still work under their units' system call filters.

Starting the units needs systemd as PID 1, which a test machine rarely has. What can be
reproduced without it is the seccomp part of the hardening: each process runs under a
filter built from its unit's ``SystemCallFilter=`` lines (expanded by systemd-analyze),
``SystemCallErrorNumber=EPERM``, ``MemoryDenyWriteExecute=``, ``RestrictAddressFamilies=``
and ``NoNewPrivileges=`` (tests/unit/seccomp_exec.py). The kiosk's selftest must pass and
a kiosk must get check-ins sealed by an aggregator, both filtered, through a real Mosquitto.
That covers, among others, the kiosk's clock reading (adjtimex, which glibc makes
clock_adjtime). Users, mounts, devices and namespaces are not reproduced here.
"""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from simulator.broker import LocalBroker, free_port
from simulator.site import init_simulated_site
from tests.unit.test_systemd_units import (
    AGGREGATOR_UNITS,
    ANALYZE,
    KIOSK,
    allowed_syscalls,
    one,
)
from tests.waiting import wait_until

SYSTEM_PYTHON = Path("/usr/bin/python3")
WRAPPER = Path(__file__).with_name("seccomp_exec.py")
SAFECODE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "safecode"


def _seccomp_available() -> str | None:
    """Why the filter cannot be applied here, or None."""
    if ANALYZE is None:
        return "systemd-analyze is not installed (apt-get install systemd)"
    if not SYSTEM_PYTHON.exists():
        return "no /usr/bin/python3"
    check = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True, check=False
    )
    if check.returncode:
        return "python3-seccomp is not installed (apt-get install python3-seccomp)"
    if not SAFECODE.exists():
        return f"{SAFECODE} is missing (run ./dev)"
    return None


pytestmark = [
    pytest.mark.skipif(_seccomp_available() is not None, reason=str(_seccomp_available())),
    pytest.mark.spawns,
]


def filtered(unit: Path, tmp_path: Path, *argv: str) -> tuple[list[str], dict[str, str]]:
    """The command line running ``safecode argv`` under ``unit``'s filter, and its env."""
    allow = tmp_path / f"{unit.stem}.allow"
    allow.write_text("\n".join(sorted(allowed_syscalls(unit))))
    families = one(unit, "RestrictAddressFamilies")
    return [str(SYSTEM_PYTHON), str(WRAPPER), str(allow), str(SAFECODE), *argv], {
        "SECCOMP_FAMILIES": families,
        "PATH": "/usr/bin:/bin",
    }


def test_kiosk_selftest_passes_under_the_filter(tmp_path: Path) -> None:
    with LocalBroker(workdir=tmp_path / "broker") as broker:
        site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=3, mqtt_port=broker.port)
        argv, env = filtered(
            KIOSK,
            tmp_path,
            "kiosk",
            "selftest",
            "--mock-pins",
            "--config",
            str(site.kiosk_configs[0]),
        )
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


CLOCK_PROBE = "from kiosk.clock import kernel_clock_synced as k; print(k())"
CLOCK_CALLS = {"adjtimex", "clock_adjtime", "clock_adjtime64"}


def probe_clock(allowed: set[str], tmp_path: Path) -> str:
    """What kiosk.clock's kernel question answers under a filter allowing ``allowed``."""
    allow = tmp_path / "probe.allow"
    allow.write_text("\n".join(sorted(allowed)))
    python = SAFECODE.with_name("python")
    run = subprocess.run(
        [str(SYSTEM_PYTHON), str(WRAPPER), str(allow), str(python), "-c", CLOCK_PROBE],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_kiosk_filter_lets_the_clock_state_through(tmp_path: Path) -> None:
    """Under the kiosk's filter the kernel answers; without the clock calls it cannot."""
    allowed = allowed_syscalls(KIOSK)
    assert probe_clock(allowed, tmp_path) in ("True", "False")
    assert probe_clock(allowed - CLOCK_CALLS, tmp_path) == "None"


def kiosk_sealed(log: Path) -> bool:
    """The kiosk has had a receipt for a check-in sealed in a block."""
    text = log.read_text()
    return "receipt:" in text and "sealed in block" in text


def served_checkpoint(port: int) -> str:
    """The web's checkpoint once it holds at least one check-in ("" before)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/checkpoint", timeout=10) as r:
            body = r.read().decode()
    except OSError:
        return ""
    lines = body.splitlines()
    return body if len(lines) > 1 and lines[1].isdigit() and int(lines[1]) > 0 else ""


def test_filtered_kiosk_and_aggregator_seal_check_ins_and_serve_them(tmp_path: Path) -> None:
    with LocalBroker(workdir=tmp_path / "broker") as broker:
        site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=5, mqtt_port=broker.port)
        agg_argv, agg_env = filtered(
            AGGREGATOR_UNITS[0],
            tmp_path,
            "aggregator",
            "run",
            "--config",
            str(site.aggregator_config),
        )
        kiosk_argv, kiosk_env = filtered(
            KIOSK, tmp_path, "kiosk", "run", "--mock-pins", "--config", str(site.kiosk_configs[0])
        )
        aggregator = subprocess.Popen(
            agg_argv, env=agg_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        kiosk_log = tmp_path / "kiosk.log"
        with kiosk_log.open("w") as kiosk_file:
            kiosk = subprocess.Popen(
                kiosk_argv, env=kiosk_env, stdout=kiosk_file, stderr=subprocess.STDOUT, text=True
            )
        port = free_port()
        web_argv, web_env = filtered(
            next(u for u in AGGREGATOR_UNITS if u.stem.endswith("-web")),
            tmp_path,
            "aggregator",
            "web",
            "--config",
            str(site.aggregator_config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        )
        web = subprocess.Popen(
            web_argv, env=web_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            checkpoint = wait_until(
                lambda: kiosk_sealed(kiosk_log) and served_checkpoint(port),
                timeout=60,
                interval=0.2,
                message="a sealed check-in, its receipt and the web's checkpoint",
            )
        finally:
            web.send_signal(signal.SIGTERM)
            web_out, _ = web.communicate(timeout=30)
            for process in (kiosk, aggregator):
                process.send_signal(signal.SIGTERM)
            kiosk.wait(timeout=30)
            kiosk_out = kiosk_log.read_text()
            aggregator_out, _ = aggregator.communicate(timeout=30)
    assert kiosk.returncode == 0, kiosk_out
    assert aggregator.returncode == 0, aggregator_out
    assert web.returncode == 0, web_out
    assert checkpoint.startswith(site.ledger_vkey.split("+")[0]), checkpoint
    assert "accepted seq=" in kiosk_out, kiosk_out
    assert "receipt:" in kiosk_out and "sealed in block" in kiosk_out, kiosk_out
