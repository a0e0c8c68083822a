"""The ledger explorer in headless Chromium: a site with sealed check-ins, the checkpoint
page, a block, and a receipt checked in the page's JavaScript (WebCrypto Ed25519 and
SHA-256), which passes; a tampered proof, a tampered checkpoint and a wrong key fail
visibly, each for its reason, and so does a consistency proof that does not tie the
witnessed checkpoint to the one checked.

``SAFECODE_EXPLORER_SHOTS=/some/folder`` keeps the screenshots for a person to look at.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aggregator.audit_log import append_audit
from aggregator.db import database_proxy, open_database
from protocol.cosignature import Cosigner, with_signatures
from protocol.note import NoteSigner, parse_note
from tests.unit.ledger_builder import ORIGIN, VKEY, LedgerBuilder
from tests.unit.wire_checks import seeded

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Route

    from tests.browser.conftest import LiveAggregator

ROOT = Path(__file__).resolve().parents[2]
WITNESS = Cosigner("witness.example/w1", seeded("explorer-browser-witness"))
WRONG_KEY = NoteSigner(ORIGIN, seeded("not-the-ledger")).verifier().to_string()
pytestmark = pytest.mark.skipif(
    not (ROOT / "explorer" / "dist" / "explorer.js").is_file(),
    reason="the explorer is not built (./dev setup)",
)


@pytest.fixture
def aggregator_settings(tmp_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite",
        "LEDGER_VKEY": VKEY,
        "WITNESSES": [WITNESS.verifier().to_string()],
    }


@pytest.fixture
def sealed(live_aggregator: LiveAggregator) -> Iterator[list[bytes]]:
    """Four blocks through real ingest and sequencer, the third one cosigned, the fourth
    with an audit entry; the ids of the check-ins, then the audit entry's."""
    open_database(live_aggregator.database_url)
    builder = LedgerBuilder(tag="explorer-browser")
    ids = builder.block(3) + builder.block(2, "kiosk-b") + builder.block(4)
    client = live_aggregator.app.test_client()
    note = client.get("/v1/checkpoint").get_data(as_text=True)
    cosigned = with_signatures(note, [WITNESS.cosign(parse_note(note)[0], 1_764_000_100)])
    assert client.post("/v1/checkpoint/cosignature", data=cosigned).status_code == 200
    audit_id = append_audit(
        action="case-opened",
        actor="kim.official",
        role="health-official",
        case=bytes(range(16)),
        reason="confirmed case 7",
    )
    ids += builder.block(2)  # the audit leaf (9), then 2 check-ins: 12 leaves, witnessed 9
    database_proxy.close()
    yield [*ids, audit_id]


@pytest.fixture
def problems(page: Page, live_aggregator: LiveAggregator) -> list[str]:
    """Console errors, page errors and requests to anywhere but the site (a CSP violation
    shows as a console error)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_aggregator.url + "/") else seen.append(r.url),
    )

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: seen.append(str(exc)))
    return seen


def shot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("SAFECODE_EXPLORER_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def check(page: Page, checkin: bytes, vkey: str | None = None) -> str:
    """Submit the check form; return the verdict (``ok`` or the failure's reason)."""
    page.fill("#checkin-id", checkin.hex())
    if vkey is not None:
        page.fill("#vkey", vkey)
    page.click("#check-submit")
    page.wait_for_selector("#result[data-state=ok], #result[data-state=fail]")
    state = page.get_attribute("#result", "data-state")
    return "ok" if state == "ok" else str(page.get_attribute("#result", "data-reason"))


def test_checkpoint_block_and_a_receipt_verified_in_the_browser(
    page: Page,
    live_aggregator: LiveAggregator,
    sealed: list[bytes],
    problems: list[str],
    tmp_path: Path,
) -> None:
    url = live_aggregator.url
    page.goto(f"{url}/ledger")
    assert page.text_content("#tree-size") == "12"
    assert page.get_attribute("html", "lang") == "ko"  # the context's locale is Korean
    assert "witness.example/w1" in page.text_content("#cosignatures")
    assert page.text_content("#vkey") == VKEY
    shot(page, "checkpoint-ko", tmp_path)

    page.click("#latest-block")
    page.wait_for_url(f"{url}/ledger/blocks/3")
    assert page.locator("#leaves tbody tr[data-kind=checkin]").count() == 2
    assert page.locator("#leaves tbody tr[data-kind=audit]").count() == 1
    page.click("nav >> text=감사 기록")
    page.wait_for_url(f"{url}/ledger/audit")
    assert page.locator(f"#audit tr[data-audit-id='{sealed[-1].hex()}']").count() == 1
    shot(page, "audit", tmp_path)
    page.go_back()
    shot(page, "block", tmp_path)

    page.click("#lang")  # the switch: English from here on
    page.wait_for_url(f"{url}/ledger/blocks/3?lang=en")
    assert page.get_attribute("html", "lang") == "en"
    page.click("nav >> text=Check a receipt")
    page.wait_for_url(f"{url}/ledger/check?lang=en")
    assert page.input_value("#vkey") == VKEY
    assert check(page, sealed[4]) == "ok"
    result = page.text_content("#result") or ""
    assert "Verified in your browser" in result and sealed[4].hex() in result
    assert page.input_value("#witnesses") == WITNESS.verifier().to_string()
    assert page.locator("#result ol.steps li[data-state=ok]").count() == 5
    assert (
        page.get_attribute("#witnessed li[data-witness='witness.example/w1']", "data-state") == "ok"
    )
    assert "Witnessed checkpoint tree size: 9" in (page.text_content("#witnessed") or "")
    shot(page, "check-ok", tmp_path)

    assert check(page, sealed[0], WRONG_KEY) == "no_signature"
    assert "Not verified" in (page.text_content("#result") or "")
    shot(page, "check-wrong-key", tmp_path)
    assert check(page, sealed[-1], VKEY) == "ok"  # an audit entry's id
    assert "audit entry" in (page.text_content("#result") or "")
    assert problems == [], problems
    assert check(page, bytes(16), VKEY) == "unknown_checkin"  # (a 404 in the console)


def test_a_tampered_proof_or_checkpoint_fails_visibly(
    page: Page,
    live_aggregator: LiveAggregator,
    sealed: list[bytes],
    problems: list[str],
    tmp_path: Path,
) -> None:
    """The server lies: the page notices, whatever root the lie carries with it."""

    def flip_a_proof_hash(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        first = body["proof"][0]
        body["proof"][0] = ("1" if first[0] == "0" else "0") + first[1:]
        route.fulfill(response=answer, body=json.dumps(body))

    page.goto(f"{live_aggregator.url}/ledger/check")
    page.route("**/v1/proof/inclusion/**", flip_a_proof_hash)
    assert check(page, sealed[1]) == "root_mismatch"
    assert page.get_attribute("#result li[data-step=inclusion]", "data-state") == "fail"
    assert "검증 실패" in (page.text_content("#result") or "")
    shot(page, "check-tampered-proof", tmp_path)
    page.unroute("**/v1/proof/inclusion/**")

    def grow_the_tree(route: Route) -> None:
        answer = route.fetch()
        lines = answer.text().split("\n")
        lines[1] = str(int(lines[1]) + 1)
        route.fulfill(response=answer, body="\n".join(lines))

    page.route("**/v1/checkpoint", grow_the_tree)
    assert check(page, sealed[1]) == "bad_signature"
    page.unroute("**/v1/checkpoint")

    def fork(route: Route) -> None:  # another history of the first 9 leaves
        answer = route.fetch()
        body = answer.json()
        body["proof"] = list(reversed(body["proof"]))
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/v1/proof/consistency?*", fork)
    assert check(page, sealed[1]) == "inconsistent"
    assert page.get_attribute("#result li[data-step=witnesses]", "data-state") == "fail"
    shot(page, "check-inconsistent", tmp_path)
    page.unroute("**/v1/proof/consistency?*")
    assert check(page, sealed[1]) == "ok"
    assert "브라우저에서 검증됨" in (page.text_content("#result") or "")
    assert problems == [], problems
