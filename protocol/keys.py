"""Ed25519 keys: domain-separated signatures, file storage and did:key identifiers."""

from __future__ import annotations

import os
from pathlib import Path

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import MalformedError, SignatureError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
_DOMAIN_PREFIX = b"safecode/v1/"
_ED25519_MULTICODEC = b"\xed\x01"
_DID_KEY_PREFIX = "did:key:z"


def domain(label: str) -> bytes:
    """The domain-separation prefix that every signature of type ``label`` starts with."""
    return _DOMAIN_PREFIX + label.encode("ascii") + b"\x00"


def sign(key: Ed25519PrivateKey, label: str, message: bytes) -> bytes:
    """Sign ``message`` under the domain label, so it cannot pass as another type."""
    return key.sign(domain(label) + message)


def verify(public_key: Ed25519PublicKey, label: str, message: bytes, signature: bytes) -> None:
    """Raise SignatureError unless ``signature`` is ``public_key``'s over label and message."""
    try:
        public_key.verify(signature, domain(label) + message)
    except InvalidSignature as exc:
        raise SignatureError(f"{label} signature does not verify") from exc


def generate() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


_FIELD_PRIME = 2**255 - 19
# Encodings (sign bit cleared) of the points of small order on edwards25519, after
# libsodium's blocklist: anyone can forge signatures that such a "key" accepts.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def load_public(raw: bytes) -> Ed25519PublicKey:
    """Parse a raw 32-byte Ed25519 public key, refusing weak and non-canonical ones."""
    if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_SIZE:
        raise MalformedError("an Ed25519 public key is 32 bytes")
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _FIELD_PRIME:
        raise MalformedError("Ed25519 public key is not canonically encoded")
    if y.to_bytes(32, "little") in _SMALL_ORDER:
        raise MalformedError("Ed25519 public key is a point of small order")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_seed(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte seed of a private key."""
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def save_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write a private key as PKCS#8 PEM readable by its owner only (mode 0600)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def public_file(private_path: Path) -> Path:
    """Where the public half of the key at ``private_path`` is kept: ``<name>.pub`` (did:key)."""
    private_path = Path(private_path)
    return private_path.with_name(private_path.name + ".pub")


def write_public_file(key: Ed25519PrivateKey, private_path: Path) -> Path:
    """Write (or refresh) ``<name>.pub`` beside a private key: its did:key, world-readable.

    Processes that only hand out public keys (the read API) read this, never the key.
    """
    path = public_file(private_path)
    text = did_key(key) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


def read_public_file(private_path: Path) -> str:
    """The did:key in ``<name>.pub`` beside ``private_path``; OSError or MalformedError."""
    text = public_file(private_path).read_text(encoding="utf-8").strip()
    load_public(parse_did_key(text))
    return text


def load_private(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key written by :func:`save_private`."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedError(f"{path}: not an Ed25519 private key")
    return key


def did_key(public: bytes | Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The W3C did:key identifier of an Ed25519 public key (multibase base58btc)."""
    raw = public if isinstance(public, bytes) else public_bytes(public)
    if len(raw) != PUBLIC_KEY_SIZE:
        raise MalformedError("an Ed25519 public key is 32 bytes")
    return _DID_KEY_PREFIX + base58.b58encode(_ED25519_MULTICODEC + raw).decode("ascii")


def parse_did_key(did: str) -> bytes:
    """The raw Ed25519 public key inside a did:key identifier."""
    if not isinstance(did, str) or not did.startswith(_DID_KEY_PREFIX) or len(did) > 64:
        raise MalformedError("not an Ed25519 did:key identifier")
    try:
        decoded = base58.b58decode(did[len(_DID_KEY_PREFIX) :])
    except ValueError as exc:
        raise MalformedError(f"did:key is not base58btc: {exc}") from exc
    if len(decoded) != 2 + PUBLIC_KEY_SIZE or not decoded.startswith(_ED25519_MULTICODEC):
        raise MalformedError("did:key does not hold an Ed25519 public key")
    if _DID_KEY_PREFIX + base58.b58encode(decoded).decode("ascii") != did:
        raise MalformedError("did:key is not in canonical form")
    return decoded[2:]


def load_or_create_private(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """Load the private key at ``path``, making one (mode 0600) if there is none."""
    path = Path(path)
    if path.exists():
        return load_private(path), False
    key = generate()
    save_private(key, path)
    return key, True
