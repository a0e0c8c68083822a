"""What tracing reads from an opened check-in record: door, credential id, code type.

The plaintext comes out of the vault (AES-256-GCM under a day key only this
aggregator holds, with the check-in id and day as associated data), so it is exactly
the signed record ingest stored after parsing it strictly (protocol/checkin.py) and
checking both signatures. Parsing it strictly again (canonical re-encoding of the
record and of the presentation inside) costs four times what tracing needs, so this
reader only decodes the CBOR and checks the shape of the three fields it takes;
anything else raises :class:`~protocol.errors.MalformedError` (counted unreadable).
"""

from __future__ import annotations

from typing import Any

import cbor2

from protocol.checkin import DOORS
from protocol.checkin import MAX_BYTES as MAX_RECORD_BYTES
from protocol.credential import CREDENTIAL_ID_SIZE
from protocol.errors import MalformedError
from protocol.presentation import VERSION as PRESENTATION_VERSION

#: Nesting of a record: map > presentation bytes; the presentation: list > credential list.
_MAX_DEPTH = 4


def _loads(data: Any, what: str) -> Any:
    if not isinstance(data, bytes) or len(data) > MAX_RECORD_BYTES:
        raise MalformedError(f"{what}: not a stored record")
    try:
        return cbor2.loads(data, max_depth=_MAX_DEPTH, tag_hook=_no_tags)
    except (cbor2.CBORDecodeError, RecursionError, ValueError, TypeError) as exc:
        raise MalformedError(f"{what}: not CBOR ({exc})") from exc


def _no_tags(decoder: Any, tag: Any) -> Any:
    raise ValueError("tags are not used in records")


def _presentation_fields(data: object) -> tuple[int, bytes]:
    presentation = _loads(data, "presentation")
    if type(presentation) is not list or len(presentation) != 5:
        raise MalformedError("presentation: not a presentation")
    code_type, credential = presentation[1], presentation[2]
    if type(code_type) is not int or type(credential) is not list or len(credential) < 2:
        raise MalformedError("presentation: no code type or credential")
    credential_id = credential[1]
    if type(credential_id) is not bytes or len(credential_id) != CREDENTIAL_ID_SIZE:
        raise MalformedError("presentation: no credential id")
    return code_type, credential_id


def code_type_of_presentation(presentation: bytes) -> int:
    """The code type of a presentation ingest has already parsed strictly (for its mark).

    Strict CBOR writes ``[v, code_type, ...]`` as 0x85, then each small uint in one
    byte, so the third byte is the code type; anything else is decoded.
    """
    if (
        len(presentation) > 3
        and presentation[0] == 0x85
        and presentation[1] == PRESENTATION_VERSION
        and presentation[2] < 24
    ):
        return presentation[2]
    return _presentation_fields(presentation)[0]


def credential_id_of(presentation: bytes) -> bytes:
    """The credential id in a presentation ingest has already parsed strictly (for its tag).

    A fiftieth of a strict parse's cost, on the ingest path.
    """
    return _presentation_fields(presentation)[1]


def visit_fields(wire: bytes) -> tuple[str, bytes, int]:
    """``(door, credential_id, code_type)`` of an opened check-in record."""
    record = _loads(wire, "check-in")
    if type(record) is not dict or record.get("type") != "checkin":
        raise MalformedError("check-in: not a check-in record")
    door = record.get("door")
    if door not in DOORS:
        raise MalformedError("check-in: no door")
    code_type, credential_id = _presentation_fields(record.get("presentation"))
    return door, credential_id, code_type
