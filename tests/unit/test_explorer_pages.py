"""The ledger explorer's pages (/ledger): what they show, in which language, and refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.audit_log import append_audit
from aggregator.db import BlockEntry, CheckinEntry, open_database
from aggregator.explorer_app import CONTENT_SECURITY_POLICY, ledger_view, strings
from aggregator.web import create_app
from protocol import keys, merkle
from protocol.checkpoint import parse_checkpoint
from protocol.cosignature import Cosigner, with_signatures
from protocol.enrolment import KioskTrust
from protocol.note import parse_note
from tests.unit.ledger_builder import LEDGER, VKEY, LedgerBuilder, leaf_hashes
from tests.unit.wire_checks import seeded

WITNESS = Cosigner("witness.example/w1", seeded("explorer-witness"))
BLOCK_SIZES = (3, 1, 5)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, list[bytes]]]:
    """Three blocks of check-ins, one unsealed, and a witness cosignature of the last."""
    url = f"sqlite:///{tmp_path_factory.mktemp('explorer')}/ledger.sqlite"
    database = open_database(url)
    builder = LedgerBuilder(tag="explorer")
    ids: list[bytes] = []
    for count in BLOCK_SIZES:
        ids += builder.block(count)
    builder.scan()  # waits for its block
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "WITNESSES": [WITNESS.verifier().to_string()],
            "LEDGER_VKEY": VKEY,
        }
    )
    client = app.test_client()
    note = client.get("/v1/checkpoint").get_data(as_text=True)
    body, _ = parse_note(note)
    cosigned = with_signatures(note, [WITNESS.cosign(body, 1_764_000_100)])
    assert client.post("/v1/checkpoint/cosignature", data=cosigned).status_code == 200
    yield app, ids
    database.close()


@pytest.fixture
def client(ledger: tuple[Flask, list[bytes]]) -> FlaskClient:
    app, _ = ledger
    open_database(app.config["DATABASE_URL"])  # other tests may have opened another
    return app.test_client()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_checkpoint_page_shows_the_latest_checkpoint_and_its_cosignature(
    client: FlaskClient,
) -> None:
    answer = client.get("/ledger", headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    note = client.get("/v1/checkpoint").get_data(as_text=True)
    checkpoint = parse_checkpoint(parse_note(note)[0])
    assert checkpoint.size == sum(BLOCK_SIZES)
    assert f'<dd id="tree-size">{checkpoint.size}</dd>' in html
    assert checkpoint.root_hash.hex() in html
    assert checkpoint.root_hash == merkle.root(leaf_hashes()[: checkpoint.size])
    assert '<dd id="origin">ledger.example/api</dd>' in html
    assert 'data-role="ledger"' in html and "ledger key" in html
    assert VKEY in html
    page = text_of(html)
    assert "witness.example/w1" in page and "2025-11-24 16:01:40" in page
    assert WITNESS.verifier().to_string() in html
    assert f'<span id="cosigned-size">{checkpoint.size}</span>' in html
    assert "Latest checkpoint" in page


def test_headers_forbid_everything_third_party(client: FlaskClient) -> None:
    for path in ("/ledger", "/ledger/blocks", "/ledger/blocks/0", "/ledger/audit", "/ledger/check"):
        answer = client.get(path)
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        html = answer.get_data(as_text=True)
        assert not re.search(r"(src|href)=\"(https?:)?//", html), path
        assert "style=" not in html and "<style" not in html, path
        assert re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html) is None


def test_language_from_accept_language_and_the_switch(client: FlaskClient) -> None:
    korean = client.get("/ledger", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    html = korean.get_data(as_text=True)
    assert '<html lang="ko">' in html and "최신 체크포인트" in html
    assert 'href="/ledger?lang=en"' in html  # the switch
    english = client.get("/ledger?lang=en", headers={"Accept-Language": "ko"})
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html and "Latest checkpoint" in html
    assert 'href="/ledger/blocks?lang=en"' in html  # a chosen language sticks to links
    assert '<html lang="en">' in client.get("/ledger", headers={"Accept-Language": "fr"}).text
    switch = client.get("/ledger/blocks?top=1&lang=ko").get_data(as_text=True)
    assert 'href="/ledger/blocks?top=1&amp;lang=en"' in switch


def test_both_languages_have_every_string() -> None:
    assert set(strings.STRINGS["ko"]) == set(strings.STRINGS["en"])
    for language in strings.LANGUAGES:
        assert all(v.strip() for v in strings.STRINGS[language].values())


def test_every_reason_and_step_the_script_names_has_a_string() -> None:
    source = "".join(p.read_text("utf-8") for p in (ROOT / "explorer" / "src").glob("*.js"))
    reasons = set(re.findall(r"VerifyError\('([a-z_]+)'", source))
    passed_on = re.search(r"\[([^\]]+)\]\.includes\(code\)", source)
    assert passed_on is not None
    reasons |= set(re.findall(r"'([a-z_]+)'", passed_on.group(1)))
    reasons |= {"unsupported", "internal"}
    assert len(reasons) > 15
    steps = re.search(r"const STEPS = \[([^\]]+)\]", source)
    assert steps is not None
    names = {f"reason.{r}" for r in reasons} | {
        f"step.{s}" for s in re.findall(r"'([a-z]+)'", steps.group(1))
    }
    names |= {f"fact.{f}" for f in re.findall(r"'fact\.([a-z_]+)'", source)}
    for language in strings.LANGUAGES:
        missing = names - set(strings.script_strings(language))
        assert not missing, (language, missing)


def test_blocks_page_lists_newest_first_and_pages(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = client.get("/ledger/blocks?lang=en").get_data(as_text=True)
    heights = re.findall(r'href="/ledger/blocks/(\d+)\?lang=en">', html)
    assert heights == ["2", "1", "0"]
    assert 'id="older"' not in html and 'id="newer"' not in html
    monkeypatch.setattr(ledger_view, "BLOCKS_PER_PAGE", 2)
    monkeypatch.setattr(ledger_view.blocks_down_from, "__defaults__", (2,))
    first = client.get("/ledger/blocks").get_data(as_text=True)
    assert re.findall(r'href="/ledger/blocks/(\d+)">', first) == ["2", "1"]
    assert 'id="older" href="/ledger/blocks?top=0"' in first and 'id="newer"' not in first
    second = client.get("/ledger/blocks?top=0").get_data(as_text=True)
    assert re.findall(r'href="/ledger/blocks/(\d+)">', second) == ["0"]
    assert 'id="newer" href="/ledger/blocks?top=2"' in second and 'id="older"' not in second


def test_block_page_shows_its_header_and_leaves_with_their_kind(
    client: FlaskClient, ledger: tuple[Flask, list[bytes]]
) -> None:
    html = client.get("/ledger/blocks/2").get_data(as_text=True)
    assert '<span id="height">2</span>' in html
    assert '<dd id="leaf-count">5</dd>' in html
    hashes = leaf_hashes()
    rows = re.findall(
        r'<tr data-kind="(\w+)"><td>(\d+)</td><td>[^<]+</td><td class="hash">(\w+)', html
    )
    assert rows == [("checkin", str(i), hashes[i].hex()) for i in range(4, 9)]
    assert "check-in" in html
    assert 'href="/ledger/blocks/1"' in html  # the previous block


def test_block_leaves_page(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_view, "LEAVES_PER_PAGE", 2)
    first = client.get("/ledger/blocks/2").get_data(as_text=True)
    assert re.findall(r"<tr data-kind=\"checkin\"><td>(\d+)</td>", first) == ["4", "5"]
    assert 'id="leaves-more" href="/ledger/blocks/2?start=2"' in first
    last = client.get("/ledger/blocks/2?start=4").get_data(as_text=True)
    assert re.findall(r"<tr data-kind=\"checkin\"><td>(\d+)</td>", last) == ["8"]
    assert 'id="leaves-back" href="/ledger/blocks/2?start=2"' in last
    assert 'id="leaves-more"' not in last


def test_other_leaf_kinds_come_from_their_source(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_view, "LEAF_KINDS", [lambda lo, hi: {lo: "audit"}])
    html = client.get("/ledger/blocks/0?lang=ko").get_data(as_text=True)
    kinds = re.findall(r'<tr data-kind="(\w+)"><td>\d+</td><td>([^<]+)</td>', html)
    assert kinds == [("audit", "감사 기록"), ("unknown", "기타"), ("unknown", "기타")]


def test_check_page_hands_the_key_and_its_strings_to_the_script(client: FlaskClient) -> None:
    ids = "ab" * 16
    html = client.get(f"/ledger/check?id={ids}&lang=ko").get_data(as_text=True)
    assert f'value="{ids}"' in html
    assert f">{VKEY}</textarea>" in html
    assert f">{WITNESS.verifier().to_string()}</textarea>" in html
    assert '<script type="module" src="/ledger/explorer.js"></script>' in html
    found = re.search(r'<script type="application/json" id="explorer-strings">(.*?)</script>', html)
    assert found is not None
    table = json.loads(found.group(1))
    assert table["check.ok"] == "브라우저에서 검증됨"
    assert "<" not in found.group(1)


def test_ledger_key_from_the_kiosk_trust_when_not_configured(
    ledger: tuple[Flask, list[bytes]],
) -> None:
    app = create_app(
        {
            "DATABASE_URL": ledger[0].config["DATABASE_URL"],
            "KIOSK_TRUST": KioskTrust((), keys.did_key(LEDGER), "localhost", 1883, False),
        }
    )
    open_database(app.config["DATABASE_URL"])
    assert VKEY in app.test_client().get("/ledger/check").get_data(as_text=True)
    bare = create_app({"DATABASE_URL": ledger[0].config["DATABASE_URL"]})
    html = bare.test_client().get("/ledger").get_data(as_text=True)
    assert "does not state its ledger key" in html


def test_an_empty_ledger_has_pages_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite"
    database = open_database(url)
    try:
        client = create_app({"DATABASE_URL": url}).test_client()
        assert 'id="no-checkpoint"' in client.get("/ledger").get_data(as_text=True)
        assert 'id="no-blocks"' in client.get("/ledger/blocks").get_data(as_text=True)
        assert client.get("/ledger/check").status_code == 200
        assert client.get("/ledger/blocks/0").status_code == 404
    finally:
        database.close()


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/ledger/blocks/9", 404, None),
        ("/ledger/blocks/x", 400, "bad_height"),
        ("/ledger/blocks/01", 400, "bad_height"),
        ("/ledger/blocks?top=-1", 400, "bad_top"),
        ("/ledger/blocks/0?start=1e3", 400, "bad_start"),
        ("/ledger?debug=1", 400, "unknown_parameter"),
        ("/ledger/check?vkey=x", 400, "unknown_parameter"),
        ("/ledger/", 404, "not_found"),
        ("/ledger/explorer.map", 404, None),
    ],
)
def test_refusals(client: FlaskClient, path: str, status: int, reason: str | None) -> None:
    answer = client.get(path)
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    if reason is not None:
        assert answer.get_json()["error"] == reason


def test_an_unknown_block_is_a_page_in_the_visitors_language(client: FlaskClient) -> None:
    answer = client.get("/ledger/blocks/99", headers={"Accept-Language": "ko"})
    assert answer.status_code == 404 and "그런 블록은 없습니다" in answer.get_data(as_text=True)


def test_stylesheet_is_served_and_the_script_when_built(client: FlaskClient) -> None:
    css = client.get("/ledger/explorer.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    script = client.get("/ledger/explorer.js")
    if (ROOT / "explorer" / "dist" / "explorer.js").is_file():
        assert script.status_code == 200 and script.mimetype == "text/javascript"
    else:
        assert script.status_code == 503


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/ledger", "/ledger/blocks", "/ledger/blocks/1", "/ledger/audit", "/ledger/check"]
    ),
    query=st.dictionaries(
        st.sampled_from(["top", "start", "lang", "id", "x"]),
        st.text(max_size=30),
        max_size=3,
    ),
)
def test_hostile_queries_get_a_page_or_a_clean_refusal(
    client: FlaskClient, path: str, query: dict[str, str]
) -> None:
    answer = client.get(path, query_string=query)
    assert answer.status_code in (200, 400, 404)
    if answer.status_code == 400:
        assert answer.get_json()["error"]


def test_a_damaged_stored_checkpoint_is_a_storage_fault(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/damaged.sqlite"
    database = open_database(url)
    try:
        LedgerBuilder(tag="damaged").block(1)
        BlockEntry.update(checkpoint="not a note").execute()
        client = create_app({"DATABASE_URL": url}).test_client()
        answer = client.get("/ledger")
        assert answer.status_code == 500 and answer.get_json()["error"] == "storage_fault"
        BlockEntry.update(wire=b"\x00").execute()
        assert client.get("/ledger/blocks").get_json()["error"] == "storage_fault"
    finally:
        database.close()


def test_a_table_with_leaf_indexes_registers_its_kind_in_one_line(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How audit entries (their own table with a leaf_index) name their leaves."""
    monkeypatch.setattr(ledger_view, "LEAF_KINDS", [ledger_view.kinds_from(CheckinEntry, "audit")])
    html = client.get("/ledger/blocks/1?lang=en").get_data(as_text=True)
    assert re.findall(r'<tr data-kind="(\w+)"><td>(\d+)</td><td>([^<]+)</td>', html) == [
        ("audit", "3", "audit entry")
    ]


def test_sealed_audit_entries_show_as_audit_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    database = open_database(url)
    try:
        builder = LedgerBuilder(tag="explorer-audit")
        builder.block(2)
        audit_id = append_audit(
            action="case-opened",
            actor="kim.official",
            role="health-official",
            case=bytes(range(16)),
            reason="<b>confirmed</b> case 7",
            counts={"visits": 20},
        )
        builder.block(1)  # waiting audit entries first, then the check-ins
        client = create_app({"DATABASE_URL": url}).test_client()
        html = client.get("/ledger/blocks/1?lang=en").get_data(as_text=True)
        rows = re.findall(r'<tr data-kind="(\w+)"><td>(\d+)</td><td>([^<]+)</td>', html)
        assert rows == [("audit", "2", "audit entry"), ("checkin", "3", "check-in")]
        listed = client.get("/ledger/audit?lang=en").get_data(as_text=True)
        assert f'<tr data-audit-id="{audit_id.hex()}"><td>2</td>' in listed
        assert "case-opened" in listed and "kim.official" in listed
        assert "&lt;b&gt;confirmed&lt;/b&gt; case 7" in listed and "<b>" not in listed
        assert "visits 20" in listed and bytes(range(16)).hex() in listed
        assert 'href="/ledger/blocks/1?lang=en">1</a>' in listed
        assert 'id="audit-more"' not in listed and 'id="audit-first"' not in listed
        assert 'id="no-audit"' in client.get("/ledger/audit?start=3").get_data(as_text=True)
        assert client.get("/ledger/audit?start=x").get_json()["error"] == "bad_start"
        second = append_audit(
            action="export",
            actor="kim.official",
            role="health-official",
            case=bytes(range(16)),
            reason="call list",
        )
        builder.block(1)  # leaf 4 the second entry, 5 a check-in
        monkeypatch.setattr(ledger_view, "AUDIT_PER_PAGE", 1)
        first = client.get("/ledger/audit").get_data(as_text=True)
        assert re.findall(r'data-audit-id="(\w+)"', first) == [audit_id.hex()]
        assert 'id="audit-more" href="/ledger/audit?start=3"' in first
        after = client.get("/ledger/audit?start=3").get_data(as_text=True)
        assert re.findall(r'data-audit-id="(\w+)"', after) == [second.hex()]
        assert 'id="audit-more"' not in after and 'id="audit-first"' in after
    finally:
        database.close()
