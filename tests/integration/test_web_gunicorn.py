"""The read API under real gunicorn workers, with a witness and an auditor over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aggregator.db import database_proxy, open_database
from aggregator.operators import create_token
from protocol.checkpoint import open_checkpoint
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import LEDGER, ORIGIN, VKEY, LedgerBuilder, free_port, write_config

pytestmark = pytest.mark.integration
SAFECODE = str(Path(sys.executable).with_name("safecode"))


def fetch(url: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as got:
        return got.read()


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            fetch(base + "/readyz")
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not become ready")


def test_gunicorn_serves_the_api_and_a_witness_cosigns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    open_database(url)
    builder = LedgerBuilder()
    builder.block(3)
    builder.block(2, "kiosk-b")
    token = create_token("prometheus")
    database_proxy.close()
    key = tmp_path / "w1.key"
    made = subprocess.run(
        [SAFECODE, "ledger", "witness-keygen", "--name", "witness.example/w1", "--key", str(key)],
        capture_output=True,
        text=True,
        check=True,
    )
    witness_vkey = made.stdout.strip()
    config = write_config(tmp_path / "site", url, {"witnesses": [witness_vkey]})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from aggregator.web_cli import web_command; web_command()",
            "--config",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_ready(base, process)
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
        witness = subprocess.run(
            [
                SAFECODE,
                "ledger",
                "witness",
                "--url",
                base,
                "--vkey",
                VKEY,
                "--key",
                str(key),
                "--state",
                str(tmp_path / "state"),
                "--once",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert witness.returncode == 0, witness.stdout + witness.stderr
        cosigned = fetch(base + "/v1/checkpoint/cosigned")
        (tmp_path / "cosigned").write_bytes(cosigned)
        check = subprocess.run(
            [
                SAFECODE,
                "ledger",
                "verify-note",
                "--vkey",
                VKEY,
                "--witness",
                witness_vkey,
                str(tmp_path / "cosigned"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        audit = subprocess.run(
            [SAFECODE, "ledger", "verify", "--url", base, "--vkey", VKEY],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert audit.returncode == 0, audit.stderr
        assert "tree size 5" in audit.stdout
        with pytest.raises(urllib.error.HTTPError, match="401"):
            fetch(base + "/metrics")
        metrics = fetch(base + "/metrics", token).decode()
        assert 'safecode_witness_cosigned_tree_size{witness="witness.example/w1"} 5.0' in metrics
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
