"""A ledger built through the real ingest and sequencer path (a helper, not a test file)."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from werkzeug.serving import make_server

from aggregator import vault
from aggregator.db import CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.sequencer import Sequencer
from protocol import keys, topics
from protocol.checkin import ClockState, sign_checkin
from protocol.note import NoteVerifier
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("api-issuer")
LEDGER = seeded("api-ledger")
ORIGIN = "ledger.example/api"
NOW = 1_764_000_000
VKEY = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key()).to_string()


@contextmanager
def _a_vault() -> Iterator[None]:
    """The test's data vault if one is installed, else one just for this store."""
    try:
        vault.installed()
    except vault.VaultError:
        vault.install(vault.Vault(hashlib.sha256(b"ledger-builder master key").digest()))
        try:
            yield
        finally:
            vault.install(None)
        return
    yield


class LedgerBuilder:
    """Enrolled kiosks, an ingestor and a sequencer on the currently open database."""

    def __init__(self, kiosks: tuple[str, ...] = ("kiosk-a", "kiosk-b"), tag: str = "") -> None:
        self.devices: dict[str, Ed25519PrivateKey] = {k: seeded(f"api-device-{k}") for k in kiosks}
        for kiosk, device in self.devices.items():
            enrol_kiosk(kiosk, f"venue-{kiosk[-1]}", keys.public_bytes(device))
        self.ingestor = Ingestor([ISSUER.public_key()], now=lambda: NOW)
        self.sequencer = Sequencer(LEDGER, ORIGIN, now=lambda: NOW + 1)
        self.seq = dict.fromkeys(self.devices, 0)
        self.tag = tag

    def checkin_id(self, kiosk: str, seq: int) -> bytes:
        return hashlib.sha256(f"api/{self.tag}/{kiosk}/{seq}".encode()).digest()[:16]

    def scan(self, kiosk: str = "kiosk-a") -> bytes:
        """Store one verified check-in; return its id."""
        self.seq[kiosk] += 1
        seq = self.seq[kiosk]
        checkin_id = self.checkin_id(kiosk, seq)
        wire = sign_checkin(
            self.devices[kiosk],
            checkin_id=checkin_id,
            kiosk_id=kiosk,
            venue_id=f"venue-{kiosk[-1]}",
            seq=seq,
            door="entrance",
            scanned_ms=NOW * 1000,
            clock=ClockState(True, bytes(16), seq),
            presentation=enrol_visitor(ISSUER, NOW - 3600).show(NOW).to_bytes(),
        )
        with _a_vault():
            outcome = self.ingestor.handle(topics.topic(kiosk, topics.CHECKIN), wire)
        assert outcome.result is Result.STORED, outcome.reason
        return checkin_id

    def block(self, count: int, kiosk: str = "kiosk-a") -> list[bytes]:
        """Scan ``count`` check-ins and seal them into one block."""
        ids = [self.scan(kiosk) for _ in range(count)]
        assert self.sequencer.seal() is not None
        return ids


def leaf_hashes() -> list[bytes]:
    rows = CheckinEntry.select().where(CheckinEntry.leaf_index.is_null(False))
    return [bytes(r.leaf_hash) for r in rows.order_by(CheckinEntry.leaf_index)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free loopback port; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def write_config(folder: Path, database_url: str, web: dict | None = None) -> Path:
    """An aggregator config file naming ``database_url`` (keys written alongside)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in ((LEDGER, "ledger.key"), (ISSUER, "issuer.key")):
        keys.save_private(key, folder / name)
        keys.write_public_file(key, folder / name)
    data: dict = {
        "aggregator": {
            "origin": ORIGIN,
            "database_url": database_url,
            "ledger_key": "ledger.key",
            "issuer_key": "issuer.key",
        }
    }
    if web is not None:
        data["web"] = web
    path = folder / "aggregator.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
