"""Enrolment's install step: a venv with system site packages, this wheel, its pins."""

from __future__ import annotations

import re

from .enrol_options import EnrolOptions
from .layout import WHEEL_STAMP, DeviceLayout
from .remote import Device
from .software import wheel_stamp


async def install(
    device: Device, options: EnrolOptions, layout: DeviceLayout, made: list[str]
) -> bool:
    """Install the wheel unless its stamp is there; True if so. A new venv is added to ``made``."""
    stamp = wheel_stamp(options.wheel)
    stamp_path = f"{layout.venv}/{WHEEL_STAMP}"
    if (await device.read_file(stamp_path, "install")) == stamp.encode():
        return False
    python = f"{layout.venv}/bin/python"
    has_venv = await device.run(["test", "-x", python], "install", check=False)
    if has_venv.exit_status != 0:
        venv = [options.device_python, "-m", "venv", "--system-site-packages"]
        if options.dev_site_packages:
            venv.append("--without-pip")  # pip comes from the dev site packages
        await device.run([*venv, layout.venv], "install")
        if layout.path("/opt/safecode") not in made:
            made.append(layout.venv)
    wheels = layout.path("/opt/safecode/wheels")
    wheel = f"{wheels}/{options.wheel.name}"
    await device.write_file(wheel, options.wheel.read_bytes(), 0o644, "install")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if options.dev_site_packages:
        purelib = await device.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            "install",
        )
        pth = f"{purelib.stdout.strip()}/safecode-dev.pth"
        await device.write_file(pth, f"{options.dev_site_packages}\n".encode(), 0o644, "install")
    else:
        source = list(pip)
        if options.wheelhouse is not None:
            for item in sorted(options.wheelhouse.glob("*.whl")):
                await device.write_file(
                    f"{wheels}/{item.name}", item.read_bytes(), 0o644, "install"
                )
            source += ["--no-index", "--find-links", wheels]
        if options.constraints is not None:
            constraints = f"{wheels}/constraints.txt"
            pins = device_constraints(
                options.constraints.read_text(encoding="utf-8"),
                await system_numpy(device, options.device_python),
            )
            await device.write_file(constraints, pins.encode(), 0o644, "install")
            source += ["-c", constraints]
        await device.run(source + [wheel], "install", timeout=1800)
    await device.run(pip + ["--no-deps", "--force-reinstall", "--no-index", wheel], "install")
    await device.run([layout.safecode, "--version"], "install")
    await device.write_file(stamp_path, stamp.encode(), 0o644, "install")
    return True


async def system_numpy(device: Device, python: str) -> str | None:
    """The numpy of the device's system Python (picamera2 is built against it), if any."""
    done = await device.run(
        [python, "-c", "import numpy; print(numpy.__version__)"], "install", check=False
    )
    version = done.stdout.strip()
    return version if done.exit_status == 0 and re.fullmatch(r"[0-9][0-9.]*", version) else None


def device_constraints(constraints: str, system_numpy: str | None) -> str:
    """The pins for the device: with apt's picamera2, keep the system numpy it was built for.

    As ./dev does on a Pi: numpy pinned to the system's version, and no pinned OpenCV
    wheel (it wants numpy 2; apt's python3-opencv serves USB cameras there).
    """
    if system_numpy is None:
        return constraints
    kept = [
        line
        for line in constraints.splitlines()
        if not line.lower().startswith(("numpy==", "opencv-python-headless=="))
    ]
    return "\n".join([*kept, f"numpy=={system_numpy}"]) + "\n"
