"""Typed exception tree for every wire format.

Callers catch :class:`ProtocolError` to refuse any bad input, or a subclass to
count the reason. Each subclass carries a short machine-readable ``reason``.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base class: the input is not an acceptable safecode message."""

    reason = "invalid"


class MalformedError(ProtocolError):
    """Bytes or text that do not parse: bad encoding, wrong types, missing fields."""

    reason = "malformed"


class OutOfRangeError(MalformedError):
    """An integer or number of the right type, outside the range its field allows."""

    reason = "out_of_range"


class TruncatedError(MalformedError):
    """The input ends before the message does."""

    reason = "truncated"


class OversizeError(ProtocolError):
    """The input is larger than the format allows."""

    reason = "oversize"


class UnsupportedVersionError(ProtocolError):
    """A version number this code does not speak."""

    reason = "unsupported_version"


class WrongTypeError(ProtocolError):
    """A message of another type or code type than the one expected."""

    reason = "wrong_type"


class SignatureError(ProtocolError):
    """A signature does not verify: forged, tampered or signed by another key."""

    reason = "bad_signature"


class UnknownKeyError(SignatureError):
    """The message names a key the verifier does not trust."""

    reason = "unknown_key"


class ExpiredError(ProtocolError):
    """The message or credential is past its validity window."""

    reason = "expired"


class NotYetValidError(ProtocolError):
    """The message is dated in the future beyond the allowed clock skew."""

    reason = "future"


class ReplayError(ProtocolError):
    """The same message was already accepted."""

    reason = "replayed"


class MerkleError(ProtocolError):
    """Base class for Merkle tree errors."""

    reason = "merkle"


class InclusionProofError(MerkleError):
    """An inclusion proof does not verify."""

    reason = "bad_inclusion_proof"


class ConsistencyProofError(MerkleError):
    """A consistency proof does not verify."""

    reason = "bad_consistency_proof"


class NoteError(ProtocolError):
    """A signed note or verifier key is malformed, or no trusted signature verifies."""

    reason = "bad_note"


class RevokedError(ProtocolError):
    """The credential is on the revocation list the kiosk holds."""

    reason = "revoked"


class RollbackError(ProtocolError):
    """A signed message older than (or as old as) one already accepted."""

    reason = "rollback"


class DecryptionError(ProtocolError):
    """A ciphertext that does not open with the key held: tampered, or sealed to another key."""

    reason = "undecryptable"
