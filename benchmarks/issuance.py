"""Wallet issuance rate against the Ed25519 signing ceiling: prints one JSON line.

``python -m benchmarks.issuance [--batches N] [--runs R] [--dir PATH]``

Each run makes a fresh SQLite ledger database, enrols N wallets (not timed), then
sends N signed ``wallet-batch`` requests of 7 day keys each through the Flask test
client (``/v1/wallet/batch``: parse, freshness, enrolment lookup, signature check,
7 credentials signed, 8 HPKE seals to the health authority, one transaction). In the
same run it times 7 x N raw Ed25519 signatures, and the bare cryptography a batch
needs (7 signs, 8 seals, 1 verify). While requests run, a second connection to the
database stays open, as the ingest and sequencer processes keep theirs on a site.
Figures are medians over the runs:

- ``issuance_batches_per_s``;
- ``issuance_vs_sign_ceiling``: batches/s x 7 / raw signs/s (the issue's figure);
- ``issuance_vs_crypto_ceiling``: batches/s / bare-crypto batches/s, i.e. what the
  web layer, parsing and the database cost on top of the cryptography the design needs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.api.wallet import WALLET_EXTENSION
from aggregator.db import connect_database, database_proxy
from aggregator.issuer.settings import IssuerSettings
from aggregator.issuer.tables import EnrolmentEntry
from aggregator.web import create_app
from aggregator.web_database import app_database
from protocol import issuance, keys
from protocol.authority_key import format_public_key
from protocol.contact import Contact, seal_contact

from .util import filesystem_of, machine_info

DAY_KEYS = 7
DEFAULT_BATCHES = 200
DEFAULT_RUNS = 3


def _settings(authority: X25519PrivateKey) -> IssuerSettings:
    return IssuerSettings(
        authority_key=authority.public_key(),
        authority_key_text=format_public_key(authority),
        pepper=os.urandom(32),
        time_zone=ZoneInfo("Asia/Seoul"),
        days_ahead=DAY_KEYS,
        requests_per_minute=1_000_000,
        enrolments_per_minute=1_000_000,
    )


def _enrol_directly(count: int, blob: bytes) -> list[tuple[Ed25519PrivateKey, bytes]]:
    """``count`` enrolments written straight to the table (setup, not measured)."""
    wallets, rows = [], []
    for n in range(count):
        key = Ed25519PrivateKey.generate()
        enrolment = os.urandom(issuance.ENROLMENT_ID_SIZE)
        wallets.append((key, enrolment))
        rows.append(
            {
                "enrolment_id": enrolment,
                "public_key": keys.public_bytes(key),
                "contact": blob,
                "phone_tag": hashlib.sha256(b"%d" % n).digest(),
                "created_s": 0,
            }
        )
    with EnrolmentEntry._meta.database.atomic():
        EnrolmentEntry.insert_many(rows).execute()
    return wallets


def _one_run(batches: int, folder: Path) -> dict[str, float]:
    authority = X25519PrivateKey.generate()
    issuer_key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        url = f"sqlite:///{tmp}/ledger.sqlite"
        app = create_app(
            {"DATABASE_URL": url, "ISSUER": _settings(authority), "ISSUER_KEY": issuer_key}
        )
        blob = seal_contact(authority.public_key(), Contact("+821012345678", "ko", bytes(32)))
        with database_proxy.bound_to(app_database(app)):
            wallets = _enrol_directly(batches, blob)
        now = int(app.extensions[WALLET_EXTENSION].clock())
        wires = [
            issuance.sign_batch(
                key,
                enrolment=enrolment,
                wallet_keys=[keys.public_bytes(Ed25519PrivateKey.generate()) for _ in range(7)],
                ts=now,
            )
            for key, enrolment in wallets
        ]
        client = app.test_client()
        # Another process's connection stays open, as ingest and the sequencer keep theirs
        # on a site: otherwise each request closing the last connection would checkpoint
        # and delete SQLite's write-ahead log, a cost no deployment pays per request.
        neighbour = connect_database(url, create=False)
        start = time.perf_counter()
        for wire in wires:
            response = client.post("/v1/wallet/batch", data=wire, content_type="application/cbor")
            if response.status_code != 200:
                raise RuntimeError(f"batch refused: {response.status_code} {response.data!r}")
        issued_s = time.perf_counter() - start
        neighbour.close()
        app_database(app).close()
    signs_s = _time_signs(issuer_key, batches * DAY_KEYS)
    crypto_s = _time_bare_crypto(issuer_key, authority, batches)
    return {
        "batches_per_s": batches / issued_s,
        "signs_per_s": batches * DAY_KEYS / signs_s,
        "crypto_batches_per_s": batches / crypto_s,
    }


def _time_signs(key: Ed25519PrivateKey, count: int) -> float:
    message = os.urandom(96)  # about a credential's signed part
    start = time.perf_counter()
    for _ in range(count):
        keys.sign(key, "credential", message)
    return time.perf_counter() - start


def _time_bare_crypto(key: Ed25519PrivateKey, authority: X25519PrivateKey, batches: int) -> float:
    """What one batch must compute, without parsing, web or database: batches' seconds."""
    message = os.urandom(96)
    enrolment = os.urandom(16)
    ids = [os.urandom(8) for _ in range(DAY_KEYS)]
    public = authority.public_key()
    signer = keys.public_bytes(key)
    signature = keys.sign(key, "wallet-batch", message)
    start = time.perf_counter()
    for _ in range(batches):
        keys.verify(keys.load_public(signer), "wallet-batch", message, signature)
        for _ in range(DAY_KEYS):
            keys.sign(key, "credential", message)
            issuance.seal_owner(public, enrolment)
        issuance.seal_batch_list(public, ids)
    return time.perf_counter() - start


def bench_issuance(
    batches: int = DEFAULT_BATCHES, *, runs: int = DEFAULT_RUNS, folder: Path | None = None
) -> dict[str, Any]:
    """Median issuance figures over ``runs`` runs of ``batches`` batch requests each."""
    if batches < 1 or runs < 1:
        raise ValueError("batches and runs must be at least 1")
    where = Path(folder or tempfile.gettempdir())
    results = [_one_run(batches, where) for _ in range(runs)]
    rate = statistics.median(r["batches_per_s"] for r in results)
    signs = statistics.median(r["signs_per_s"] for r in results)
    crypto = statistics.median(r["crypto_batches_per_s"] for r in results)
    return {
        "issuance_batches_per_s": round(rate, 1),
        "issuance_vs_sign_ceiling": round(
            statistics.median(r["batches_per_s"] * DAY_KEYS / r["signs_per_s"] for r in results),
            3,
        ),
        "issuance_vs_crypto_ceiling": round(
            statistics.median(r["batches_per_s"] / r["crypto_batches_per_s"] for r in results),
            3,
        ),
        "ed25519_signs_per_s": round(signs, 1),
        "crypto_batches_per_s": round(crypto, 1),
        "credentials_per_batch": DAY_KEYS,
        "batches": batches,
        "runs": runs,
        "database": "sqlite",
        "filesystem": filesystem_of(where),
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=DEFAULT_BATCHES)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go")
    args = parser.parse_args(argv)
    print(json.dumps(bench_issuance(args.batches, runs=args.runs, folder=args.dir), sort_keys=True))


if __name__ == "__main__":
    main()
