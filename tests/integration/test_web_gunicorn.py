"""The read API under real gunicorn workers, with a witness and an auditor over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aggregator.db import database_proxy, open_database
from aggregator.operators import create_token
from aggregator.web_worker import BODY_DEADLINE_S, HEAD_DEADLINE_S
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


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def _trickle(base: str, stop: threading.Event, interval: float = 0.2) -> None:
    """A slowloris client: a request head sent a byte at a time, never finished."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 10_000
    with socket.create_connection(_address(base), timeout=5) as sock:
        for byte in head:
            if stop.wait(interval):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return  # cut off by the server: open another, as an attacker would
    return


def _raw(base: str, request: bytes) -> bytes:
    with socket.create_connection(_address(base), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_slow_clients_do_not_stall_healthz(served: str) -> None:
    """Twelve heads trickled a byte at a time and four idle connections: /healthz answers."""
    stop = threading.Event()
    slow = [threading.Thread(target=_trickle, args=(served, stop)) for _ in range(12)]
    idle = [socket.create_connection(_address(served)) for _ in range(4)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(0.5)  # every slow head is being read by now
        for _ in range(8):
            start = time.monotonic()
            with urllib.request.urlopen(served + "/healthz", timeout=2) as got:
                assert json.loads(got.read())["ok"] is True
            assert time.monotonic() - start < 2
            time.sleep(0.2)
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        for thread in slow:
            thread.join(timeout=10)


def test_a_trickled_request_head_is_cut_off(served: str) -> None:
    """A head still incomplete after HEAD_DEADLINE_S loses its connection (freeing a thread)."""
    sock = socket.create_connection(_address(served), timeout=HEAD_DEADLINE_S + 5)
    start = time.monotonic()
    closed_after = None
    with sock:
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 1000:
            try:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
            except OSError:
                closed_after = time.monotonic() - start
                break
            if time.monotonic() - start > HEAD_DEADLINE_S + 4:
                break
    assert closed_after is not None, "the server kept reading a head for ever"
    assert HEAD_DEADLINE_S - 0.5 < closed_after < HEAD_DEADLINE_S + 4


SLOW_BODY_HEAD = (
    b"POST /v1/checkpoint/cosignature HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 60000\r\n\r\n"
)


def _trickle_body(base: str, closed_after: list[float], stop: threading.Event) -> None:
    """A slow-body client: a whole head (no login needed), then a body byte every 0.2 s."""
    with socket.create_connection(_address(base), timeout=5) as sock:
        sock.sendall(SLOW_BODY_HEAD)
        start = time.monotonic()
        while not stop.wait(0.2):
            try:
                sock.sendall(b"a")
            except OSError:
                closed_after.append(time.monotonic() - start)
                return


def test_slow_request_bodies_are_cut_off_and_do_not_stall_healthz(served: str) -> None:
    """Two dozen bodies trickled after a full head: /healthz answers, and each connection
    closes once its body is BODY_DEADLINE_S late (the head deadline no longer runs)."""
    stop = threading.Event()
    closed_after: list[float] = []
    slow = [
        threading.Thread(target=_trickle_body, args=(served, closed_after, stop)) for _ in range(24)
    ]
    for thread in slow:
        thread.start()
    try:
        end = time.monotonic() + BODY_DEADLINE_S + 3
        while time.monotonic() < end and len(closed_after) < len(slow):
            start = time.monotonic()
            with urllib.request.urlopen(served + "/healthz", timeout=2) as got:
                assert json.loads(got.read())["ok"] is True
            assert time.monotonic() - start < 2
            time.sleep(0.2)
        wait_until(lambda: len(closed_after) == len(slow), 5, message="slow bodies to be cut")
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=10)
    assert min(closed_after) > BODY_DEADLINE_S - 0.5
    assert max(closed_after) < BODY_DEADLINE_S + 3


def test_hostile_requests_get_clean_refusals_under_gunicorn(
    site: WitnessedSite, served: str
) -> None:
    """Deep JSON is a 400 (not a RecursionError 500); //v1/kiosks is a 404, not the registry."""
    body = b"[" * 50_000
    request = urllib.request.Request(
        served + "/v1/operator/kiosks",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == "bad_json"
    for target in (b"//v1/kiosks", b"//healthz", b"/v1/kiosks/", b"/%761/kiosks"):
        answer = _raw(served, b"GET " + target + b" HTTP/1.0\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 404"), (target, answer[:80])
    assert _raw(served, b"GET /v1/kiosks HTTP/1.0\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.0 200")
