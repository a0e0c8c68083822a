"""protocol/vectors/ledger.json: fresh, the Python verdicts, and the explorer's JS agrees.

Every verdict in the file is checked here with the Python code ``safecode ledger verify``
uses (protocol.note, protocol.checkpoint, protocol.cosignature, protocol.merkle);
``explorer/test/*.test.js`` holds the JavaScript to the same verdicts, and
``test_node_tests_pass`` runs it when node is installed (``./dev setup`` installs it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ledger_vectors, merkle
from protocol.block import Leaf, audit_leaf_data, leaf_data, parse_any_leaf
from protocol.checkpoint import parse_checkpoint
from protocol.cosignature import CosignatureVerifier
from protocol.errors import ConsistencyProofError, InclusionProofError, MalformedError, NoteError
from protocol.note import NoteVerifier, open_note, parse_note
from tests.unit.node_tests import node_skip_reason, run_node_tests

ROOT = Path(__file__).resolve().parents[2]
EXPLORER = ROOT / "explorer"
VECTORS: dict[str, Any] = json.loads(ledger_vectors.PATH.read_text(encoding="utf-8"))
LEDGER = NoteVerifier.from_string(VECTORS["keys"]["ledger"]["vkey"])


def test_committed_file_matches_a_fresh_generation() -> None:
    assert ledger_vectors.PATH.read_text(encoding="utf-8") == ledger_vectors.render(
        ledger_vectors.generate()
    ), "protocol/vectors/ledger.json is stale: run python -m protocol.ledger_vectors"


def test_check_mode_spots_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    assert ledger_vectors.main(["--path", str(path)]) == 0
    assert ledger_vectors.main(["--check", "--path", str(path)]) == 0
    path.write_text(path.read_text(encoding="utf-8").replace('"ok"', '"no"'), encoding="utf-8")
    assert ledger_vectors.main(["--check", "--path", str(path)]) == 1


def test_keys_match_their_strings() -> None:
    for key in VECTORS["keys"].values():
        verifier = NoteVerifier.from_string(key["vkey"])
        assert (verifier.name, f"{verifier.key_id:08x}") == (key["name"], key["key_id"])
    assert VECTORS["keys"]["ledger"]["name"] == VECTORS["keys"]["wrong"]["name"]
    assert VECTORS["keys"]["ledger"]["key_id"] != VECTORS["keys"]["wrong"]["key_id"]


def _note_verdict(note: str) -> str:
    """What Python says of a note against the ledger key, in the vectors' words."""
    try:
        opened = open_note(note, LEDGER)
    except NoteError as exc:
        message = str(exc)
        if "invalid signature" in message:
            return "bad_signature"
        if "no signature from a known key" in message:
            return "no_signature"
        return "malformed"
    try:
        parse_checkpoint(opened.text)
    except MalformedError:
        return "malformed_checkpoint"
    return "ok"


@pytest.mark.parametrize("case", VECTORS["notes"], ids=lambda c: c["name"])
def test_note_verdicts(case: dict[str, Any]) -> None:
    assert _note_verdict(case["note"]) == case["verdict"]
    if case["verdict"] == "ok":
        checkpoint = parse_checkpoint(parse_note(case["note"])[0])
        assert checkpoint.origin == case["checkpoint"]["origin"]
        assert checkpoint.size == case["checkpoint"]["size"]
        assert checkpoint.root_hash.hex() == case["checkpoint"]["root"]


def test_wrong_key_finds_no_signature_on_the_good_note() -> None:
    good = next(n for n in VECTORS["notes"] if n["name"] == "good")
    wrong = NoteVerifier.from_string(VECTORS["keys"]["wrong"]["vkey"])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(good["note"], wrong)


def test_cosignatures() -> None:
    cosigned = VECTORS["cosignatures"]
    body, sigs = parse_note(cosigned["note"])
    for witness in cosigned["witnesses"]:
        verifier = CosignatureVerifier.from_string(witness["vkey"])
        (line,) = [s for s in sigs if verifier.matches(s)]
        assert verifier.verify(body, line) == witness["timestamp"]
    bad_body, bad_sigs = parse_note(cosigned["bad_note"])
    first = CosignatureVerifier.from_string(cosigned["witnesses"][0]["vkey"])
    (bad_line,) = [s for s in bad_sigs if first.matches(s)]
    with pytest.raises(NoteError, match="does not verify"):
        first.verify(bad_body, bad_line)


def test_leaves() -> None:
    assert [leaf["kind"] for leaf in VECTORS["leaves"]].count("audit") == 1
    for leaf in VECTORS["leaves"]:
        ident, commit = bytes.fromhex(leaf["checkin_id"]), bytes.fromhex(leaf["commit"])
        make = audit_leaf_data if leaf["kind"] == "audit" else leaf_data
        data = make(ident, commit)
        assert data.hex() == leaf["data"]
        assert merkle.leaf_hash(data).hex() == leaf["hash"]
        assert parse_any_leaf(data) == Leaf(leaf["kind"], ident, commit)


def _verify(case: dict[str, Any]) -> None:
    merkle.verify_inclusion(
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )


def test_inclusion_proofs_verify() -> None:
    sizes = {c["tree_size"] for c in VECTORS["inclusion"]}
    assert sizes == set(range(1, ledger_vectors.LEAF_COUNT + 1))
    for case in VECTORS["inclusion"]:
        _verify(case)


_REASONS = {
    "root_mismatch": "does not lead to the expected root",
    "proof_length": "wrong proof length",
    "index_range": "out of range",
    "malformed": "must be a 32-byte hash",
}


@pytest.mark.parametrize("case", VECTORS["bad_inclusion"], ids=lambda c: c["name"])
def test_bad_inclusion_proofs_fail_for_their_reason(case: dict[str, Any]) -> None:
    with pytest.raises(InclusionProofError, match=_REASONS[case["reason"]]):
        _verify(case)


def _node_ready() -> str | None:
    """Why the JavaScript tests cannot run here (None if they can)."""
    return node_skip_reason()  # the tests import no npm package: only the build needs esbuild


@pytest.mark.spawns
def test_node_tests_pass() -> None:
    """``node --test`` in explorer/: the JS gives every vector its verdict."""
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    run_node_tests(EXPLORER)


_GOOD_NOTES = [n["note"] for n in VECTORS["notes"] if n["verdict"] == "ok"]
_PIECES = [
    "\n",
    "\n\n",
    " ",
    "+",
    "=",
    "\u2014 ",
    "\u2014",
    "0",
    "A",
    "/",
    "\t",
    "\r",
    "\u3000",
    "é",
]


@st.composite
def _mutated_notes(draw: st.DrawFn) -> str:
    """A signed checkpoint with a few characters replaced, removed or inserted."""
    note = draw(st.sampled_from(_GOOD_NOTES))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(note)))
        piece = draw(st.sampled_from(_PIECES) | st.text(max_size=3))
        cut = draw(st.integers(0, 2))
        note = note[:at] + piece + note[at + cut :]
    return note


def _python_verdict(note: str) -> str:
    verdict = _note_verdict(note)
    if verdict != "ok":
        return verdict
    checkpoint = parse_checkpoint(open_note(note, LEDGER).text)
    return f"ok:{checkpoint.origin}:{checkpoint.size}:{checkpoint.root_hash.hex()}"


@pytest.mark.spawns
@settings(max_examples=8, deadline=None)
@given(notes=st.lists(_mutated_notes(), min_size=40, max_size=40))
def test_javascript_and_python_judge_mutated_notes_alike(notes: list[str]) -> None:
    """Differential fuzzing: the explorer's note and checkpoint parsers against Python's."""
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    request = json.dumps({"vkey": LEDGER.to_string(), "notes": notes})
    done = subprocess.run(
        ["node", "scripts/verdicts.mjs"],
        cwd=EXPLORER,
        input=request,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    javascript = json.loads(done.stdout)
    for note, js in zip(notes, javascript, strict=True):
        assert js == _python_verdict(note), repr(note)


def _consistent(case: dict[str, Any]) -> None:
    merkle.verify_consistency(
        case["old_size"],
        case["new_size"],
        bytes.fromhex(case["old_root"]),
        bytes.fromhex(case["new_root"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )


def test_consistency_proofs_verify() -> None:
    assert len(VECTORS["consistency"]) == 28
    for case in VECTORS["consistency"]:
        _consistent(case)


_CONSISTENCY_REASONS = {
    "root_mismatch": "does not match the (old|new) root|roots differ",
    "proof_length": "wrong proof length|not empty",
    "malformed": "greater than new size",
}


@pytest.mark.parametrize("case", VECTORS["bad_consistency"], ids=lambda c: c["name"])
def test_bad_consistency_proofs_fail_for_their_reason(case: dict[str, Any]) -> None:
    with pytest.raises(ConsistencyProofError, match=_CONSISTENCY_REASONS[case["reason"]]):
        _consistent(case)
