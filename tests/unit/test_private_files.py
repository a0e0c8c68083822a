"""Every file a laid-out site writes is private (0600 in 0700 folders), but the public ones.

The ledger database with its -wal and -shm and each kiosk's outbox (pending rows hold
visitor codes) are as private as the keys, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.db import open_database
from kiosk.config import load_config
from kiosk.instance_lock import InstanceLock
from kiosk.outbox import Outbox
from simulator.demo_witness import add_witness
from simulator.site import init_simulated_site

#: The only files of a laid-out site that others may read: public keys, nothing else.
#: (On a device, provisioning also writes pins.toml and the systemd units world-readable;
#: the broker folder of ``aggregator broker-init`` belongs to the broker's user.)
PUBLIC_FILES = {"ledger.key.pub", "issuer.key.pub"}


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (0022): what the project writes must be private without help."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _open_to_others(root: Path) -> list[str]:
    found = []
    for folder, _, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077 and path.name not in PUBLIC_FILES:
                found.append(f"{oct(mode)} {path.relative_to(root)}")
    return found


def test_a_laid_out_site_that_ran_is_private(tmp_path: Path, loose_umask: None) -> None:
    root = tmp_path / "site"
    site = init_simulated_site(root, kiosks=2, visitors=1)
    add_witness(site, root / "witness")
    ledger = open_database(site.database_url)  # open: -wal and -shm exist
    ledger.execute_sql("INSERT INTO counter (name, label, value) VALUES ('probe', '', 1)")
    state = load_config(site.kiosk_configs[0]).state_dir
    lock = InstanceLock(state).acquire()
    outbox = Outbox(load_config(site.kiosk_configs[0]).outbox_path)
    outbox.append(lambda seq: (bytes(16), b"pending record with a visitor code"), 1)
    try:
        written = {p.name for p in root.rglob("*")}
        assert {"ledger.sqlite-wal", "ledger.sqlite-shm", "outbox.sqlite-wal"} <= written
        assert _open_to_others(root) == []
        assert {p.name for p in root.rglob("*.pub")} == PUBLIC_FILES
    finally:
        outbox.close()
        lock.release()
        ledger.close()


def test_an_existing_open_database_is_tightened_but_not_its_folder(
    tmp_path: Path, loose_umask: None
) -> None:
    from support.private_files import prepare_private_sqlite, private_dir

    db = tmp_path / "shared" / "ledger.sqlite"
    db.parent.mkdir(mode=0o755)
    os.chmod(db.parent, 0o755)
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        (db.parent / name).write_bytes(b"")
        os.chmod(db.parent / name, 0o644)
    prepare_private_sqlite(db)
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o755  # a folder we did not make
    assert _open_to_others(db.parent) == ["0o755 ."]
    assert private_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


@pytest.mark.spawns
def test_preparing_an_open_database_keeps_this_process_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops this process's POSIX locks on it (SQLite's).

    Opening a database a second time in a process that already writes to it (the web app
    beside ingest in ``aggregator run``) must not unlock the first connection, or another
    process writes at the same time and the file is corrupted.
    """
    import sqlite3
    import subprocess
    import sys

    from support.private_files import prepare_private_sqlite

    path = tmp_path / "ledger.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN EXCLUSIVE")  # this process holds the write lock
    try:
        prepare_private_sqlite(path)
        other = subprocess.run(
            [sys.executable, "-c", _TRY_WRITE, str(path)], capture_output=True, text=True
        )
        assert other.stdout.strip() == "locked", other.stdout + other.stderr
    finally:
        writer.execute("ROLLBACK")
        writer.close()


_TRY_WRITE = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    db.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError as exc:
    print("locked" if "locked" in str(exc) else exc)
else:
    print("got the write lock")
"""
