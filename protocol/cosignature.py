"""C2SP tlog-cosignature v1 (Ed25519): a witness's signature line on a checkpoint.

A cosignature is a signed-note signature line ``— <witness name> base64(key id ||
timestamp || signature)`` where the key id is SHA-256(name || 0x0A || 0x04 || public
key)[:4], the timestamp a big-endian u64 (POSIX seconds, at most 2^63-1) and the
signature an Ed25519 signature over::

    cosignature/v1\\n
    time <timestamp>\\n
    <the whole checkpoint body, final newline included>

It states that, at that time, this was the largest consistent tree the witness had
seen for the log. Keys are written like signed-note keys but with algorithm byte
0x04: ``name+keyid+base64(0x04 || key)`` and ``PRIVATE+KEY+name+keyid+base64(0x04 ||
seed)``. Every failure raises NoteError.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import keys, verifier_key
from protocol.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from protocol.errors import MalformedError, NoteError
from protocol.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    NoteVerifier,
    Signature,
    is_valid_name,
    parse_note,
)

ALG_COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = (1 << 63) - 1
SIGNATURE_BYTES = 4 + 8 + 64
_HEADER = b"cosignature/v1\n"


def _check_name(name: object) -> str:
    if not is_valid_name(name):
        raise NoteError(f"invalid witness name {str(name)[:60]!r}")
    assert isinstance(name, str)
    return name


def cosigner_key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || public key)[:4] as a big-endian uint32."""
    return verifier_key.key_id(name, ALG_COSIGNATURE_V1, public_key)


def _check_timestamp(timestamp: object) -> int:
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(
            f"a cosignature timestamp is an integer from 0 to 2^63-1, not {timestamp!r}"
        )
    return timestamp


def _check_body(body: str) -> str:
    if not isinstance(body, str) or not body.endswith("\n") or "\n\n" in body:
        raise NoteError("a cosigned body is checkpoint text ending in one newline")
    return body


def signed_message(body: str, timestamp: int) -> bytes:
    """The exact bytes a v1 cosignature signs."""
    _check_body(body)
    stamp = _check_timestamp(timestamp)
    return _HEADER + b"time %d\n" % stamp + body.encode("utf-8")


class CosignatureVerifier:
    """A witness's public key and name, as configured by whoever checks cosignatures."""

    __slots__ = ("name", "key_id", "public_key", "raw")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        self.name = _check_name(name)
        self.public_key = public_key
        self.raw = keys.public_bytes(public_key)
        self.key_id = cosigner_key_id(self.name, self.raw)

    @classmethod
    def from_string(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+keyid+base64(0x04 || key)`` strictly."""
        if not isinstance(vkey, str):
            raise NoteError("witness key must be a string")
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("malformed witness key: want <name>+<key id>+<key>")
        name, hex_id, key64 = parts
        _check_name(name)
        if not verifier_key.KEY_ID_PATTERN.fullmatch(hex_id):
            raise NoteError("malformed witness key: key id must be 8 lowercase hex digits")
        key = verifier_key.b64decode(key64, "witness key")
        if len(key) != 33 or key[0] != ALG_COSIGNATURE_V1:
            raise NoteError("a witness key is 0x04 followed by a 32-byte Ed25519 key")
        try:
            public = keys.load_public(key[1:])
        except MalformedError as exc:
            raise NoteError(f"witness key: {exc}") from exc
        verifier = cls(name, public)
        if verifier.key_id != int(hex_id, 16):
            raise NoteError(f"witness key id {hex_id} does not match the key")
        return verifier

    def to_string(self) -> str:
        """``name+keyid+base64(0x04 || key)``."""
        return verifier_key.key_string(self.name, self.key_id, ALG_COSIGNATURE_V1, self.raw)

    def matches(self, sig: Signature) -> bool:
        """True if the signature line claims to be by this witness."""
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, body: str, sig: Signature) -> int:
        """Check one cosignature line on ``body``; return its timestamp or raise NoteError."""
        if not self.matches(sig):
            raise NoteError(f"signature line is not by witness {self.name}")
        raw = verifier_key.b64decode(sig.b64, "cosignature")
        if len(raw) != SIGNATURE_BYTES:
            raise NoteError(f"a cosignature is {SIGNATURE_BYTES} bytes, got {len(raw)}")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise NoteError("cosignature timestamp exceeds 2^63-1")
        try:
            self.public_key.verify(raw[12:], signed_message(body, timestamp))
        except InvalidSignature as exc:
            raise NoteError(f"cosignature by {self.name} does not verify") from exc
        return timestamp

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosignatureVerifier):
            return NotImplemented
        return (self.name, self.raw) == (other.name, other.raw)

    def __hash__(self) -> int:
        return hash((self.name, self.raw))

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.to_string()!r})"


class Cosigner:
    """A witness's private key and name."""

    __slots__ = ("name", "_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = _check_name(name)
        self._key = private_key
        self._verifier = CosignatureVerifier(name, private_key.public_key())

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_string(cls, skey: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+name+keyid+base64(0x04 || seed)`` strictly."""
        if not isinstance(skey, str):
            raise NoteError("witness private key must be a string")
        parts = skey.strip("\n").split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("malformed witness private key: want PRIVATE+KEY+<name>+<id>+<key>")
        name, hex_id, key64 = parts[2:]
        _check_name(name)
        if not verifier_key.KEY_ID_PATTERN.fullmatch(hex_id):
            raise NoteError("malformed witness private key: bad key id")
        key = verifier_key.b64decode(key64, "witness private key")
        if len(key) != 33 or key[0] != ALG_COSIGNATURE_V1:
            raise NoteError("a witness private key is 0x04 followed by a 32-byte seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        if signer.key_id != int(hex_id, 16):
            raise NoteError(f"witness private key id {hex_id} does not match the key")
        return signer

    @property
    def key_id(self) -> int:
        return self._verifier.key_id

    def verifier(self) -> CosignatureVerifier:
        return self._verifier

    def to_string(self) -> str:
        """``PRIVATE+KEY+name+keyid+base64(0x04 || seed)``. Secret!"""
        seed = keys.private_seed(self._key)
        return "PRIVATE+KEY+" + verifier_key.key_string(
            self.name, self.key_id, ALG_COSIGNATURE_V1, seed
        )

    def cosign(self, body: str, timestamp: int) -> Signature:
        """A cosignature line on checkpoint ``body`` at POSIX time ``timestamp``."""
        signature = self._key.sign(signed_message(body, timestamp))
        raw = self.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signature
        return Signature(self.name, self.key_id, verifier_key.b64encode(raw))


def with_signatures(note: bytes | str, extra: Iterable[Signature]) -> bytes:
    """The note with ``extra`` signature lines appended (lines already present are kept once)."""
    text, sigs = parse_note(note)
    seen = set(sigs)
    lines = list(sigs)
    for sig in extra:
        if sig not in seen:
            seen.add(sig)
            lines.append(sig)
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    out = (text + "\n" + "".join(s.line() for s in lines)).encode("utf-8")
    if len(out) > MAX_NOTE_SIZE:
        raise NoteError(f"signed note would be larger than {MAX_NOTE_SIZE} bytes")
    return out


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint with its log signature checked and the witnesses that cosigned it."""

    checkpoint: Checkpoint
    body: str
    witnesses: dict[str, int]  # witness name -> cosignature timestamp


def open_cosigned(
    note: bytes | str,
    log: NoteVerifier,
    witnesses: Iterable[CosignatureVerifier] = (),
    *,
    quorum: int = 0,
    origin: str | None = None,
) -> Cosigned:
    """Verify the log signature and every cosignature by a known witness; require a quorum.

    Lines by unknown keys are ignored; a line by a known witness that fails rejects the
    whole note (as signed notes do). Raises NoteError or MalformedError.
    """
    checkpoint = open_checkpoint(note, log, origin)
    body, sigs = parse_note(note)
    parse_checkpoint(body)
    known = {(w.name, w.key_id): w for w in witnesses}
    if type(quorum) is not int or not 0 <= quorum <= len(known):
        raise NoteError(f"quorum {quorum!r} cannot be met by {len(known)} known witness(es)")
    seen: dict[str, int] = {}
    for sig in sigs:
        witness = known.get((sig.name, sig.key_id))
        if witness is None or witness.name in seen:
            continue
        seen[witness.name] = witness.verify(body, sig)
    if len(seen) < quorum:
        raise NoteError(f"{len(seen)} known witness cosignature(s), quorum is {quorum}")
    return Cosigned(checkpoint, body, seen)
