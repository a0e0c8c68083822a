"""Read API: block pages, block leaves, inclusion and consistency proofs, bad parameters."""

from __future__ import annotations

import base64
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.db import open_database
from aggregator.web import create_app
from protocol import merkle
from protocol.block import parse_block
from protocol.checkpoint import open_checkpoint
from protocol.errors import ConsistencyProofError, InclusionProofError
from protocol.note import NoteVerifier
from tests.unit.ledger_builder import LEDGER, ORIGIN, LedgerBuilder, leaf_hashes

VERIFIER = NoteVerifier.from_public_key(ORIGIN, LEDGER.public_key())
BLOCK_SIZES = (3, 1, 4, 1, 5)  # tree sizes 3, 4, 8, 9, 14


@pytest.fixture(scope="module")
def ledger(module_db_url: str) -> Iterator[tuple[Flask, list[bytes]]]:
    """Five blocks sealed through ingest and the sequencer, plus one unsealed check-in.

    On SQLite and on PostgreSQL (``module_db_url``).
    """
    url = module_db_url
    database = open_database(url)
    builder = LedgerBuilder()
    ids: list[bytes] = []
    for count in BLOCK_SIZES:
        ids += builder.block(count, "kiosk-a" if len(ids) % 2 else "kiosk-b")
    ids.append(builder.scan("kiosk-a"))  # unsealed
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    yield app, ids
    database.close()


@pytest.fixture
def client(ledger: tuple[Flask, list[bytes]], tmp_path: Path) -> FlaskClient:
    app, _ = ledger
    open_database(app.config["DATABASE_URL"])  # other tests may have opened another
    return app.test_client()


@pytest.fixture
def ids(ledger: tuple[Flask, list[bytes]]) -> list[bytes]:
    return ledger[1]


def checkpoints(client: FlaskClient) -> dict[int, bytes]:
    """tree size -> root, from every block's verified checkpoint."""
    out = {}
    for block in client.get("/v1/blocks?limit=1000").get_json()["blocks"]:
        cp = open_checkpoint(block["checkpoint"], VERIFIER, ORIGIN)
        out[cp.size] = cp.root_hash
    return out


def test_block_pages_cover_every_block_once(client: FlaskClient) -> None:
    seen = []
    start = 0
    while start is not None:
        page = client.get(f"/v1/blocks?start={start}&limit=2").get_json()
        assert len(page["blocks"]) <= 2
        seen += [b["height"] for b in page["blocks"]]
        start = page["next"]
    assert seen == [0, 1, 2, 3, 4]
    assert client.get("/v1/blocks?start=5").get_json() == {"blocks": [], "next": None}
    assert client.get("/v1/blocks").get_json()["next"] is None


def test_block_leaves_rebuild_the_signed_roots(client: FlaskClient) -> None:
    tree = merkle.MerkleAccumulator()
    for height in range(len(BLOCK_SIZES)):
        body = client.get(f"/v1/blocks/{height}/leaves").get_json()
        header = parse_block(
            base64.b64decode(client.get(f"/v1/blocks/{height}").get_json()["header"])
        )
        assert body["first_leaf"] == header.first_leaf == tree.size
        assert len(body["leaves"]) == BLOCK_SIZES[height]
        tree.extend(bytes.fromhex(h) for h in body["leaves"])
        assert (tree.size, tree.root()) == (header.tree_size, header.root)
    assert client.get("/v1/blocks/5/leaves").status_code == 404


def test_inclusion_proofs_verify_for_every_sealed_checkin(
    client: FlaskClient, ids: list[bytes]
) -> None:
    roots = checkpoints(client)
    leaves = leaf_hashes()
    for index, checkin_id in enumerate(ids[:-1]):
        body = client.get(f"/v1/proof/inclusion/{checkin_id.hex()}").get_json()
        assert body["leaf_index"] == index
        assert body["tree_size"] == 14
        assert body["leaf_hash"] == leaves[index].hex()
        checkpoint = open_checkpoint(body["checkpoint"], VERIFIER, ORIGIN)
        assert checkpoint.size == 14
        proof = [bytes.fromhex(p) for p in body["proof"]]
        merkle.verify_inclusion(leaves[index], index, 14, proof, checkpoint.root_hash)
        assert body["commit"] is not None
        # Against every older checkpoint that contains it too.
        for size, root in roots.items():
            answer = client.get(f"/v1/proof/inclusion/{checkin_id.hex()}?tree_size={size}")
            if index >= size:
                assert answer.status_code == 400
                assert answer.get_json()["error"] == "not_in_tree"
                continue
            path = [bytes.fromhex(p) for p in answer.get_json()["proof"]]
            merkle.verify_inclusion(leaves[index], index, size, path, root)
            with pytest.raises(InclusionProofError):
                merkle.verify_inclusion(leaves[index], index, size, path, roots[14][::-1])


def test_inclusion_refusals(client: FlaskClient, ids: list[bytes]) -> None:
    unsealed = client.get(f"/v1/proof/inclusion/{ids[-1].hex()}")
    assert (unsealed.status_code, unsealed.get_json()["error"]) == (404, "not_sealed")
    unknown = client.get(f"/v1/proof/inclusion/{'ab' * 16}")
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "unknown_checkin")
    not_a_checkpoint = client.get(f"/v1/proof/inclusion/{ids[0].hex()}?tree_size=5")
    assert not_a_checkpoint.get_json()["error"] == "not_a_checkpoint"


def test_consistency_proofs_between_every_pair_of_sizes(client: FlaskClient) -> None:
    roots = checkpoints(client)
    leaves = leaf_hashes()
    for old in range(1, 15):
        old_root = merkle.root(leaves[:old])  # any size, not only block boundaries
        for new in roots:
            if new < old:
                continue
            body = client.get(f"/v1/proof/consistency?old={old}&new={new}").get_json()
            assert (body["old"], body["new"]) == (old, new)
            proof = [bytes.fromhex(p) for p in body["proof"]]
            merkle.verify_consistency(old, new, old_root, roots[new], proof)
            if old < new:
                with pytest.raises(ConsistencyProofError):
                    merkle.verify_consistency(old, new, roots[new], roots[new], proof)
    latest = client.get("/v1/proof/consistency?old=3").get_json()
    assert latest["new"] == 14


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/v1/proof/consistency", "bad_old"),
        ("/v1/proof/consistency?old=0&new=3", "bad_old"),
        ("/v1/proof/consistency?old=4&new=3", "old_after_new"),
        ("/v1/proof/consistency?old=3&new=15", "size_out_of_range"),
        ("/v1/proof/consistency?old=3&new=99999999999999999999999", "bad_new"),
        ("/v1/proof/consistency?old=-1", "bad_old"),
        ("/v1/proof/consistency?old=1&old=2", "bad_old"),
        ("/v1/proof/consistency?old=1&extra=2", "unknown_parameter"),
        ("/v1/proof/inclusion/xyz", "bad_checkin_id"),
        ("/v1/proof/inclusion/" + "AB" * 16, "bad_checkin_id"),
        ("/v1/proof/inclusion/" + "ab" * 17, "bad_checkin_id"),
        ("/v1/proof/inclusion/" + "ab" * 16 + "?tree_size=0", "bad_tree_size"),
        ("/v1/proof/inclusion/" + "ab" * 16 + "?tree_size=x", "bad_tree_size"),
        ("/v1/blocks?limit=1001", "bad_limit"),
        ("/v1/blocks?limit=0", "bad_limit"),
        ("/v1/blocks?start=-3", "bad_start"),
        ("/v1/blocks?limit=100000000000000000000000000", "bad_limit"),
        ("/v1/blocks/1/leaves?x=1", "unknown_parameter"),
        ("/v1/checkpoint/cosigned?min=0", "bad_min"),
        ("/v1/checkpoint/cosigned?min=101", "bad_min"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(client: FlaskClient, path: str, reason: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.data
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == reason
    assert response.get_json()["message"]


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    missing = client.get("/v1/nothing")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "not_found")
    wrong = client.delete("/v1/checkpoint")
    assert (wrong.status_code, wrong.get_json()["error"]) == (405, "method_not_allowed")


PATHS = [
    "/v1/blocks/{a}",
    "/v1/blocks/{a}/leaves",
    "/v1/blocks?start={a}&limit={b}",
    "/v1/proof/inclusion/{a}?tree_size={b}",
    "/v1/proof/inclusion/{a}",
    "/v1/proof/consistency?old={a}&new={b}",
    "/v1/proof/consistency?{a}={b}",
    "/v1/checkpoint/cosigned?min={a}",
    "/v1/kiosks/{a}",
    "/{a}",
]
PIECES = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.text(string.hexdigits, max_size=40),
    st.text(max_size=30),
    st.binary(max_size=20).map(lambda b: b.hex()),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(template=st.sampled_from(PATHS), a=PIECES, b=PIECES)
def test_fuzzed_read_requests_never_500(client: FlaskClient, template: str, a: str, b: str) -> None:
    path = template.format(a=quote(a, safe=""), b=quote(b, safe=""))
    response = client.get(path)
    assert response.status_code in (200, 400, 404, 405), (path, response.data)
    assert response.mimetype == "application/json"
    if response.status_code != 200:
        assert response.get_json()["error"]
