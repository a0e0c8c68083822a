"""Ed25519 keys: domain-separated signatures, key files and did:key (protocol.keys)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import base58
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import keys
from protocol.errors import MalformedError, ProtocolError, SignatureError, UnknownKeyError
from tests.unit.wire_checks import seeded

KEY = seeded("keys-a")
OTHER = seeded("keys-b")

# W3C CCG did:key test vectors, test-vectors/ed25519-x25519.json in
# https://github.com/w3c-ccg/did-method-key (commit 801b0a91ce5af882c389ca399fa1fd1a75229c09):
# (32-byte seed hex, did, verificationKeyPair.publicKeyBase58).
W3C_VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
    ),
]
VECTOR_DID = W3C_VECTORS[0][1]
# The Ed25519 public key of the all-zero seed, as hex.
VECTOR_PUBLIC_HEX = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"


# --- signatures -------------------------------------------------------------------------


def test_domain_prefix():
    assert keys.domain("checkin") == b"safecode/v1/checkin\x00"
    assert keys.domain("receipt") == b"safecode/v1/receipt\x00"


def test_sign_verify_round_trip():
    sig = keys.sign(KEY, "checkin", b"message")
    assert len(sig) == keys.SIGNATURE_SIZE == 64
    keys.verify(KEY.public_key(), "checkin", b"message", sig)


def test_signature_is_over_domain_and_message():
    sig = keys.sign(KEY, "checkin", b"message")
    # A plain signature over the prefixed message verifies with the raw API.
    KEY.public_key().verify(sig, b"safecode/v1/checkin\x00message")
    # Ed25519 is deterministic.
    assert sig == KEY.sign(keys.domain("checkin") + b"message")


def test_wrong_key_is_refused():
    sig = keys.sign(KEY, "checkin", b"message")
    with pytest.raises(SignatureError) as info:
        keys.verify(OTHER.public_key(), "checkin", b"message", sig)
    assert info.type is SignatureError


@pytest.mark.parametrize("label", ["receipt", "block", "credential", "presentation", "checkin2"])
def test_signature_does_not_cross_domains(label):
    sig = keys.sign(KEY, "checkin", b"message")
    with pytest.raises(SignatureError):
        keys.verify(KEY.public_key(), label, b"message", sig)


def test_domain_label_cannot_be_shifted_into_the_message():
    # "check" + "in..." must not verify as "checkin" + "...": the NUL terminator prevents it.
    sig = keys.sign(KEY, "check", b"in\x00payload")
    with pytest.raises(SignatureError):
        keys.verify(KEY.public_key(), "checkin", b"payload", sig)


def test_every_bit_flip_of_the_signature_is_refused():
    message = b"message"
    sig = keys.sign(KEY, "checkin", message)
    for i in range(len(sig) * 8):
        bad = bytearray(sig)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(SignatureError):
            keys.verify(KEY.public_key(), "checkin", message, bytes(bad))


def test_tampered_message_is_refused():
    sig = keys.sign(KEY, "checkin", b"message")
    for bad in (b"Message", b"message\x00", b"messag", b""):
        with pytest.raises(SignatureError):
            keys.verify(KEY.public_key(), "checkin", bad, sig)


@pytest.mark.parametrize("sig_len", [0, 63, 65])
def test_wrong_signature_length_is_refused(sig_len):
    with pytest.raises(SignatureError):
        keys.verify(KEY.public_key(), "checkin", b"message", b"\x01" * sig_len)


def test_unknown_key_error_is_a_signature_error():
    assert issubclass(UnknownKeyError, SignatureError)


# --- raw key bytes ----------------------------------------------------------------------


def test_public_bytes_of_private_and_public_key_agree():
    raw = keys.public_bytes(KEY)
    assert len(raw) == keys.PUBLIC_KEY_SIZE == 32
    assert keys.public_bytes(KEY.public_key()) == raw
    assert keys.public_bytes(keys.load_public(raw)) == raw


def test_generate_gives_distinct_working_keys():
    a, b = keys.generate(), keys.generate()
    assert keys.public_bytes(a) != keys.public_bytes(b)
    keys.verify(a.public_key(), "x", b"m", keys.sign(a, "x", b"m"))


def test_private_seed_round_trip():
    seed = keys.private_seed(KEY)
    assert seed == hashlib.sha256(b"keys-a").digest()
    again = Ed25519PrivateKey.from_private_bytes(seed)
    assert keys.public_bytes(again) == keys.public_bytes(KEY)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33, bytearray(32), "a" * 32, None])
def test_load_public_refuses_wrong_sizes_and_types(raw):
    with pytest.raises(MalformedError):
        keys.load_public(raw)


# --- key files ----------------------------------------------------------------------------


def test_save_and_load_private_key(tmp_path):
    path = tmp_path / "sub" / "device.pem"
    keys.save_private(KEY, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not (tmp_path / "sub" / "device.pem.tmp").exists()
    loaded = keys.load_private(path)
    assert keys.public_bytes(loaded) == keys.public_bytes(KEY)


def test_save_private_replaces_an_existing_key(tmp_path):
    path = tmp_path / "device.pem"
    keys.save_private(KEY, path)
    keys.save_private(OTHER, path)
    assert keys.public_bytes(keys.load_private(path)) == keys.public_bytes(OTHER)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_load_private_refuses_other_key_types(tmp_path):
    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    with pytest.raises(MalformedError, match="not an Ed25519"):
        keys.load_private(path)


# --- did:key -----------------------------------------------------------------------------


@pytest.mark.parametrize(("seed_hex", "did", "public_b58"), W3C_VECTORS)
def test_did_key_w3c_vectors(seed_hex, did, public_b58):
    public = base58.b58decode(public_b58)
    assert len(public) == 32
    assert keys.did_key(public) == did
    assert keys.parse_did_key(did) == public
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    assert keys.public_bytes(private) == public
    assert keys.did_key(private) == did
    assert keys.did_key(private.public_key()) == did


def test_did_key_vector_public_key_bytes():
    assert keys.parse_did_key(VECTOR_DID).hex() == VECTOR_PUBLIC_HEX


def test_did_key_round_trip():
    for key in (KEY, OTHER, keys.generate()):
        did = keys.did_key(key)
        assert did.startswith("did:key:z6Mk")
        assert keys.parse_did_key(did) == keys.public_bytes(key)
        assert keys.did_key(keys.parse_did_key(did)) == did


def test_did_key_multicodec_prefix():
    did = keys.did_key(KEY)
    decoded = base58.b58decode(did[len("did:key:z") :])
    assert decoded == b"\xed\x01" + keys.public_bytes(KEY)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33, b"\xed\x01" + b"\x00" * 32])
def test_did_key_refuses_wrong_key_size(raw):
    with pytest.raises(MalformedError):
        keys.did_key(raw)


MALFORMED_DIDS = [
    "",
    "did",
    "did:key",
    "did:key:",
    "did:key:z",
    "did:key:z6Mk",
    "DID:KEY:" + VECTOR_DID[8:],
    "did:KEY:" + VECTOR_DID[8:],
    "did:web:" + VECTOR_DID[8:],
    "did:key:" + VECTOR_DID[9:],  # multibase prefix dropped
    "did:key:Z" + VECTOR_DID[9:],  # wrong multibase prefix
    "did:key:f" + VECTOR_DID[9:],
    " " + VECTOR_DID,
    VECTOR_DID + "#" + VECTOR_DID[8:],  # DID URL with fragment
    VECTOR_DID + "/path",
    VECTOR_DID + "?query",
    VECTOR_DID[:-1],  # truncated
    VECTOR_DID + "a",  # one more base58 digit
    VECTOR_DID[:-1] + "0",  # "0", "O", "I", "l" are not base58btc
    VECTOR_DID[:-1] + "O",
    VECTOR_DID[:-1] + "I",
    VECTOR_DID[:-1] + "l",
    VECTOR_DID[:-1] + "\u00e9",
    VECTOR_DID[:-1] + "\ud800",
    "did:key:z1" + VECTOR_DID[9:],  # a leading zero byte
    # X25519 key-agreement key of the same W3C vector (multicodec 0xec).
    "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW",
    # P-256 and secp256k1 example keys of the W3C did:key spec
    # (https://w3c-ccg.github.io/did-method-key/): other multicodecs, 35 bytes.
    "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
    "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
    "did:key:z" + "1" * 100,
]


@pytest.mark.parametrize("did", MALFORMED_DIDS)
def test_malformed_did_key_is_refused(did):
    with pytest.raises(MalformedError):
        keys.parse_did_key(did)


@pytest.mark.parametrize("suffix", [" ", "\n", "\r\n", "\t", "   \n"])
def test_did_key_with_trailing_whitespace_is_refused(suffix):
    with pytest.raises(MalformedError):
        keys.parse_did_key(VECTOR_DID + suffix)


@pytest.mark.parametrize("did", [None, 5, b"did:key:z6Mk", ["did:key:z6Mk"]])
def test_parse_did_key_refuses_non_text(did):
    with pytest.raises(MalformedError):
        keys.parse_did_key(did)


def test_every_truncation_of_a_did_key_is_refused():
    for cut in range(len(VECTOR_DID)):
        with pytest.raises(MalformedError):
            keys.parse_did_key(VECTOR_DID[:cut])


def test_every_character_substitution_of_a_did_key_changes_or_refuses_it():
    public = keys.parse_did_key(VECTOR_DID)
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl:"
    for i in range(len(VECTOR_DID)):
        for c in alphabet:
            if c == VECTOR_DID[i]:
                continue
            did = VECTOR_DID[:i] + c + VECTOR_DID[i + 1 :]
            try:
                parsed = keys.parse_did_key(did)
            except MalformedError:
                continue
            assert parsed != public
            assert keys.did_key(parsed) == did  # only the canonical spelling parses


def test_did_key_of_a_loaded_public_key_object():
    public: Ed25519PublicKey = keys.load_public(keys.public_bytes(OTHER))
    assert keys.did_key(public) == keys.did_key(OTHER)


# --- weak and non-canonical public keys -------------------------------------------------

# The encodings of the points of small order on edwards25519 (libsodium's blocklist,
# sign bit cleared), as listed in protocol.keys.
SMALL_ORDER_HEX = [
    "0000000000000000000000000000000000000000000000000000000000000000",  # (0, 0): not on the curve
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity, order 1
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = -1, order 2
]
SMALL_ORDER = [bytes.fromhex(h) for h in SMALL_ORDER_HEX]
SMALL_ORDER_SIGN_BIT = [raw[:31] + bytes([raw[31] | 0x80]) for raw in SMALL_ORDER]
FIELD_PRIME = 2**255 - 19


def _y(value: int, *, sign: bool = False) -> bytes:
    return (value | (1 << 255 if sign else 0)).to_bytes(32, "little")


NON_CANONICAL = [
    bytes.fromhex("ed" + "ff" * 30 + "7f"),  # y = p (is 0)
    bytes.fromhex("ee" + "ff" * 30 + "7f"),  # y = p + 1 (is 1: the identity)
    b"\xff" * 32,  # y = 2**255 - 1, sign bit set
    _y(FIELD_PRIME + 2),
    _y(FIELD_PRIME + 18),  # the largest y below 2**255
    _y(FIELD_PRIME, sign=True),
    _y(FIELD_PRIME + 1, sign=True),
]


def test_small_order_list_matches_the_module() -> None:
    assert frozenset(SMALL_ORDER) == keys._SMALL_ORDER
    assert _y(FIELD_PRIME) == NON_CANONICAL[0] and _y(FIELD_PRIME + 1) == NON_CANONICAL[1]


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=[h[:8] for h in SMALL_ORDER_HEX])
def test_small_order_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedError, match="small order"):
        keys.load_public(raw)


@pytest.mark.parametrize("raw", SMALL_ORDER_SIGN_BIT, ids=[h[:8] for h in SMALL_ORDER_HEX])
def test_small_order_keys_with_the_sign_bit_set_are_refused(raw: bytes) -> None:
    assert raw[31] & 0x80
    with pytest.raises(MalformedError):
        keys.load_public(raw)


@pytest.mark.parametrize("raw", NON_CANONICAL, ids=lambda raw: raw.hex()[:4] + raw.hex()[-2:])
def test_non_canonical_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedError, match="canonical"):
        keys.load_public(raw)


def test_largest_canonical_y_is_not_refused_as_non_canonical() -> None:
    # y = p - 1 is canonical; it is the order-2 point, refused as small order instead.
    with pytest.raises(MalformedError, match="small order"):
        keys.load_public(_y(FIELD_PRIME - 1))


def test_a_thousand_real_keys_are_accepted() -> None:
    for _ in range(1000):
        private = Ed25519PrivateKey.generate()
        raw = keys.public_bytes(private)
        public = keys.load_public(raw)
        assert keys.public_bytes(public) == raw
    # The last one still verifies what its private key signs.
    keys.verify(public, "x", b"m", keys.sign(private, "x", b"m"))


def test_w3c_vector_keys_are_accepted() -> None:
    for _, did, _ in W3C_VECTORS:
        keys.load_public(keys.parse_did_key(did))


@pytest.mark.parametrize("raw", SMALL_ORDER + SMALL_ORDER_SIGN_BIT)
def test_did_key_of_a_small_order_key_parses_but_does_not_load(raw: bytes) -> None:
    """parse_did_key only decodes the identifier; load_public is where weak keys stop."""
    did = keys.did_key(raw)
    assert keys.parse_did_key(did) == raw
    with pytest.raises(MalformedError):
        keys.load_public(keys.parse_did_key(did))


def test_signature_that_a_small_order_key_would_accept_never_gets_that_far() -> None:
    # With the identity as public key, R = identity and S = 0 satisfy the verification
    # equation for every message; the key must be refused before any verify.
    forged = bytes.fromhex("01" + "00" * 31) + bytes(32)
    with pytest.raises(MalformedError):
        keys.verify(keys.load_public(SMALL_ORDER[1]), "receipt", b"anything", forged)


def test_public_file_beside_a_key_holds_its_did_and_is_checked(tmp_path: Path) -> None:
    key, made = keys.load_or_create_private(tmp_path / "ledger.key")
    assert made and not keys.public_file(tmp_path / "ledger.key").exists()
    public = keys.write_public_file(key, tmp_path / "ledger.key")
    assert public.name == "ledger.key.pub" and oct(public.stat().st_mode & 0o777) == "0o644"
    assert keys.read_public_file(tmp_path / "ledger.key") == keys.did_key(key)
    public.write_text("did:key:z6Mkgarbage\n")
    with pytest.raises(ProtocolError):
        keys.read_public_file(tmp_path / "ledger.key")
    keys.write_public_file(key, tmp_path / "ledger.key")  # refreshed from the key
    assert keys.read_public_file(tmp_path / "ledger.key") == keys.did_key(key)
