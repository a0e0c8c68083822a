"""Check-in record: what a kiosk saw, signed with its device key.

A signed map (see :mod:`protocol.signed`) of type ``checkin``. It carries the
visitor's whole presentation, so the aggregator re-verifies the visitor's fresh
signature and a kiosk cannot invent a visit. ``clock`` tells whether the
kiosk's wall clock was synchronised and gives its monotonic time and boot id,
so the aggregator can place records scanned with an unsynchronised clock.

Every integer is bounded (``OutOfRangeError`` beyond): ``seq`` from 1 to
:data:`SEQ_MAX` (2**53), ``scanned_ms`` and ``mono_ms`` from 0 to the end of the year
9999, so the seq floor, gap counts and counters built from them fit their columns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .ids import KIOSK_ID_PATTERN, VENUE_ID_PATTERN
from .presentation import MAX_BYTES as MAX_PRESENTATION_BYTES
from .presentation import Presentation
from .schema import KIOSK_INT_MAX, TIME_MS_MAX, boolean, bounded, one_of, raw, record, text
from .signed import seal, unseal

KIND = "checkin"
MAX_BYTES = 1024
CHECKIN_ID_SIZE = 16
BOOT_ID_SIZE = 16
DOORS = ("entrance", "exit", "both")
#: Sequence numbers count from 1 and stop at 2**53: the floor one above stays in range.
SEQ_MAX = KIOSK_INT_MAX

_MS = bounded(0, TIME_MS_MAX)
_CLOCK = record({"synced": boolean(), "boot": raw(BOOT_ID_SIZE), "mono_ms": _MS})
_SCHEMA = {
    "id": raw(CHECKIN_ID_SIZE),
    "kiosk": text(KIOSK_ID_PATTERN, 63),
    "venue": text(VENUE_ID_PATTERN, 63),
    "seq": bounded(1, SEQ_MAX),
    "door": one_of(*DOORS),
    "scanned_ms": _MS,
    "clock": _CLOCK,
    "presentation": raw(max_size=MAX_PRESENTATION_BYTES),
}


@dataclass(frozen=True)
class ClockState:
    """The kiosk's clock when it scanned: synchronised or not, boot id, monotonic ms."""

    synced: bool
    boot_id: bytes
    monotonic_ms: int


@dataclass(frozen=True)
class CheckinRecord:
    """A verified scan at a kiosk, as signed by that kiosk."""

    checkin_id: bytes
    kiosk_id: str
    venue_id: str
    seq: int
    door: str
    scanned_ms: int
    clock: ClockState
    presentation: bytes
    signed_bytes: bytes = b""
    signature: bytes = b""
    wire: bytes = b""

    def verify(self, device_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless ``device_key`` signed this record."""
        keys.verify(device_key, KIND, self.signed_bytes, self.signature)

    def parsed_presentation(self) -> Presentation:
        """The visitor's presentation inside the record, parsed strictly."""
        return Presentation.from_bytes(self.presentation)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the signed wire bytes: the record's commitment in the ledger."""
        return hashlib.sha256(self.wire).digest()


def sign_checkin(
    device_key: Ed25519PrivateKey,
    *,
    checkin_id: bytes,
    kiosk_id: str,
    venue_id: str,
    seq: int,
    door: str,
    scanned_ms: int,
    clock: ClockState,
    presentation: bytes,
) -> bytes:
    """Encode and sign a check-in record; returns its wire bytes."""
    fields = {
        "id": checkin_id,
        "kiosk": kiosk_id,
        "venue": venue_id,
        "seq": seq,
        "door": door,
        "scanned_ms": scanned_ms,
        "clock": {"synced": clock.synced, "boot": clock.boot_id, "mono_ms": clock.monotonic_ms},
        "presentation": presentation,
    }
    record({**_SCHEMA})(fields, KIND)  # refuse to sign what a verifier would refuse
    return seal(KIND, fields, device_key)


def parse_checkin(data: bytes) -> CheckinRecord:
    """Parse a check-in record strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(data, KIND, _SCHEMA, max_size=MAX_BYTES)
    f = sealed.fields
    clock = ClockState(f["clock"]["synced"], f["clock"]["boot"], f["clock"]["mono_ms"])
    return CheckinRecord(
        checkin_id=f["id"],
        kiosk_id=f["kiosk"],
        venue_id=f["venue"],
        seq=f["seq"],
        door=f["door"],
        scanned_ms=f["scanned_ms"],
        clock=clock,
        presentation=f["presentation"],
        signed_bytes=sealed.signed_bytes,
        signature=sealed.signature,
        wire=bytes(data),
    )
