"""Small helpers shared by the ``safecode bench`` commands: machine info, percentiles, pinning."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LIBRARIES = (
    "cryptography",
    "gpiozero",
    "numpy",
    "paho-mqtt",
    "peewee",
    "pyzbar",
    "segno",
    "zxing-cpp",
)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine_info(libraries: Sequence[str] = LIBRARIES) -> dict[str, Any]:
    """Where the figures were measured: platform, CPUs, Python and library versions."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version(name) for name in libraries},
    }


def filesystem_of(path: Path) -> str | None:
    """The file system type holding ``path`` (fsync on tmpfs proves nothing)."""
    path = Path(path).resolve()
    best, kind = "", None
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1]
        if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) and len(
            mount
        ) > len(best):
            best, kind = mount, parts[2]
    return kind


def spread_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean and max of durations given in seconds, in milliseconds."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    if values.size == 0:
        raise ValueError("no samples")
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(values.mean()), 3),
        "max": round(float(values.max()), 3),
    }


@contextlib.contextmanager
def one_core() -> Iterator[int]:
    """Pin this process to one CPU (the last usable one) while the block runs; yields it."""
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def read_vm_hwm_kb(pid: int | str = "self") -> int | None:
    """Peak resident set size (VmHWM, kB) of a live process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
