"""A stand-in for systemctl on a simulated device (a root prefix without systemd).

``python fake_systemctl.py --root PREFIX ACTION [--now] UNIT``: daemon-reload, enable,
disable, is-enabled, is-active, start, stop, restart. ``start`` runs the installed
unit's ExecStart line (provisioning rewrote its paths to the prefix) with --mock-pins
(no GPIO here), detached, its output in PREFIX/var/log/UNIT.log. Every call is
appended to PREFIX/var/log/systemctl.calls, so tests can see what provisioning asked.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path


def _pid(root: Path, unit: str) -> int | None:
    path = root / "run" / f"{unit}.pid"
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # a zombie is not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else pid


def _start(root: Path, unit: str) -> int:
    if _pid(root, unit):
        return 0
    text = (root / "etc/systemd/system" / unit).read_text()
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.split("=", 1)[1]) + ["--mock-pins"]
    (root / "var/log").mkdir(parents=True, exist_ok=True)
    (root / "run").mkdir(parents=True, exist_ok=True)
    log = (root / "var/log" / f"{unit}.log").open("ab")
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    (root / "run" / f"{unit}.pid").write_text(str(child.pid))
    return 0


def _stop(root: Path, unit: str) -> int:
    pid = _pid(root, unit)
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _pid(root, unit) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid(root, unit):
        os.kill(pid, signal.SIGKILL)
    (root / "run" / f"{unit}.pid").unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1])
    args = [a for a in argv[argv.index("--root") + 2 :]]
    (root / "var/log").mkdir(parents=True, exist_ok=True)
    with (root / "var/log/systemctl.calls").open("a") as calls:
        calls.write(" ".join(args) + "\n")
    action, now = args[0], "--now" in args
    units = [a for a in args[1:] if not a.startswith("--")]
    wants = root / "etc/systemd/system/multi-user.target.wants"
    code = 0
    for unit in units or [""]:
        if action == "daemon-reload":
            pass
        elif action == "enable":
            wants.mkdir(parents=True, exist_ok=True)
            (wants / unit).write_text("")
            if now:
                code |= _start(root, unit)
        elif action == "disable":
            (wants / unit).unlink(missing_ok=True)
            if now:
                code |= _stop(root, unit)
        elif action == "is-enabled":
            code |= 0 if (wants / unit).exists() else 1
        elif action == "is-active":
            code |= 0 if _pid(root, unit) else 3
        elif action == "start":
            code |= _start(root, unit)
        elif action == "stop":
            code |= _stop(root, unit)
        elif action == "restart":
            code |= _stop(root, unit) or _start(root, unit)
        else:
            print(f"fake systemctl: unknown action {action}", file=sys.stderr)
            return 2
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
