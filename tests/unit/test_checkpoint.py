"""Tests for protocol.checkpoint: parsing, signing, a real sum.golang.org checkpoint."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import merkle
from protocol.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from protocol.errors import MalformedError, NoteError, ProtocolError
from protocol.note import NoteSigner, NoteVerifier, add_signatures, open_note, sign_note

# A real checkpoint of the Go checksum database and its public key, as used in
# github.com/transparency-dev/formats log/note_test.go (TestSumDBNoteParsing).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "\u2014 sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfv"
    "imWEPWL+o3GeoWwOoAw=\n"
).encode()

ROOT = hashlib.sha256(b"root").digest()
ROOT64 = base64.b64encode(ROOT).decode()
URLSAFE_ROOT64 = base64.urlsafe_b64encode(bytes([0xFF]) * 32).decode()
LONG_ROOT64 = base64.b64encode(ROOT + b"x").decode()


def test_body_format() -> None:
    cp = Checkpoint("example.com/log", 20852163, ROOT)
    assert cp.to_body() == f"example.com/log\n20852163\n{ROOT64}\n"
    ext = Checkpoint("example.com/log", 0, merkle.EMPTY_ROOT, ("ext one", "two"))
    assert ext.to_body().endswith("\next one\ntwo\n")


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("example.com/log", 0, merkle.EMPTY_ROOT),
        Checkpoint("example.com/log", 1, ROOT),
        Checkpoint("Moon Log", MAX_TREE_SIZE, ROOT, ("6086d1a9", "Waxing gibbous")),
    ],
)
def test_parse_round_trip(cp: Checkpoint) -> None:
    assert parse_checkpoint(cp.to_body()) == cp
    assert parse_checkpoint(cp.to_body().encode()) == cp


@pytest.mark.parametrize(
    "body",
    [
        # Invalid cases from transparency-dev/formats log/checkpoint_test.go.
        "Head\n9944\n",
        f"\n9944\n{ROOT64}\n",
        f"Log\n123\n{ROOT64}",
        f"Log\nbananas\n{ROOT64}\n",
        f"Log\n-34\n{ROOT64}\n",
        f"Log\n3438945738945739845734895735\n{ROOT64}\n",
        "Log\n123\nThisIsn'tBase64\n",
        # Valid in that Go package, but not 32-byte roots / not C2SP (empty extension lines).
        "Log\n123\nYmFuYW5hcw==\n",
        f"Log\n9944\n{ROOT64}\n\n\n\n",
        # Further strictness.
        f"Log\n18446744073709551616\n{ROOT64}\n",
        f"Log\n0123\n{ROOT64}\n",
        f"Log\n+123\n{ROOT64}\n",
        f"Log\n 123\n{ROOT64}\n",
        f"Log\n12 3\n{ROOT64}\n",
        f"Log\n\u0661\u0662\n{ROOT64}\n",
        f"Log\n\n{ROOT64}\n",
        f" Log\n1\n{ROOT64}\n",
        f"Log \n1\n{ROOT64}\n",
        f"Log\n1\n{ROOT64[:-1]}\n",
        f"Log\n1\n{ROOT64} \n",
        f"Log\n1\n{ROOT64[:-2]}B=\n",
        f"Log\n1\n{URLSAFE_ROOT64}\n",
        f"Log\n1\n{LONG_ROOT64}\n",
        f"Log\n1\n{ROOT64}\next\n\n",
        f"Log\r\n1\n{ROOT64}\n",
        "",
        "\n",
    ],
)
def test_parse_rejects(body: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(body)


def test_parse_rejects_bad_bytes() -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(b"Log\xff\n1\n" + ROOT64.encode() + b"\n")
    with pytest.raises(MalformedError):
        parse_checkpoint(b"x" * 100_000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root_hash": ROOT},
        {"origin": "a\nb", "size": 1, "root_hash": ROOT},
        {"origin": " a", "size": 1, "root_hash": ROOT},
        {"origin": "a", "size": -1, "root_hash": ROOT},
        {"origin": "a", "size": 1 << 64, "root_hash": ROOT},
        {"origin": "a", "size": True, "root_hash": ROOT},
        {"origin": "a", "size": 1, "root_hash": ROOT[:31]},
        {"origin": "a", "size": 1, "root_hash": ROOT, "extensions": ("",)},
        {"origin": "a", "size": 1, "root_hash": ROOT, "extensions": ("x\ny",)},
    ],
)
def test_constructor_validates(kwargs: dict[str, object]) -> None:
    with pytest.raises(MalformedError):
        Checkpoint(**kwargs)  # type: ignore[arg-type]


def test_real_sumdb_checkpoint() -> None:
    verifier = NoteVerifier.from_string(SUMDB_VKEY)
    cp = open_checkpoint(SUMDB_NOTE, verifier, origin="go.sum database tree")
    assert cp.origin == "go.sum database tree"
    assert cp.size == 6476701
    assert cp.root_hash == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    assert cp.extensions == ()
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(SUMDB_NOTE, verifier, origin="Go rocks but I might have the wrong ID")
    with pytest.raises(NoteError):
        open_checkpoint(SUMDB_NOTE.replace(b"6476701", b"6476702"), verifier)


def test_sign_and_open() -> None:
    log = NoteSigner.generate("example.com/safecode-log")
    witness = NoteSigner.generate("witness.example/w1")
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    cp = Checkpoint("example.com/safecode-log", len(hashes), merkle.root(hashes))
    signed = sign_checkpoint(cp, log)
    assert signed.startswith((cp.to_body() + "\n\u2014 example.com/safecode-log ").encode())
    assert open_checkpoint(signed, log.verifier()) == cp
    assert open_checkpoint(signed, log.verifier(), origin=cp.origin) == cp
    # A witness cosignature is ignored by the log verifier and checked by the witness's.
    cosigned = add_signatures(signed, witness)
    assert open_checkpoint(cosigned, log.verifier()) == cp
    assert len(open_note(cosigned, [log.verifier(), witness.verifier()]).sigs) == 2
    assert open_checkpoint(sign_checkpoint(cp, log, witness), witness.verifier()) == cp


def test_open_rejects_wrong_key_and_tampering() -> None:
    log = NoteSigner.generate("example.com/log")
    cp = Checkpoint("example.com/log", 3, ROOT)
    signed = sign_checkpoint(cp, log)
    with pytest.raises(NoteError):
        open_checkpoint(signed, NoteSigner.generate("example.com/log").verifier())
    with pytest.raises(NoteError):
        open_checkpoint(signed.replace(b"\n3\n", b"\n4\n"), log.verifier())
    with pytest.raises(NoteError):
        open_checkpoint(signed[:-2] + b"\n", log.verifier())


def test_open_rejects_signed_non_checkpoint() -> None:
    # A valid signature over text that is not a checkpoint ("bad body good sigs").
    log = NoteSigner.generate("Log")
    signed = sign_note("if this is a valid checkpoint then I'll eat my hat\n", log)
    with pytest.raises(MalformedError):
        open_checkpoint(signed, log.verifier())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_parse_checkpoint_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        parse_checkpoint(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["Log", "0", "007", "18446744073709551615", ROOT64, ""]),
            st.text(max_size=50),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_fuzz_parse_checkpoint_lines(lines: list[str], newline: bool) -> None:
    body = "\n".join(lines) + ("\n" if newline else "")
    try:
        cp = parse_checkpoint(body)
    except MalformedError:
        return
    assert cp.to_body() == body


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_open_checkpoint(data: bytes) -> None:
    verifier = NoteVerifier.from_string(SUMDB_VKEY)
    with contextlib.suppress(ProtocolError):
        open_checkpoint(data, verifier)
    with contextlib.suppress(ProtocolError):
        open_checkpoint(SUMDB_NOTE[: len(data)] + data, verifier)
