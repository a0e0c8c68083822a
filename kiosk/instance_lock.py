"""One firmware process per kiosk: an exclusive lock on a file in its state folder.

``safecode kiosk run`` holds it for as long as it scans, so a second one (a stray
manual start beside the service) is refused instead of sharing the outbox, the
camera and the kiosk's broker session. ``kiosk selftest`` asks whether it is held
to know whether it may log in to the broker as the kiosk itself.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from support.private_files import private_dir

LOCK_NAME = "kiosk.lock"


class AlreadyRunning(RuntimeError):
    """Another process holds the kiosk's lock."""


class InstanceLock:
    """Hold ``state_dir/kiosk.lock`` exclusively (flock: released when the process dies)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        """Take the lock or raise AlreadyRunning (naming the holder's pid if known)."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another safecode kiosk process (pid {holder}) is running on {self.path.parent}"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def is_running(state_dir: Path) -> bool:
    """True if a firmware process holds the kiosk's lock now."""
    path = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except PermissionError:
        return True  # another user's kiosk: assume it runs rather than take its session
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
