"""protocol/vectors/wallet.json: fresh, accepted by the Python parsers, and met by the JS wallet.

The JavaScript side (``wallet/test/*.test.js``) checks that the wallet produces the
very same bytes; ``test_node_tests_pass`` runs it when node and the wallet's npm
packages are installed (``./dev setup`` installs both).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import authority_key, authority_seal, contact, keys, signed, vectors
from protocol.credential import Credential
from protocol.presentation import CodeType, Presentation
from protocol.schema import raw, uint
from tests.unit.node_tests import node_skip_reason, run_node_tests

ROOT = Path(__file__).resolve().parents[2]
WALLET = ROOT / "wallet"
VECTORS: dict[str, Any] = json.loads(vectors.PATH.read_text(encoding="utf-8"))
HA = X25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["ha_key"]["private"]))
_ANY = lambda v, n: v  # noqa: E731 - a schema check that takes anything
_REQUEST_SCHEMAS = {
    "wallet-enrol": {
        "ts": uint(),
        "nonce": raw(16),
        "key": raw(32),
        "phone": _ANY,
        "contact": raw(contact.BLOB_SIZE),
    },
    "wallet-batch": {"ts": uint(), "nonce": raw(16), "enrolment": raw(16), "keys": _ANY},
    "wallet-contact": {
        "ts": uint(),
        "nonce": raw(16),
        "enrolment": raw(16),
        "phone": _ANY,
        "contact": raw(contact.BLOB_SIZE),
    },
    "wallet-delete": {"ts": uint(), "nonce": raw(16), "enrolment": raw(16), "revoke": _ANY},
}


def test_committed_file_matches_a_fresh_generation() -> None:
    assert vectors.PATH.read_text(encoding="utf-8") == vectors.render(vectors.generate()), (
        "protocol/vectors/wallet.json is stale: run python -m protocol.vectors"
    )


def test_check_mode_spots_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    assert vectors.main(["--path", str(path)]) == 0
    assert vectors.main(["--check", "--path", str(path)]) == 0
    path.write_text(path.read_text(encoding="utf-8").replace("SC1:", "SC2:"), encoding="utf-8")
    assert vectors.main(["--check", "--path", str(path)]) == 1


def test_json_form_keeps_bytes_and_text_apart() -> None:
    value = {"a": [b"\x00\xff", "00ff", 3], "b": {"c": b""}}
    assert vectors.from_json(vectors.to_json(value)) == value


@pytest.mark.parametrize("case", VECTORS["presentations"], ids=lambda c: c["name"])
def test_presentation_vectors_parse_and_verify(case: dict[str, Any]) -> None:
    shown = Presentation.from_text(case["text"])
    assert shown.to_bytes().hex() == case["cbor"]
    assert shown.code_type == case["code_type"] in (CodeType.CHECKIN, CodeType.DIAGNOSTIC)
    assert shown.credential == Credential.from_array(vectors.from_json(case["credential"]))
    assert shown.signature.hex() == case["signature"]
    issuer = keys.load_public(bytes.fromhex(case["issuer_public"]))
    shown.verify(
        [issuer],
        now=case["timestamp"] + 3,
        expected_type=CodeType(case["code_type"]),
    )


def test_presentation_texts_fit_qr_version_9_at_level_l() -> None:
    """The wallet's default error-correction level: 297 alphanumeric characters fit v9-L (325)."""
    for case in VECTORS["presentations"]:
        assert len(case["text"]) <= 325


@pytest.mark.parametrize("case", VECTORS["signed_requests"], ids=lambda c: c["name"])
def test_signed_request_vectors_unseal_and_verify(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["cbor"])
    unsealed = signed.unseal(data, case["kind"], _REQUEST_SCHEMAS[case["kind"]], max_size=2048)
    unsealed.verify(keys.load_public(bytes.fromhex(case["public_key"])))
    assert unsealed.fields == vectors.from_json(case["fields"])
    assert unsealed.signed_bytes.hex() == case["signed_part"]
    assert len(data) <= 2048


@pytest.mark.parametrize("case", VECTORS["contacts"], ids=lambda c: c["phone"])
def test_contact_vectors_parse_and_pad(case: dict[str, Any]) -> None:
    plain = bytes.fromhex(case["cbor"])
    parsed = contact.parse_contact(plain)
    assert parsed.phone == case["phone"] and parsed.language == case["lang"]
    assert parsed.notify_secret.hex() == case["notify"] and parsed.name == case.get("name")
    padded = bytes.fromhex(case["padded"])
    assert len(padded) == contact.PADDED_SIZE
    assert authority_seal.unpad(padded, "contact") == plain


def test_ha_key_vector_matches_its_private_half() -> None:
    public = authority_key.parse_public_key(VECTORS["ha_key"]["public"])
    assert authority_key.raw_public(public) == authority_key.raw_public(HA)
    assert VECTORS["constants"]["contact_blob_size"] == contact.BLOB_SIZE == 433


def _node_ready() -> str | None:
    """Why the JavaScript tests cannot run here (None if they can)."""
    return node_skip_reason(WALLET / "node_modules" / "cborg")


@pytest.mark.spawns
def test_node_tests_pass() -> None:
    """``node --test`` in wallet/: the JS wallet meets every vector byte for byte."""
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    run_node_tests(WALLET)


@pytest.mark.spawns
def test_contact_sealed_by_javascript_opens_in_python() -> None:
    """A blob sealed by the wallet's HPKE code opens with the HA private key, to the plaintext."""
    reason = _node_ready()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        ["node", "scripts/seal-vectors.mjs"],
        cwd=WALLET,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    blobs = [bytes.fromhex(line) for line in done.stdout.split()]
    assert len(blobs) == len(VECTORS["contacts"])
    for blob, case in zip(blobs, VECTORS["contacts"], strict=True):
        assert len(blob) == contact.BLOB_SIZE
        opened = contact.open_contact(HA, blob)
        assert opened.to_bytes().hex() == case["cbor"]
