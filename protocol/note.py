"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more
lines ``"\u2014 <name> <base64(key id || signature)>\\n"``. Parsing mirrors the Go
reference (golang.org/x/mod/sumdb/note): the text ends at the last blank line,
at most 100 signatures, unknown keys are ignored, a known key whose signature
does not verify rejects the whole note. Every failure raises NoteError.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import verifier_key
from protocol.errors import NoteError

MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
ALG_ED25519 = 0x01

_SIG_PREFIX = "\u2014 "
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


def is_valid_name(name: object) -> bool:
    """Return True if name is a valid key name: non-empty, no Unicode spaces, no '+'."""
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and not _CONTROL_RE.search(name)
    )


def _check_name(name: object) -> str:
    """Return name if it is a valid key name, else raise NoteError."""
    if not isinstance(name, str) or not is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
    return name


def key_id(name: str, public_key: bytes) -> int:
    """Return the key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4] as a uint32."""
    return verifier_key.key_id(name, ALG_ED25519, public_key)


class NoteVerifier:
    """An Ed25519 note verifier key, identified by name and key ID."""

    __slots__ = ("_name", "_key_id", "_public_key", "_raw")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        self._name = _check_name(name)
        self._public_key = public_key
        self._raw = public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = key_id(self._name, self._raw)

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        """Build a verifier from a name and an Ed25519 public key."""
        return cls(name, public_key)

    @classmethod
    def from_string(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<key id hex>+<base64(0x01 || public key)>`` strictly."""
        if not isinstance(vkey, str):
            raise NoteError("verifier key must be a string")
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("malformed verifier key: want <name>+<key id>+<key>")
        name, hex_id, key64 = parts
        _check_name(name)
        if not verifier_key.KEY_ID_PATTERN.fullmatch(hex_id):
            raise NoteError("malformed verifier key: key id must be 8 lowercase hex digits")
        key = verifier_key.b64decode(key64, "verifier key")
        if len(key) == 0:
            raise NoteError("malformed verifier key: empty key")
        if key[0] != ALG_ED25519:
            raise NoteError(f"unknown verifier algorithm 0x{key[0]:02x}")
        if len(key) != 33:
            raise NoteError(f"Ed25519 verifier key must be 32 bytes, got {len(key) - 1}")
        try:
            public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        except ValueError as exc:
            raise NoteError("invalid Ed25519 public key") from exc
        verifier = cls(name, public_key)
        if verifier.key_id != int(hex_id, 16):
            raise NoteError(f"verifier key id {hex_id} does not match the key")
        return verifier

    @property
    def name(self) -> str:
        """Key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """Key ID as a big-endian uint32."""
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key."""
        return self._public_key

    def to_string(self) -> str:
        """Encode as ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        return verifier_key.key_string(self._name, self._key_id, ALG_ED25519, self._raw)

    def verify(self, text: bytes, sig: bytes) -> bool:
        """Return True if sig is a valid Ed25519 signature of text by this key."""
        if len(sig) != 64:
            return False
        try:
            self._public_key.verify(bytes(sig), bytes(text))
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoteVerifier):
            return NotImplemented
        return (self._name, self._raw) == (other._name, other._raw)

    def __hash__(self) -> int:
        return hash((self._name, self._raw))

    def __repr__(self) -> str:
        return f"NoteVerifier({self.to_string()!r})"


class NoteSigner:
    """An Ed25519 note signer key, identified by name and key ID."""

    __slots__ = ("_name", "_private_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = _check_name(name)
        self._private_key = private_key
        self._verifier = NoteVerifier(self._name, private_key.public_key())

    @classmethod
    def from_private_key(cls, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        """Build a signer from a name and an Ed25519 private key."""
        return cls(name, private_key)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """Generate a fresh Ed25519 signer for name."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_string(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`` strictly."""
        if not isinstance(skey, str):
            raise NoteError("signer key must be a string")
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("malformed signer key: want PRIVATE+KEY+<name>+<key id>+<key>")
        _, _, name, hex_id, key64 = parts
        _check_name(name)
        if not verifier_key.KEY_ID_PATTERN.fullmatch(hex_id):
            raise NoteError("malformed signer key: key id must be 8 lowercase hex digits")
        key = verifier_key.b64decode(key64, "signer key")
        if len(key) == 0:
            raise NoteError("malformed signer key: empty key")
        if key[0] != ALG_ED25519:
            raise NoteError(f"unknown signer algorithm 0x{key[0]:02x}")
        if len(key) != 33:
            raise NoteError(f"Ed25519 signer seed must be 32 bytes, got {len(key) - 1}")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        if signer.key_id != int(hex_id, 16):
            raise NoteError(f"signer key id {hex_id} does not match the key")
        return signer

    @property
    def name(self) -> str:
        """Key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """Key ID as a big-endian uint32."""
        return self._verifier.key_id

    def verifier(self) -> NoteVerifier:
        """Return the matching verifier."""
        return self._verifier

    def to_string(self) -> str:
        """Encode as ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``. Secret!"""
        seed = self._private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return "PRIVATE+KEY+" + verifier_key.key_string(self._name, self.key_id, ALG_ED25519, seed)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of message."""
        return self._private_key.sign(bytes(message))

    def __repr__(self) -> str:
        return f"NoteSigner(name={self._name!r}, key_id={self.key_id:08x})"


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID and ``b64`` = base64(key id || signature)."""

    name: str
    key_id: int
    b64: str

    def line(self) -> str:
        """Return the encoded signature line, newline included."""
        return f"{_SIG_PREFIX}{self.name} {self.b64}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and its verified and unverified signatures."""

    text: str
    sigs: list[Signature] = field(default_factory=list)
    unverified_sigs: list[Signature] = field(default_factory=list)


def _decode_note(data: bytes | str, what: str) -> str:
    """Return note bytes as text after the size, UTF-8 and control-character checks."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NoteError(f"{what} is not valid UTF-8") from exc
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise NoteError(f"{what} must be bytes or str")
    if len(raw) > MAX_NOTE_SIZE:
        raise NoteError(f"{what} is larger than {MAX_NOTE_SIZE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc
    if _CONTROL_RE.search(text):
        raise NoteError(f"{what} contains a control character other than newline")
    return text


def _parse_sig_line(line: str) -> Signature:
    """Parse one signature line (without its newline)."""
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("malformed note: signature line does not start with an em dash")
    name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep or not is_valid_name(name) or not b64:
        raise NoteError("malformed note: bad signature line")
    raw = verifier_key.b64decode(b64, "signature")
    if len(raw) < 5:
        raise NoteError("malformed note: signature too short")
    return Signature(name, int.from_bytes(raw[:4], "big"), b64)


def parse_note(note: bytes | str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines, without verifying.

    Raises NoteError for any syntax error. The text includes its final newline.
    """
    msg = _decode_note(note, "note")
    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("malformed note: missing signatures or final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text, [_parse_sig_line(line) for line in lines]


def open_note(note: bytes | str, verifiers: Iterable[NoteVerifier] | NoteVerifier) -> Note:
    """Parse a signed note and verify its signatures against the known verifiers.

    Signatures from unknown keys are kept as ``unverified_sigs``. Raises NoteError
    if the note is malformed, if a signature by a known key does not verify, if
    a key is ambiguous, or if no known key signed the note.
    """
    text, sigs = parse_note(note)
    if isinstance(verifiers, NoteVerifier):
        verifiers = [verifiers]
    known: dict[tuple[str, int], set[NoteVerifier]] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise NoteError(f"not a NoteVerifier: {v!r}")
        known.setdefault((v.name, v.key_id), set()).add(v)

    text_bytes = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    seen_unverified: set[Signature] = set()
    for sig in sigs:
        ident = (sig.name, sig.key_id)
        candidates = known.get(ident)
        if candidates is None:
            if sig not in seen_unverified:
                seen_unverified.add(sig)
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {sig.name}+{sig.key_id:08x}")
        if ident in seen:
            continue
        seen.add(ident)
        (verifier,) = candidates
        raw = base64.b64decode(sig.b64)
        if not verifier.verify(text_bytes, raw[4:]):
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified.append(sig)
    if not verified:
        raise NoteError("note has no signature from a known key")
    return Note(text, verified, unverified)


def _check_text(text: bytes | str) -> str:
    """Return the note text after checking it can be signed."""
    body = _decode_note(text, "note text")
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    return body


def _signature_for(signer: NoteSigner, text: bytes) -> Signature:
    """Sign text and wrap the result as a signature line."""
    raw = signer.key_id.to_bytes(4, "big") + signer.sign(text)
    return Signature(signer.name, signer.key_id, verifier_key.b64encode(raw))


def _assemble(text: str, sigs: list[Signature]) -> bytes:
    """Encode text and signature lines as a signed note, enforcing the limits."""
    if not sigs:
        raise NoteError("a signed note needs at least one signature")
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    out = (text + "\n" + "".join(s.line() for s in sigs)).encode("utf-8")
    if len(out) > MAX_NOTE_SIZE:
        raise NoteError(f"signed note would be larger than {MAX_NOTE_SIZE} bytes")
    return out


def _check_signers(signers: tuple[NoteSigner, ...]) -> None:
    """Refuse non-signers and two signers with the same name and key ID."""
    ids = set()
    for s in signers:
        if not isinstance(s, NoteSigner):
            raise NoteError(f"not a NoteSigner: {s!r}")
        if (s.name, s.key_id) in ids:
            raise NoteError(f"duplicate signer {s.name}+{s.key_id:08x}")
        ids.add((s.name, s.key_id))


def sign_note(text: bytes | str, *signers: NoteSigner) -> bytes:
    """Sign text (UTF-8, ending in a newline) and return the encoded signed note."""
    body = _check_text(text)
    _check_signers(signers)
    text_bytes = body.encode("utf-8")
    return _assemble(body, [_signature_for(s, text_bytes) for s in signers])


def add_signatures(note: bytes | str, *signers: NoteSigner) -> bytes:
    """Add signatures to an existing signed note (e.g. a witness cosignature).

    Existing signatures are kept, except one by the same key as a new signer,
    which is replaced. The existing signatures are NOT verified here: open the
    note with ``open_note`` first if the text must be trusted before cosigning.
    """
    text, existing = parse_note(note)
    _check_signers(signers)
    text_bytes = text.encode("utf-8")
    new = [_signature_for(s, text_bytes) for s in signers]
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in existing if (s.name, s.key_id) not in replaced]
    return _assemble(text, kept + new)
