"""The ``spawns`` and ``slow`` marks, set on tests automatically, and a guard for them.

``spawns``: the test starts another process (Mosquitto, sshd, gunicorn, PostgreSQL,
``safecode`` itself, Chromium, multiprocessing). Every integration test, every test using a
fixture in :data:`SPAWNING_FIXTURES`, and every module that sets
``pytestmark = pytest.mark.spawns`` gets it. ``slow``: a long soak, run in the full
suite only. ``./dev test --fast`` deselects both.

The guard (a ``sys.addaudithook``) fails any test without ``spawns`` that starts a
process anyway, so the fast lane cannot silently grow slow again.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import pytest

#: Fixtures that start a process (or ask for one that does).
SPAWNING_FIXTURES = frozenset({"broker", "own_broker", "private_postgres", "chromium"})

#: Audit events raised when a process is started.
_SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system"}
    | {"os.exec", "pty.spawn"}
)


#: Short look-ups libraries run on first use (ctypes.util.find_library, platform): whichever
#: test happens to import them first would be blamed, so they do not count.
_LOOKUPS = frozenset({"ldconfig", "uname", "gcc", "cc", "ld", "objdump", "ldd"})


def _program(event: str, args: tuple) -> str:
    """The program an audit event starts, as far as the event tells."""
    if event == "subprocess.Popen" and len(args) > 1:
        executable, argv = args[0], args[1]
        if executable is None and isinstance(argv, (list, tuple)) and argv:
            executable = argv[0]
        return os.path.basename(os.fsdecode(executable or argv))
    return event


class SpawnWatch:
    """Records the processes started while an unmarked test runs."""

    def __init__(self) -> None:
        self.watching = False
        self.seen: list[str] = []

    def audit(self, event: str, args: tuple) -> None:
        if self.watching and event in _SPAWN_EVENTS:
            program = _program(event, args)
            if program not in _LOOKUPS:
                self.seen.append(program)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Session infrastructure (a shared server started on first use) is not the test's."""
        was, self.watching = self.watching, False
        try:
            yield
        finally:
            self.watching = was

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


WATCH = SpawnWatch()
sys.addaudithook(WATCH.audit)


def register(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spawns: starts another process (deselected by --fast)")
    config.addinivalue_line("markers", "slow: a long soak (deselected by --fast)")


def mark_spawning(items: list[pytest.Item]) -> None:
    """Add ``spawns`` to integration tests and to tests using a spawning fixture."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("integration") or uses & SPAWNING_FIXTURES:
            item.add_marker(pytest.mark.spawns)


@contextlib.contextmanager
def watched(item: pytest.Item) -> Iterator[None]:
    """Run one test phase with the guard on unless the test is marked ``spawns``."""
    WATCH.take()
    WATCH.watching = item.get_closest_marker("spawns") is None
    try:
        yield
    finally:
        WATCH.watching = False


def unmarked_spawns(item: pytest.Item) -> str:
    """What an unmarked test started during the phase just run ("" if nothing)."""
    seen = WATCH.take()
    if not seen or item.get_closest_marker("spawns") is not None:
        return ""
    return (
        f"{item.nodeid} started a process ({', '.join(seen[:3])}) but is not marked "
        "spawns: add pytestmark = pytest.mark.spawns to its module, or list its fixture "
        "in tests/markers.py SPAWNING_FIXTURES"
    )
