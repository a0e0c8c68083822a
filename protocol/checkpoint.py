"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is the text of a signed note::

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n[<extension line>\\n]...

Parsing is strict: canonical decimal size within uint64, canonical base64 of a
32-byte root, non-empty lines. Syntax errors raise MalformedError; signature
and origin failures raise NoteError.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from protocol.errors import MalformedError, NoteError
from protocol.merkle import HASH_SIZE
from protocol.note import NoteSigner, NoteVerifier, open_note, sign_note

MAX_TREE_SIZE = (1 << 64) - 1
MAX_CHECKPOINT_SIZE = 1 << 16

_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL_RE = re.compile(r"[\x00-\x1f]")


def _check_line(value: object, what: str) -> str:
    """Return value if it is a usable checkpoint line, else raise MalformedError."""
    if not isinstance(value, str):
        raise MalformedError(f"checkpoint {what} must be a string")
    if value == "":
        raise MalformedError(f"checkpoint {what} is empty")
    if _CONTROL_RE.search(value):
        raise MalformedError(f"checkpoint {what} contains a newline or control character")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed-to-be tree head: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if self.origin != self.origin.strip():
            raise MalformedError("checkpoint origin has leading or trailing whitespace")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise MalformedError(f"checkpoint size must be a uint64, got {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise MalformedError("checkpoint extensions must be a tuple of strings")
        for ext in self.extensions:
            _check_line(ext, "extension line")

    def to_body(self) -> str:
        """Return the note text: origin, size, base64 root and extension lines."""
        root64 = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.size), root64, *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(body: str | bytes) -> Checkpoint:
    """Parse checkpoint note text strictly; raise MalformedError on any deviation."""
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_CHECKPOINT_SIZE:
            raise MalformedError(f"checkpoint is larger than {MAX_CHECKPOINT_SIZE} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError("checkpoint is not valid UTF-8") from exc
    elif isinstance(body, str):
        text = body
        if len(text) > MAX_CHECKPOINT_SIZE:
            raise MalformedError(f"checkpoint is larger than {MAX_CHECKPOINT_SIZE} characters")
    else:
        raise MalformedError("checkpoint must be str or bytes")
    if not text.endswith("\n"):
        raise MalformedError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("checkpoint needs origin, size and root hash lines")
    origin, size_line, root_line, *extensions = lines

    if not _SIZE_RE.fullmatch(size_line):
        raise MalformedError(f"checkpoint size {size_line!r} is not a canonical decimal")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise MalformedError("checkpoint size does not fit in 64 bits")

    try:
        root_hash = base64.b64decode(root_line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedError("checkpoint root hash is not valid base64") from exc
    if base64.b64encode(root_hash).decode("ascii") != root_line:
        raise MalformedError("checkpoint root hash is not canonical base64")
    if len(root_hash) != HASH_SIZE:
        raise MalformedError(f"checkpoint root hash is {len(root_hash)} bytes, want {HASH_SIZE}")

    return Checkpoint(origin, size, root_hash, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner, *cosigners: NoteSigner) -> bytes:
    """Return the checkpoint as a signed note, signed by signer (and any cosigners)."""
    return sign_note(cp.to_body(), signer, *cosigners)


def open_checkpoint(
    note: bytes | str, verifier: NoteVerifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note by verifier and parse it.

    Raises NoteError if the signature does not verify or the origin differs
    from ``origin`` (when given); MalformedError if the text is not a checkpoint.
    Signatures by other keys (e.g. witnesses) are ignored.
    """
    opened = open_note(note, [verifier])
    cp = parse_checkpoint(opened.text)
    if origin is not None and cp.origin != origin:
        raise NoteError(f"checkpoint origin {cp.origin!r} does not match expected {origin!r}")
    return cp
