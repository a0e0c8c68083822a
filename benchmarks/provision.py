"""Time to enrol one kiosk, and N with ``provision batch``, over SSH on loopback (JSON).

Run: ``.venv/bin/python -m benchmarks.provision [--devices 20] [--jobs 4]``.
Uses the integration tests' rig: a real Mosquitto (per-kiosk accounts), a real
aggregator, Debian's sshd on a loopback port, this checkout's wheel; each device is
a root prefix reached through that sshd, installed offline (``--dev-site-packages``)
and started by the stand-in systemctl. Also prints each unit's
``systemd-analyze security`` exposure. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.integration.provision_rig import ProvisionRig, wheel_for_tests

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def _without(args: list[str], *options: str) -> list[str]:
    out = list(args)
    for option in options:
        at = out.index(option)
        del out[at : at + 2]
    return out


def exposures() -> dict[str, float | str]:
    """``systemd-analyze security --offline=yes`` overall exposure of each unit file."""
    out: dict[str, float | str] = {}
    for unit in sorted(UNITS.glob("*.service")):
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(unit)],
            capture_output=True,
            text=True,
            check=False,
        )
        found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", done.stdout)
        out[unit.name] = f"{found[1]} {found[2]}" if found else done.stderr.strip()[:120]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20, help="devices in the batch")
    parser.add_argument("--jobs", type=int, default=4, help="batch --jobs")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="safecode-bench-provision-") as folder:
        root = Path(folder)
        rig = ProvisionRig(root, wheel_for_tests(root / "wheel"))
        try:
            first = rig.device("single")
            single_s, rerun_s, rerun_ok = time_enrol(rig, first)
            batch_s, devices = time_batch(rig, first, options.devices, options.jobs)
        finally:
            rig.close()
    figures = {
        "enrol_one_s": round(single_s, 1),
        "enrol_again_unchanged_s": round(rerun_s, 1),
        "rerun_ok": rerun_ok,
        **batch_figures(batch_s, devices, options.devices, options.jobs),
        "systemd_exposure": exposures(),
        "machine": f"{platform.machine()} Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        "note": "loopback, offline install (--dev-site-packages), stand-in systemctl",
    }
    print(json.dumps(figures, sort_keys=True))


def time_enrol(rig: ProvisionRig, device: Path) -> tuple[float, float, bool]:
    """Seconds to enrol one device, then to enrol it again (nothing to change); rerun ok."""
    start = time.perf_counter()
    one = rig.safecode(
        "provision", "enrol", "127.0.0.1", "--venue", "bench-1", "--json",
        "--accept-host-key", rig.sshd.fingerprint, *rig.enrol_args(device),
    )  # fmt: skip
    single_s = time.perf_counter() - start
    if one.returncode != 0:
        raise SystemExit(f"enrol failed: {one.stdout[-2000:]}{one.stderr[-2000:]}")
    start = time.perf_counter()
    again = rig.safecode(
        "provision", "enrol", "127.0.0.1", "--venue", "bench-1", "--json",
        *rig.enrol_args(device),
    )  # fmt: skip
    return single_s, time.perf_counter() - start, again.returncode == 0


def time_batch(
    rig: ProvisionRig, first: Path, count: int, jobs: int
) -> tuple[float, list[dict[str, Any]]]:
    """Seconds for 'provision batch' over ``count`` new devices; its per-device report."""
    inventory = rig.root / "inventory.csv"
    lines = ["host,port,venue,prefix"]
    for n in range(count):
        prefix = rig.device(f"door-{n}")
        lines.append(f"127.0.0.1,{rig.sshd.port},bench-{n % 5},{prefix}")
    inventory.write_text("\n".join(lines) + "\n")
    args = _without(rig.enrol_args(first), "--prefix", "--systemctl", "--port")
    systemctl = rig.systemctl(Path("/ROOT")).replace("/ROOT", "{prefix}")
    start = time.perf_counter()
    batch = rig.safecode(
        "provision", "batch", str(inventory), "--json", "--jobs", str(jobs),
        "--systemctl", systemctl, *args, timeout=3600,
    )  # fmt: skip
    batch_s = time.perf_counter() - start
    report = json.loads(batch.stdout) if batch.stdout.strip().startswith("{") else {}
    return batch_s, report.get("devices", [])


def batch_figures(
    batch_s: float, devices: list[dict[str, Any]], count: int, jobs: int
) -> dict[str, Any]:
    """The batch's figures: enrolled, failures, wall and per-device seconds."""
    return {
        "batch_devices": count,
        "batch_jobs": jobs,
        "batch_enrolled": sum(1 for d in devices if d.get("ok")),
        "batch_failures": [
            f"line {d.get('line')}: {d.get('failed_step')}: {str(d.get('error'))[:100]}"
            for d in devices
            if not d.get("ok")
        ],
        "batch_wall_s": round(batch_s, 1),
        "batch_s_per_device": round(batch_s / max(1, count), 2),
        "batch_device_s_median": round(statistics.median(d.get("seconds", 0) for d in devices), 1)
        if devices
        else None,
    }


if __name__ == "__main__":
    main()
