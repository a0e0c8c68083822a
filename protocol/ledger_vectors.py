"""Test vectors for the ledger explorer's JavaScript (``explorer/``): notes and proofs.

``python -m protocol.ledger_vectors`` writes ``protocol/vectors/ledger.json`` from fixed
seeds, byte for byte the same on every run (``--check`` only compares). The explorer
checks in the browser what ``safecode ledger verify`` checks in Python, so its code is
held to these cases (``explorer/test/*.test.js``), and
``tests/unit/test_explorer_vectors.py`` holds the Python side to the same verdicts:

- ``keys``: the ledger's verifier key (name = origin), a second key with the same name
  (a wrong key), and key ids as computed from name and key;
- ``notes``: signed checkpoints with the verdict each must get against the ledger key:
  ``ok`` with the parsed origin, size and root, or a failure ``reason``
  (``bad_signature``, ``no_signature``, ``malformed``, ``malformed_checkpoint``);
- ``cosignatures``: a checkpoint cosigned by two witnesses (keys, names, timestamps),
  a line that does not verify, an older cosigned checkpoint (3 leaves, consistent with
  the 7) and a forked one (3 leaves in another order: signed, cosigned, inconsistent);
- ``leaves``: check-in leaves (``protocol.block.leaf_data``) and one audit entry's leaf
  (``audit_leaf_data``, index 5), each with its kind, id, commitment and RFC 9162 hash;
- ``inclusion``: proofs for every leaf of trees of 1 to 7 leaves, with their roots;
- ``bad_inclusion``: proofs that must be refused (a flipped bit, one hash too many or too
  few, a wrong index or size, another root), each with the reason;
- ``consistency`` and ``bad_consistency``: RFC 9162 consistency proofs between every pair
  of those trees, and proofs that must be refused (how the page ties a witnessed
  checkpoint to the one it checked).

Byte strings are lowercase hex; roots in notes are base64, as in a checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

from . import keys, merkle
from .block import audit_leaf_data, leaf_data
from .checkpoint import Checkpoint, sign_checkpoint
from .cosignature import CosignatureVerifier, Cosigner, with_signatures
from .note import NoteSigner, NoteVerifier, Signature, sign_note
from .vectors import ed25519, seed, write_or_check
from .vectors import render as render  # the file format is the wallet vectors'

PATH = Path(__file__).with_name("vectors") / "ledger.json"
FORMAT = 1
ORIGIN = "ledger.example/vectors"
LEAF_COUNT = 7
AUDIT_LEAF_INDEX = 5
COSIGNED_AT = 1796223600


def _leaves() -> list[dict[str, str]]:
    out = []
    for i in range(LEAF_COUNT):
        checkin_id = seed(f"checkin-{i}")[:16]
        commit = hashlib.sha256(b"record %d" % i).digest()
        kind = "audit" if i == AUDIT_LEAF_INDEX else "checkin"
        data = (
            audit_leaf_data(checkin_id, commit)
            if kind == "audit"
            else leaf_data(checkin_id, commit)
        )
        out.append(
            {
                "kind": kind,
                "checkin_id": checkin_id.hex(),
                "commit": commit.hex(),
                "data": data.hex(),
                "hash": merkle.leaf_hash(data).hex(),
            }
        )
    return out


def _inclusion(hashes: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for size in range(1, len(hashes) + 1):
        root = merkle.root(hashes[:size])
        for index in range(size):
            out.append(
                {
                    "tree_size": size,
                    "leaf_index": index,
                    "leaf_hash": hashes[index].hex(),
                    "root": root.hex(),
                    "proof": [p.hex() for p in merkle.inclusion_proof(hashes[:size], index)],
                }
            )
    return out


def _consistency(hashes: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for new in range(1, len(hashes) + 1):
        for old in range(1, new + 1):
            out.append(
                {
                    "old_size": old,
                    "new_size": new,
                    "old_root": merkle.root(hashes[:old]).hex(),
                    "new_root": merkle.root(hashes[:new]).hex(),
                    "proof": [p.hex() for p in merkle.consistency_proof(hashes[:new], old)],
                }
            )
    return out


def _bad_consistency(hashes: list[bytes]) -> list[dict[str, Any]]:
    old, new = 3, 7
    proof = [p.hex() for p in merkle.consistency_proof(hashes, old)]
    flipped = ("1" if proof[1][0] == "0" else "0") + proof[1][1:]
    base = {
        "old_size": old,
        "new_size": new,
        "old_root": merkle.root(hashes[:old]).hex(),
        "new_root": merkle.root(hashes).hex(),
        "proof": proof,
    }
    return [
        {
            **base,
            "name": "flipped",
            "reason": "root_mismatch",
            "proof": [proof[0], flipped, *proof[2:]],
        },
        {**base, "name": "too-short", "reason": "proof_length", "proof": proof[:-1]},
        {**base, "name": "too-long", "reason": "proof_length", "proof": [*proof, proof[0]]},
        {
            **base,
            "name": "other-old-root",
            "reason": "root_mismatch",
            "old_root": merkle.root(hashes[:2]).hex(),
        },
        {
            **base,
            "name": "other-new-root",
            "reason": "root_mismatch",
            "new_root": merkle.root(hashes[:6]).hex(),
        },
        {**base, "name": "old-after-new", "reason": "malformed", "old_size": 8},
        {
            **base,
            "name": "equal-sizes-with-proof",
            "reason": "proof_length",
            "old_size": 7,
            "old_root": merkle.root(hashes).hex(),
        },
    ]


def _bad_inclusion(hashes: list[bytes]) -> list[dict[str, Any]]:
    size, index = 7, 2
    root = merkle.root(hashes)
    proof = merkle.inclusion_proof(hashes, index)
    flipped = bytearray(proof[1])
    flipped[0] ^= 1
    base = {
        "tree_size": size,
        "leaf_index": index,
        "leaf_hash": hashes[index].hex(),
        "root": root.hex(),
        "proof": [p.hex() for p in proof],
    }
    other_root = merkle.root(hashes[:6]).hex()
    return [
        {
            **base,
            "name": "flipped-bit",
            "reason": "root_mismatch",
            "proof": [proof[0].hex(), bytes(flipped).hex(), proof[2].hex()],
        },
        {
            **base,
            "name": "too-long",
            "reason": "proof_length",
            "proof": base["proof"] + [hashes[0].hex()],
        },
        {**base, "name": "too-short", "reason": "proof_length", "proof": base["proof"][:-1]},
        {**base, "name": "wrong-index", "reason": "root_mismatch", "leaf_index": 3},
        {**base, "name": "index-out-of-range", "reason": "index_range", "leaf_index": 7},
        {**base, "name": "wrong-size", "reason": "proof_length", "tree_size": 4},
        {**base, "name": "other-root", "reason": "root_mismatch", "root": other_root},
        {**base, "name": "other-leaf", "reason": "root_mismatch", "leaf_hash": hashes[3].hex()},
        {
            **base,
            "name": "short-hash",
            "reason": "malformed",
            "proof": [proof[0].hex()[:62]] + [p.hex() for p in proof[1:]],
        },
    ]


def _notes(signer: NoteSigner, wrong: NoteSigner, checkpoint: Checkpoint) -> list[dict[str, Any]]:
    good = sign_checkpoint(checkpoint, signer).decode("utf-8")
    body = checkpoint.to_body()
    tampered = good.replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n", 1)
    other = NoteSigner("witness.example/other", ed25519("other-signer"))
    flipped_sig = good[: good.rindex(" ") + 1] + _flip_b64(good[good.rindex(" ") + 1 : -1]) + "\n"
    parsed = {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": checkpoint.root_hash.hex(),
    }
    not_a_checkpoint = sign_checkpoint_text("just a note\n", signer)
    return [
        {"name": "good", "note": good, "verdict": "ok", "checkpoint": parsed},
        {
            "name": "good-with-other-signers",
            "note": sign_checkpoint(checkpoint, other, signer).decode("utf-8"),
            "verdict": "ok",
            "checkpoint": parsed,
        },
        {"name": "tampered-size", "note": tampered, "verdict": "bad_signature"},
        {"name": "flipped-signature", "note": flipped_sig, "verdict": "bad_signature"},
        {
            "name": "wrong-key-same-name",
            "note": sign_checkpoint(checkpoint, wrong).decode("utf-8"),
            "verdict": "no_signature",
        },
        {
            "name": "other-signer-only",
            "note": sign_checkpoint(checkpoint, other).decode("utf-8"),
            "verdict": "no_signature",
        },
        {"name": "no-blank-line", "note": body + "\u2014 x AAAA\n", "verdict": "malformed"},
        {"name": "no-signatures", "note": body + "\n", "verdict": "malformed"},
        {"name": "not-a-checkpoint", "note": not_a_checkpoint, "verdict": "malformed_checkpoint"},
    ]


def sign_checkpoint_text(text: str, signer: NoteSigner) -> str:
    """A note over any text (for a note that verifies but is no checkpoint)."""
    return sign_note(text, signer).decode("utf-8")


def _flip_b64(text: str) -> str:
    """The base64 text with one signature bit flipped (still canonical)."""
    raw = bytearray(base64.b64decode(text))
    raw[10] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def _cosigned(signer: NoteSigner, witnesses: list[Cosigner], checkpoint: Checkpoint) -> str:
    body = checkpoint.to_body()
    lines: list[Signature] = [w.cosign(body, COSIGNED_AT + i) for i, w in enumerate(witnesses)]
    return with_signatures(sign_checkpoint(checkpoint, signer), lines).decode("utf-8")


def _cosignatures(
    signer: NoteSigner, checkpoint: Checkpoint, hashes: list[bytes]
) -> dict[str, Any]:
    witnesses = [Cosigner(f"witness.example/w{i}", ed25519(f"witness-{i}")) for i in (1, 2)]
    body = checkpoint.to_body()
    lines: list[Signature] = [w.cosign(body, COSIGNED_AT + i) for i, w in enumerate(witnesses)]
    note = with_signatures(sign_checkpoint(checkpoint, signer), lines).decode("utf-8")
    older = Checkpoint(checkpoint.origin, 3, merkle.root(hashes[:3]))
    forked = Checkpoint(checkpoint.origin, 3, merkle.root([hashes[0], hashes[2], hashes[1]]))
    bad_line = Signature(lines[0].name, lines[0].key_id, _flip_b64(lines[0].b64))
    bad = with_signatures(sign_checkpoint(checkpoint, signer), [bad_line]).decode("utf-8")
    return {
        "note": note,
        "witnesses": [
            {
                "vkey": w.verifier().to_string(),
                "name": w.name,
                "key_id": f"{w.key_id:08x}",
                "timestamp": COSIGNED_AT + i,
            }
            for i, w in enumerate(witnesses)
        ],
        "bad_note": bad,
        "bad_witness": witnesses[0].name,
        "older_note": _cosigned(signer, witnesses, older),
        "forked_note": _cosigned(signer, witnesses, forked),
    }


def _key(verifier: NoteVerifier | CosignatureVerifier, raw: bytes) -> dict[str, str]:
    return {
        "vkey": verifier.to_string(),
        "name": verifier.name,
        "key_id": f"{verifier.key_id:08x}",
        "public": raw.hex(),
    }


def generate() -> dict[str, Any]:
    """Every vector, from fixed seeds (the same value on every call)."""
    signer = NoteSigner(ORIGIN, ed25519("ledger"))
    wrong = NoteSigner(ORIGIN, ed25519("not-the-ledger"))
    leaves = _leaves()
    hashes = [bytes.fromhex(leaf["hash"]) for leaf in leaves]
    checkpoint = Checkpoint(ORIGIN, LEAF_COUNT, merkle.root(hashes))

    return {
        "format": FORMAT,
        "about": "safecode ledger explorer test vectors; generated by "
        "`python -m protocol.ledger_vectors`",
        "keys": {
            "ledger": _key(signer.verifier(), keys.public_bytes(ed25519("ledger"))),
            "wrong": _key(wrong.verifier(), keys.public_bytes(ed25519("not-the-ledger"))),
        },
        "notes": _notes(signer, wrong, checkpoint),
        "cosignatures": _cosignatures(signer, checkpoint, hashes),
        "leaves": leaves,
        "empty_root": merkle.EMPTY_ROOT.hex(),
        "inclusion": _inclusion(hashes),
        "bad_inclusion": _bad_inclusion(hashes),
        "consistency": _consistency(hashes),
        "bad_consistency": _bad_consistency(hashes),
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``protocol/vectors/ledger.json``."""
    return write_or_check("protocol.ledger_vectors", PATH, generate, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
