"""Benchmark: printed cards at the desk and the door (JSON).

Run ``python -m benchmarks.cards [N]``. Issues N cards (default 200) into a scratch
SQLite ledger (one-off key, HPKE contact and owner, phone tag, one row each),
renders the printable page, and checks the card at a fresh door verifier (medians),
and reports the card code's size and the QR version at levels M (printed) and L.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

import segno
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from aggregator.db import open_database
from aggregator.desk.cards import issue_card
from aggregator.desk.printable import render_card
from aggregator.desk.settings import DeskSettings
from aggregator.issuer.settings import IssuerSettings
from kiosk.verifier import DoorVerifier
from protocol import keys
from protocol.authority_key import format_public_key


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def bench_cards(n: int = 200) -> dict[str, float | int]:
    """Issue ``n`` cards, render and check them; medians in milliseconds."""
    authority = X25519PrivateKey.generate()
    issuer = keys.generate()
    settings = DeskSettings(
        issuer_key=issuer,
        issuer=IssuerSettings(
            authority.public_key(), format_public_key(authority), bytes(32), ZoneInfo("Asia/Seoul")
        ),
        max_cards_per_phone=n + 1,
    )
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(f"sqlite:///{folder}/ledger.sqlite")
        issued, rendered, checked = [], [], []
        try:
            for i in range(n):
                started = time.perf_counter()
                card = issue_card(settings, phone=f"010-1234-{i % 10_000:04d}", language="ko")
                issued.append(time.perf_counter() - started)
                started = time.perf_counter()
                page = render_card(card)
                rendered.append(time.perf_counter() - started)
                door = DoorVerifier([issuer.public_key()])
                started = time.perf_counter()
                door.check(card.code.to_text())
                checked.append(time.perf_counter() - started)
        finally:
            db.close()
    text = card.code.to_text()
    return {
        "cards": n,
        "card_text_chars": len(text),
        "card_bytes": len(card.code.to_bytes()),
        "qr_version_m": segno.make(text, error="m", boost_error=False).version,
        "qr_version_l": segno.make(text, error="l", boost_error=False).version,
        "issue_card_ms": _median_ms(issued),
        "render_page_ms": _median_ms(rendered),
        "page_bytes": len(page.encode()),
        "door_check_card_ms": _median_ms(checked),
    }


if __name__ == "__main__":
    print(json.dumps(bench_cards(int(sys.argv[1]) if len(sys.argv) > 1 else 200), sort_keys=True))
