"""Child processes of the demo (and test harnesses): ``safecode`` commands with relayed output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import IO, Any


class RelayedProcess:
    """A ``python -m safecode ...`` child whose output lines are relayed as they come.

    A line that is JSON is kept as the process's ``summary``; "listening on" or
    ": scanning" sets ``ready``; every other line goes to ``echo`` with the seconds
    since ``clock``.
    """

    def __init__(self, name: str, args: list[str], clock: float, echo: Any) -> None:
        self.name = name
        self.summary: dict[str, Any] | None = None
        self.ready = threading.Event()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "safecode", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops children in order
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._thread = threading.Thread(
            target=self._relay, args=(self.popen.stdout, clock, echo), daemon=True
        )
        self._thread.start()

    def _relay(self, stream: IO[str], clock: float, echo: Any) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("{"):
                try:
                    self.summary = json.loads(line)
                    continue
                except json.JSONDecodeError:
                    pass
            if "listening on" in line or ": scanning" in line:
                self.ready.set()
            echo(f"[{time.monotonic() - clock:6.1f}s] {line}")

    def stop(self, timeout: float) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._thread.join(timeout=2)
        return self.popen.returncode
