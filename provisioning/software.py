"""The kiosk software shipped to a device: a wheel of this package, its pins, its units.

The wheel is built from this checkout (``pip wheel --no-deps``) unless one is given.
Its stamp (SHA-256 of the wheel's RECORD, which lists every file's hash) tells whether
the device already runs exactly this code, so a re-run installs nothing.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from .errors import StepFailed

CHECKOUT = Path(__file__).resolve().parents[1]


def default_units() -> list[Path]:
    """The kiosk unit from this checkout's systemd/ folder."""
    return [CHECKOUT / "systemd" / "safecode-kiosk.service"]


def default_dropins() -> list[Path]:
    """Kiosk drop-ins from systemd/: the bounded wait for a synchronised clock."""
    path = CHECKOUT / "systemd" / "systemd-time-wait-sync.service.d" / "safecode.conf"
    return [path] if path.exists() else []


def default_pins() -> Path:
    """This checkout's pin map (hardware/pins.toml), installed beside the kiosk config."""
    return CHECKOUT / "hardware" / "pins.toml"


def default_constraints() -> Path | None:
    """This checkout's constraints.txt, pinning what pip installs on the device."""
    path = CHECKOUT / "constraints.txt"
    return path if path.exists() else None


def build_wheel(outdir: Path, source: Path = CHECKOUT) -> Path:
    """Build this package's wheel into ``outdir`` (no dependencies) and return its path."""
    if not (source / "pyproject.toml").exists():
        raise StepFailed("build", f"{source} is not a safecode checkout: pass --wheel FILE")
    outdir.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(outdir)]
    # The local setuptools first (no network); an isolated build if it is too old.
    for extra in (["--no-build-isolation"], []):
        done = subprocess.run(
            base + extra + [str(source)], capture_output=True, text=True, timeout=600
        )
        if done.returncode == 0:
            break
    else:
        raise StepFailed("build", f"pip wheel failed: {done.stderr.strip()[-400:]}")
    wheels = sorted(outdir.glob("safecode-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise StepFailed("build", f"pip wheel made no safecode wheel in {outdir}")
    return wheels[-1]


def wheel_stamp(wheel: Path) -> str:
    """SHA-256 of the wheel's RECORD: the same code gives the same stamp."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
            return hashlib.sha256(archive.read(record)).hexdigest()
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise StepFailed("install", f"{wheel} is not a wheel with a RECORD: {exc}") from exc
