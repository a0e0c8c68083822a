"""Tests for protocol.note: Go reference vectors, round trips, tampering and fuzzing."""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import NoteError, ProtocolError
from protocol.note import (
    MAX_NOTE_SIZE,
    NoteSigner,
    NoteVerifier,
    Signature,
    add_signatures,
    key_id,
    open_note,
    parse_note,
    sign_note,
)

# Vectors copied from golang.org/x/mod/sumdb/note/note_test.go (TestNewVerifier,
# TestNewSigner, TestSign, TestVerifierList, TestOpen).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n"
PETER = Signature("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = Signature("EnochRoot", 0xAF0CFE78, ENOCH_B64)
GO_NOTE = (TEXT + "\n" + PETER_SIG).encode()

# Key pairs from github.com/transparency-dev/formats log/note_test.go.
FORMATS_KEYS = [
    (
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
    ),
    (
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
    ),
]


def _insert(sig_line: str, at: int, extra: bytes) -> bytes:
    """Insert bytes at a byte offset, as the Go test does with peterSig[:60]+"ABCD"."""
    raw = sig_line.encode()
    return raw[:at] + extra + raw[at:]


@pytest.fixture(scope="module")
def peter() -> NoteVerifier:
    return NoteVerifier.from_string(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> NoteVerifier:
    return NoteVerifier.from_string(ENOCH_VKEY)


# --- keys -------------------------------------------------------------------


def test_go_verifier_key(peter: NoteVerifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == 0xC74F20A3
    assert peter.to_string() == PETER_VKEY


def test_go_signer_key_matches_verifier() -> None:
    signer = NoteSigner.from_string(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.to_string() == PETER_SKEY
    assert signer.verifier().to_string() == PETER_VKEY


@pytest.mark.parametrize(("vkey", "skey"), FORMATS_KEYS)
def test_transparency_dev_key_pairs(vkey: str, skey: str) -> None:
    signer = NoteSigner.from_string(skey)
    assert signer.verifier().to_string() == vkey
    assert NoteVerifier.from_string(vkey) == signer.verifier()
    assert signer.to_string() == skey


def test_key_id_formula(peter: NoteVerifier) -> None:
    raw = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]
    assert key_id("PeterNeumann", raw) == 0xC74F20A3


def test_go_verifier_manglings_rejected() -> None:
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if i != 0 or j != len(b):
                with pytest.raises(NoteError):
                    NoteVerifier.from_string(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(NoteError):
            NoteVerifier.from_string(mangled.decode())


def test_go_signer_manglings_rejected() -> None:
    b = PETER_SKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if i != 0 or j != len(b):
                with pytest.raises(NoteError):
                    NoteSigner.from_string(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(NoteError):
            NoteSigner.from_string(mangled.decode())


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        # From the Go test: wrong key length and unknown algorithm, key ids adjusted.
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "canonical base64",
        ),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAAAA", "32 bytes"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy", "32 bytes"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "algorithm"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "base64"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!", "base64"),
        ("PeterNeumann+c74f20a3+", "empty key"),
        ("Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("PeterNeumann", "malformed"),
        ("", "malformed"),
    ],
)
def test_malformed_verifier_keys(vkey: str, match: str) -> None:
    with pytest.raises(NoteError, match=match):
        NoteVerifier.from_string(vkey)


def test_wrong_type_byte_with_matching_key_id() -> None:
    signer = NoteSigner.generate("example.com/log")
    raw = base64.b64decode(signer.verifier().to_string().split("+", 2)[2])
    bad = b"\x02" + raw[1:]
    vkey = f"example.com/log+{signer.key_id:08x}+{base64.b64encode(bad).decode()}"
    with pytest.raises(NoteError, match="algorithm"):
        NoteVerifier.from_string(vkey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "tab\tname", "nbsp\u00a0name", "nl\n"])
def test_invalid_names_rejected(name: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner.from_private_key(name, Ed25519PrivateKey.generate())


def test_generate_round_trip() -> None:
    signer = NoteSigner.generate("example.com/kiosk-7")
    again = NoteSigner.from_string(signer.to_string())
    assert again.key_id == signer.key_id
    assert again.verifier() == signer.verifier()
    v = NoteVerifier.from_string(signer.verifier().to_string())
    sig = signer.sign(b"hi")
    assert v.verify(b"hi", sig)
    assert not v.verify(b"hj", sig)
    assert not v.verify(b"hi", sig[:-1])
    assert not v.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])


# --- signing ----------------------------------------------------------------


def test_go_sign_vector() -> None:
    signer = NoteSigner.from_string(PETER_SKEY)
    assert sign_note(TEXT, signer) == GO_NOTE
    assert sign_note(TEXT.encode(), signer) == GO_NOTE


@pytest.mark.parametrize(
    "text", ["abc", "", "no newline at end", "ctrl\x01char\n", "cr\r\n", b"\xff\n"]
)
def test_sign_rejects_bad_text(text: str | bytes) -> None:
    with pytest.raises(NoteError):
        sign_note(text, NoteSigner.from_string(PETER_SKEY))


def test_sign_needs_a_signer_and_no_duplicates() -> None:
    signer = NoteSigner.from_string(PETER_SKEY)
    with pytest.raises(NoteError):
        sign_note(TEXT)
    with pytest.raises(NoteError, match="duplicate"):
        sign_note(TEXT, signer, signer)


def test_sign_rejects_oversize_text() -> None:
    with pytest.raises(NoteError, match="larger"):
        sign_note("x" * MAX_NOTE_SIZE + "\n", NoteSigner.from_string(PETER_SKEY))


def test_text_with_blank_lines_round_trips() -> None:
    # The spec allows empty lines in the text; the last one separates signatures.
    signer = NoteSigner.generate("example.com/x")
    for text in ["a\n\nb\n", "a\n\n", "\n", "\n\n\n"]:
        note = open_note(sign_note(text, signer), [signer.verifier()])
        assert note.text == text


def test_add_signatures_cosigns_and_replaces(peter: NoteVerifier) -> None:
    peter_signer = NoteSigner.from_string(PETER_SKEY)
    witness = NoteSigner.generate("witness.example/w1")
    cosigned = add_signatures(GO_NOTE, witness)
    assert cosigned.startswith(GO_NOTE)
    assert cosigned[len(GO_NOTE) :].startswith("\u2014 witness.example/w1 ".encode())
    note = open_note(cosigned, [peter, witness.verifier()])
    assert [s.name for s in note.sigs] == ["PeterNeumann", "witness.example/w1"]
    # Re-signing with an existing key replaces its line instead of duplicating it.
    resigned = add_signatures(cosigned, peter_signer)
    assert resigned.count(b"PeterNeumann") == 1
    assert [s.name for s in open_note(resigned, [peter, witness.verifier()]).sigs] == [
        "witness.example/w1",
        "PeterNeumann",
    ]
    with pytest.raises(NoteError):
        add_signatures(TEXT.encode(), witness)


# --- opening ----------------------------------------------------------------


def test_go_open_one_verified_one_not(peter: NoteVerifier) -> None:
    n = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [peter])
    assert n.text == TEXT
    assert n.sigs == [PETER]
    assert n.unverified_sigs == [ENOCH]


def test_go_open_both_verified(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    n = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [peter, enoch])
    assert n.sigs == [PETER, ENOCH]
    assert n.unverified_sigs == []


def test_go_open_none_verified() -> None:
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [])


def test_open_accepts_single_verifier_and_str(peter: NoteVerifier) -> None:
    assert open_note(GO_NOTE.decode(), peter).sigs == [PETER]


def test_go_open_unused_duplicated_verifier(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    open_note((TEXT + "\n" + PETER_SIG).encode(), [enoch, peter, enoch])


def test_open_ambiguous_verifier(enoch: NoteVerifier) -> None:
    impostor = NoteSigner.generate("EnochRoot").verifier()
    impostor._key_id = enoch.key_id  # force a name+key id collision with another key
    with pytest.raises(NoteError, match="ambiguous"):
        open_note((TEXT + "\n" + ENOCH_SIG).encode(), [enoch, impostor])


def test_go_open_too_many_signatures(peter: NoteVerifier) -> None:
    msg = (TEXT + "\n" + PETER_SIG * 101).encode()
    for verifiers in ([peter], []):
        with pytest.raises(NoteError, match="more than 100"):
            open_note(msg, verifiers)
    assert open_note((TEXT + "\n" + PETER_SIG * 100).encode(), [peter]).sigs == [PETER]


def test_go_open_invalid_signature(peter: NoteVerifier) -> None:
    msg = TEXT.encode() + b"\n" + _insert(PETER_SIG, 60, b"ABCD")
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(msg, [peter])


def test_go_open_duplicated_signatures(peter: NoteVerifier) -> None:
    enoch_abcd = Signature(
        "EnochRoot",
        0xAF0CFE78,
        "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n"
        + "ABCD"
        + "2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=",
    )
    head = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG
    msg = head.encode() + _insert(ENOCH_SIG, 60, b"ABCD")
    n = open_note(msg, [peter])
    assert n.sigs == [PETER]
    assert n.unverified_sigs == [ENOCH, enoch_abcd]


GO_BAD_MSGS = [
    TEXT.encode(),
    (TEXT + "\n").encode(),
    (TEXT + "\n" + PETER_SIG[:-1]).encode(),
    b"\x01" + (TEXT + "\n" + PETER_SIG).encode(),
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    (TEXT + "\n" + "\u2014 Bad Name " + PETER_B64).encode(),
    (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
]


@pytest.mark.parametrize("msg", GO_BAD_MSGS, ids=[f"go-bad-{i}" for i in range(len(GO_BAD_MSGS))])
def test_go_open_malformed(msg: bytes, peter: NoteVerifier) -> None:
    with pytest.raises(NoteError):
        open_note(msg, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        GO_NOTE[:-1],  # truncated: no final newline
        GO_NOTE[:40],  # truncated in the text
        GO_NOTE[: len(TEXT) + 1],  # blank line but no signatures
        GO_NOTE.replace(b"\n\n", b"\n"),  # missing blank line
        GO_NOTE.replace("\u2014".encode(), b"-"),  # hyphen instead of em dash
        GO_NOTE.replace(b"PeterNeumann ", b"PeterNeumann  "),  # double space
        GO_NOTE.replace(PETER_B64.encode(), PETER_B64.encode()[:-1]),  # bad base64
        GO_NOTE.replace(PETER_B64.encode(), b"AAAAAA=="),  # signature too short
        GO_NOTE.replace(b"\n\n", b"\r\n\n"),  # control character
        GO_NOTE + b"\n",  # trailing blank line
        b"",
    ],
)
def test_open_malformed(msg: bytes, peter: NoteVerifier) -> None:
    with pytest.raises(NoteError):
        open_note(msg, [peter])


def test_open_unknown_keys_only(peter: NoteVerifier) -> None:
    misnamed = (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego")).encode()
    wrong_id = (TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx")).encode()
    for msg in (misnamed, wrong_id):
        with pytest.raises(NoteError, match="no signature from a known key"):
            open_note(msg, [peter])


def test_open_tampered_text(peter: NoteVerifier) -> None:
    tampered = GO_NOTE.replace(b"cryptography", b"cryptographY")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [peter])


def test_open_wrong_key() -> None:
    other = NoteSigner.generate("PeterNeumann")
    with pytest.raises(NoteError):
        open_note(GO_NOTE, [other.verifier()])


def test_open_oversize(peter: NoteVerifier) -> None:
    big = ("x" * 80 + "\n") * (MAX_NOTE_SIZE // 81 + 1)
    with pytest.raises(NoteError, match="larger"):
        open_note((big + "\n" + PETER_SIG).encode(), [peter])


def test_parse_note_structure() -> None:
    text, sigs = parse_note(GO_NOTE)
    assert text == TEXT
    assert sigs == [PETER]


# --- fuzzing ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_open_note_bytes(data: bytes) -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    with contextlib.suppress(NoteError):
        open_note(data, [peter])


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(GO_NOTE) - 1),
    st.integers(min_value=1, max_value=255),
    st.integers(min_value=0, max_value=len(GO_NOTE)),
)
def test_fuzz_mutated_go_note(pos: int, xor: int, cut: int) -> None:
    peter = NoteVerifier.from_string(PETER_VKEY)
    mutated = bytearray(GO_NOTE)
    mutated[pos] ^= xor
    for msg in (bytes(mutated), GO_NOTE[:cut] + GO_NOTE[cut + 1 :]):
        try:
            note = open_note(msg, [peter])
        except NoteError:
            continue
        # Anything that still opens must be signed text identical to the original.
        assert note.text == TEXT
        assert note.sigs == [PETER]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_verifier_from_string(text: str) -> None:
    for parse in (NoteVerifier.from_string, NoteSigner.from_string):
        with contextlib.suppress(ProtocolError):
            parse(text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from("+0123456789abcdefAZ/=Pe \u2014"), max_size=90))
def test_fuzz_key_like_strings(text: str) -> None:
    for candidate in (text, "PeterNeumann+" + text, "PRIVATE+KEY+PeterNeumann+" + text):
        for parse in (NoteVerifier.from_string, NoteSigner.from_string):
            with contextlib.suppress(ProtocolError):
                parse(candidate)
