"""A provisioned site traced for real: the health authority's key file, the site laid out
by provisioning, its ``aggregator run --issuer`` process and the ``safecode`` command.

Shared by the whole-case tests that run the aggregator as a process
(tests/integration/test_trace_cli.py, tests/browser/test_whole_case.py); what each
enrols, scans and traces stays in the test.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.db import database_proxy, open_database
from authority.key_file import write_authority_key
from protocol.authority_key import format_public_key
from provisioning.site import Site
from simulator.process import RelayedProcess
from simulator.site import init_simulated_site
from tests.unit.ledger_builder import free_port
from tests.waiting import wait_until


def answers(url: str) -> bool:
    """Whether ``url`` answers a GET with a success."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def authority_site(
    root: Path, key_file: Path, passphrase: str, *, mqtt_port: int, visitors: int
) -> tuple[X25519PrivateKey, Site]:
    """A new HA key (written to ``key_file`` under ``passphrase``) and a one-kiosk site
    at ``root`` that seals contacts to it."""
    authority = X25519PrivateKey.generate()
    write_authority_key(authority, key_file, passphrase)
    site = init_simulated_site(
        root,
        kiosks=1,
        visitors=visitors,
        mqtt_port=mqtt_port,
        http_port=free_port(),
        authority_key=format_public_key(authority),
    )
    return authority, site


@contextmanager
def site_database(site: Site) -> Iterator[None]:
    """The site's database open in this process, closed afterwards (if still open)."""
    open_database(site.database_url)
    try:
        yield
    finally:
        if not database_proxy.is_closed():
            database_proxy.close()


@contextmanager
def running_aggregator(site: Site, *, timeout: float) -> Iterator[str]:
    """``aggregator run --issuer`` on the site, until its API answers; its base URL."""
    args = ["aggregator", "run", "--config", str(site.aggregator_config), "--issuer"]
    aggregator = RelayedProcess("aggregator", args, time.monotonic(), lambda *a, **k: None)
    base = f"http://127.0.0.1:{site.http_port}"
    try:
        wait_until(lambda: answers(base + "/healthz"), timeout=timeout, message="the aggregator")
        yield base
    finally:
        aggregator.stop(timeout=20)


def safecode(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m safecode ARGS``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "safecode", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def ledger_verify(
    site: Site, *, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``safecode ledger verify`` of the site's database with its ledger key."""
    args = ["ledger", "verify", "--db", site.database_url, "--vkey", site.ledger_vkey]
    return safecode(*args, cwd=cwd, timeout=timeout)
