"""The read API under real gunicorn workers, with a witness and an auditor over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aggregator.db import database_proxy, open_database
from aggregator.operators import create_token
from protocol.checkpoint import open_checkpoint
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import LEDGER, ORIGIN, VKEY, LedgerBuilder, free_port, write_config
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
SAFECODE = str(Path(sys.executable).with_name("safecode"))


def fetch(url: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as got:
        return got.read()


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            fetch(base + "/readyz")
        except OSError:
            return False
        return True

    wait_until(ready, timeout, interval=0.2, message="gunicorn to become ready")


@dataclass(frozen=True)
class WitnessedSite:
    """A small ledger, a metrics token and a witness the aggregator's config names."""

    tmp: Path
    config: Path
    token: str
    witness_key: Path
    witness_vkey: str


def safecode(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAFECODE, *args], capture_output=True, text=True, timeout=60, check=check
    )


@pytest.fixture
def site(tmp_path: Path) -> WitnessedSite:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_database(url)
    builder = LedgerBuilder()
    builder.block(3)
    builder.block(2, "kiosk-b")
    token = create_token("prometheus")
    database_proxy.close()
    key = tmp_path / "w1.key"
    made = safecode(
        "ledger", "witness-keygen", "--name", "witness.example/w1", "--key", str(key), check=True
    )
    witness_vkey = made.stdout.strip()
    config = write_config(tmp_path / "site", url, {"witnesses": [witness_vkey]})
    return WitnessedSite(tmp_path, config, token, key, witness_vkey)


@pytest.fixture
def served(site: WitnessedSite) -> Iterator[str]:
    """The read API under two gunicorn workers; its base URL. It must exit 0 on SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from aggregator.web_cli import web_command; web_command()"]
        + ["--config", str(site.config), "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_gunicorn_serves_the_api_and_a_witness_cosigns(site: WitnessedSite, served: str) -> None:
    base = served
    assert json.loads(fetch(base + "/healthz")) == {
        "ok": True,
        "blocks": 2,
        "tree_size": 5,
        "unsealed": 0,
    }
    verifier = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
    checkpoint = open_checkpoint(fetch(base + "/v1/checkpoint"), verifier, ORIGIN)
    assert checkpoint.size == 5
    # Many requests land on both workers; all agree.
    sizes = {json.loads(fetch(base + "/healthz"))["tree_size"] for _ in range(20)}
    assert sizes == {5}
    witness = safecode(
        "ledger",
        "witness",
        "--url",
        base,
        "--vkey",
        VKEY,
        "--key",
        str(site.witness_key),
        "--state",
        str(site.tmp / "state"),
        "--once",
    )
    assert witness.returncode == 0, witness.stdout + witness.stderr
    cosigned = fetch(base + "/v1/checkpoint/cosigned")
    (site.tmp / "cosigned").write_bytes(cosigned)
    check = safecode(
        "ledger",
        "verify-note",
        "--vkey",
        VKEY,
        "--witness",
        site.witness_vkey,
        str(site.tmp / "cosigned"),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    audit = safecode("ledger", "verify", "--url", base, "--vkey", VKEY)
    assert audit.returncode == 0, audit.stderr
    assert "tree size 5" in audit.stdout
    with pytest.raises(urllib.error.HTTPError, match="401"):
        fetch(base + "/metrics")
    metrics = fetch(base + "/metrics", site.token).decode()
    assert 'safecode_witness_cosigned_tree_size{witness="witness.example/w1"} 5.0' in metrics
