"""Enrolment's first device step: Python, free disk and systemctl, before anything changes."""

from __future__ import annotations

from .enrol_options import EnrolOptions
from .errors import StepFailed
from .layout import DeviceLayout, systemctl_argv
from .remote import Device

MIN_PYTHON = (3, 11)
PREFLIGHT = (
    'set -e; p=$1; while [ ! -d "$p" ]; do p=$(dirname "$p"); done; '
    'echo "$p"; df -Pk "$p" | awk \'NR==2 {print $4}\'; '
    '"$2" -c \'import sys; print("%d.%d" % sys.version_info[:2])\'; '
    'command -v "$3" >/dev/null && echo systemctl-ok || echo systemctl-missing'
)


async def preflight(device: Device, options: EnrolOptions, layout: DeviceLayout) -> None:
    """StepFailed (nothing changed) unless the device can take the kiosk software."""
    argv = systemctl_argv(options.systemctl, layout.prefix)
    systemctl = argv[0] if argv else ""
    done = await device.run(
        ["sh", "-c", PREFLIGHT, "sh", layout.prefix, options.device_python, systemctl],
        "preflight",
    )
    lines = done.stdout.split()
    if len(lines) != 4:
        raise StepFailed("preflight", f"unexpected answer from the device: {done.stdout!r}")
    folder, free_kb, version, has_systemctl = lines
    free_mb = int(free_kb) // 1024 if free_kb.isdigit() else 0
    if free_mb < options.min_free_mb:
        raise StepFailed(
            "disk",
            f"only {free_mb} MB free at {folder} on the device, {options.min_free_mb} MB "
            "needed (--min-free-mb): free some space first; nothing was changed",
        )
    major, _, minor = version.partition(".")
    if (int(major), int(minor)) < MIN_PYTHON:
        raise StepFailed(
            "preflight",
            f"{options.device_python} on the device is Python {version}; 3.11 or newer "
            "is needed (Raspberry Pi OS 12 'bookworm' has it)",
        )
    if has_systemctl != "systemctl-ok":
        raise StepFailed("preflight", f"no {systemctl!r} on the device (--systemctl)")
