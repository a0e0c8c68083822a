"""Files and folders only their owner can read: ledger databases, outboxes, broker state.

Folders this project makes are 0700 and its files 0600, whatever the umask. SQLite
makes a database's ``-wal``, ``-shm`` and ``-journal`` files with the main file's
mode, so :func:`prepare_private_sqlite` creates the main file 0600 before SQLite
opens it. Folders that already exist are left alone (``sqlite:////tmp/x.sqlite``
must never close /tmp); files of ours that are open to others are tightened.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: The files SQLite keeps beside a database.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str) -> Path:
    """Make ``path`` and any missing parent folders, each new one 0700; returns the path."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # the umask may have taken bits; none are added
    return path


def tighten(path: Path) -> None:
    """Make an existing file of ours 0600 if others can read it (a file of another user stays)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, PRIVATE_FILE_MODE)


def create_private_file(path: Path | str) -> Path:
    """Create ``path`` empty and 0600 if it is missing (in private new folders); tighten it."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    tighten(path)
    return path


def _create_new_private_file(path: Path) -> None:
    """Create ``path`` 0600 only if nobody has (O_EXCL): no existing file is ever opened."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(path)
        return
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)


def write_private_text(path: Path | str, text: str) -> None:
    """Write (or overwrite) a text file only its owner can read."""
    path = create_private_file(path)
    path.write_text(text, encoding="utf-8")


def prepare_private_sqlite(path: Path | str) -> None:
    """Before SQLite opens ``path``: the database 0600 (its side files follow), folders 0700.

    An existing database is never opened here, only its mode tightened: closing any
    descriptor of a file drops every POSIX lock this process holds on it, so an
    open-and-close beside a live SQLite connection of the same process would silently
    unlock that connection and let another process corrupt the database.
    """
    path = Path(path)
    if path.exists():
        tighten(path)
    else:
        _create_new_private_file(path)  # an empty file is an empty SQLite database
    for suffix in SQLITE_SIDE_FILES:
        tighten(path.with_name(path.name + suffix))
