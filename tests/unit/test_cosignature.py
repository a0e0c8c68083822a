"""C2SP tlog-cosignature v1: layout, key ids, strict parsing, quorum checks, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import keys
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.cosignature import (
    CosignatureVerifier,
    Cosigner,
    open_cosigned,
    signed_message,
    with_signatures,
)
from protocol.errors import NoteError, ProtocolError
from protocol.note import NoteSigner, NoteVerifier, Signature, parse_note
from tests.unit.wire_checks import seeded

LOG = NoteSigner("example.com/log", seeded("cosig-log"))
W1 = Cosigner("witness.example/w1", seeded("cosig-w1"))
W2 = Cosigner("witness.example/w2", seeded("cosig-w2"))
W3 = Cosigner("witness.example/w3", seeded("cosig-w3"))
CHECKPOINT = sign_checkpoint(Checkpoint("example.com/log", 7, bytes(range(32))), LOG)
BODY = parse_note(CHECKPOINT)[0]

# The example in the C2SP tlog-cosignature spec: its witness line and timestamp.
SPEC_LINE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_TIME = 1679315147


def test_the_spec_example_has_our_layout() -> None:
    raw = base64.b64decode(SPEC_LINE)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == SPEC_TIME


def test_signed_message_and_key_id_follow_the_spec_by_hand() -> None:
    pub = keys.public_bytes(seeded("cosig-w1"))
    digest = hashlib.sha256(b"witness.example/w1\n\x04" + pub).digest()
    assert W1.key_id == int.from_bytes(digest[:4], "big")
    assert W1.key_id != NoteVerifier("witness.example/w1", seeded("cosig-w1").public_key()).key_id
    message = signed_message(BODY, 1234)
    assert message == b"cosignature/v1\ntime 1234\n" + BODY.encode()
    line = W1.cosign(BODY, 1234)
    raw = base64.b64decode(line.b64)
    assert raw[:4] == digest[:4]
    assert raw[4:12] == (1234).to_bytes(8, "big")
    seeded("cosig-w1").public_key().verify(raw[12:], message)  # plain Ed25519, nothing else
    assert line.line().startswith("\u2014 witness.example/w1 ")


def test_vkey_round_trip_and_strictness() -> None:
    vkey = W1.verifier().to_string()
    assert CosignatureVerifier.from_string(vkey) == W1.verifier()
    name, hex_id, key64 = vkey.split("+", 2)
    key = base64.b64decode(key64)
    as_note_key = base64.b64encode(bytes([1]) + key[1:]).decode()
    short_key = base64.b64encode(key[:-1]).decode()
    small_order = base64.b64encode(bytes([4]) + bytes(32)).decode()
    bad = [
        f"{name}+{hex_id}",
        f"{name}+{hex_id.upper()}+{key64}",
        f"{name}+00000000+{key64}",
        f"other+{hex_id}+{key64}",
        f"{name}+{hex_id}+{as_note_key}",  # a note key
        f"{name}+{hex_id}+{short_key}",
        f"{name}+{hex_id}+{key64[:-1]}",
        f"{name}+{hex_id}+{small_order}",  # small order
        f"{name} x+{hex_id}+{key64}",
        f"{name}+{hex_id}+{key64}+",
    ]
    for text in bad:
        with pytest.raises(NoteError):
            CosignatureVerifier.from_string(text)
    assert Cosigner.from_string(W1.to_string()).verifier() == W1.verifier()
    with pytest.raises(NoteError):
        Cosigner.from_string(LOG.to_string())  # a log key (0x01) is not a witness key


def test_open_cosigned_counts_known_witnesses_towards_a_quorum() -> None:
    note = with_signatures(CHECKPOINT, [W1.cosign(BODY, 10), W2.cosign(BODY, 11)])
    witnesses = [W1.verifier(), W2.verifier(), W3.verifier()]
    opened = open_cosigned(note, LOG.verifier(), witnesses, quorum=2)
    assert opened.witnesses == {"witness.example/w1": 10, "witness.example/w2": 11}
    assert opened.checkpoint.size == 7
    with pytest.raises(NoteError, match="quorum is 3"):
        open_cosigned(note, LOG.verifier(), witnesses, quorum=3)
    with pytest.raises(NoteError):
        open_cosigned(note, LOG.verifier(), witnesses[:1], quorum=2)  # unreachable quorum
    # A line by an unknown witness is ignored; the same witness twice counts once.
    twice = with_signatures(note, [W1.cosign(BODY, 12), W3.cosign(BODY, 13)])
    assert open_cosigned(twice, LOG.verifier(), witnesses[:2], quorum=2).witnesses == {
        "witness.example/w1": 10,
        "witness.example/w2": 11,
    }


def test_a_bad_cosignature_by_a_known_witness_rejects_the_note() -> None:
    other_body = BODY.replace("\n7\n", "\n8\n")
    stolen = W1.cosign(other_body, 10)  # a real signature, on another checkpoint
    note = with_signatures(CHECKPOINT, [stolen])
    with pytest.raises(NoteError, match="does not verify"):
        open_cosigned(note, LOG.verifier(), [W1.verifier()], quorum=1)
    line = W1.cosign(BODY, 10)
    raw = bytearray(base64.b64decode(line.b64))
    raw[11] ^= 1  # change the timestamp: the signature covers it
    moved = Signature(line.name, line.key_id, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError):
        open_cosigned(
            with_signatures(CHECKPOINT, [moved]), LOG.verifier(), [W1.verifier()], quorum=1
        )
    short = Signature(line.name, line.key_id, base64.b64encode(bytes(raw[:70])).decode())
    with pytest.raises(NoteError, match="76 bytes"):
        W1.verifier().verify(BODY, short)


def test_the_log_signature_is_still_required() -> None:
    unsigned_by_log = with_signatures(
        sign_checkpoint(Checkpoint("example.com/log", 7, bytes(32)), NoteSigner.generate("x")),
        [W1.cosign(BODY, 1)],
    )
    with pytest.raises(NoteError):
        open_cosigned(unsigned_by_log, LOG.verifier(), [W1.verifier()], quorum=1)


def test_timestamps_must_fit_in_63_bits() -> None:
    W1.cosign(BODY, (1 << 63) - 1)
    for bad in (-1, 1 << 63, 1.5, True):
        with pytest.raises(NoteError):
            W1.cosign(BODY, bad)  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_fuzzed_witness_keys_raise_only_note_errors(text: str) -> None:
    with contextlib.suppress(NoteError):
        CosignatureVerifier.from_string(text)


@given(st.binary(max_size=120))
def test_fuzzed_cosignature_lines_raise_only_protocol_errors(raw: bytes) -> None:
    sig = Signature(
        W1.name, W1.key_id, base64.b64encode(W1.key_id.to_bytes(4, "big") + raw).decode()
    )
    try:
        W1.verifier().verify(BODY, sig)
    except ProtocolError:
        pass
    else:
        raise AssertionError("a random line verified")


@given(st.binary(max_size=400))
def test_fuzzed_cosigned_notes_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        open_cosigned(CHECKPOINT + data, LOG.verifier(), [W1.verifier()], quorum=0)
