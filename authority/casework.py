"""The official's side of a trace, in Python: every step of a case, decryption included.

:func:`trace_case` runs the whole flow against the case API (``authority.case_client``)
with the health authority's private key, which never leaves this process:

1. open the case (by phone number or the wallet's diagnostic code): sealed batch lists,
   sealed owners, card credential ids; or take an open case up again
   (:func:`resume_case`, ``POST /v1/cases/<case>/opening``): the same three lists, kept
   by the server sealed to the HA key as one blob (``protocol.case_opening``), opened here;
2. open the batch lists into day credential ids; open owners into enrolment ids and ask
   for those enrolments' batches (``/batches``), and open those too;
3. ask for the exposure list of those credential ids (``/exposures``);
4. ask for the owners and contacts of the exposures' handles (``/contacts``, 500 per
   call): open owners into enrolment ids, ask for their contact blobs, open every
   contact blob (``protocol.contact.open_contact``);
5. build the call list (name, phone, language per exposure), longest overlap first;
6. optionally (:func:`publish_notices`) compute each exposed contact's notice tag from
   its ``notify`` secret (``protocol.notice.notice_tag``) and publish the notice
   (``/notices``): the server never sees a secret, the public list never a name.

A blob the key cannot open means a wrong key (or a damaged blob): the flow posts the
``decrypt-failed`` audit entry and stops with :class:`WrongKeyError`; nothing else is
written. ``progress`` is told each step in one line.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.case_opening import open_case_opening
from protocol.contact import Contact, open_contact
from protocol.errors import ProtocolError
from protocol.issuance import open_batch_list, open_owner
from protocol.notice import MAX_TAGS, new_notice_id, notice_tag

from .case_client import CaseClient
from .csv_export import CallRow

#: Handles or enrolments per contacts request (the server's limit).
CONTACTS_PER_CALL = 500
#: Credential ids per exposure request (the server's limit).
CREDENTIALS_PER_CALL = 256

Progress = Callable[[str], None]


class CaseworkError(Exception):
    """The flow cannot go on; the message says why."""


class WrongKeyError(CaseworkError):
    """The health authority key opens none of the case's blobs: wrong key file."""


@dataclass
class Exposed:
    """One exposure row and the contact it leads to (None: not found or not opened)."""

    exposure: dict[str, Any]
    contact: Contact | None = None


@dataclass
class CaseResult:
    """What a trace found: the case id, its visits, and the exposures with contacts."""

    case: str
    #: The case's period ``[start_ms, end_ms)``, as the server answered.
    start_ms: int = 0
    end_ms: int = 0
    credentials: list[bytes] = field(default_factory=list)
    case_visits: list[dict[str, Any]] = field(default_factory=list)
    exposed: list[Exposed] = field(default_factory=list)
    unreadable: int = 0

    def call_rows(self) -> list[CallRow]:
        """The call list (exposures whose contact opened), longest overlap first."""
        rows = [
            CallRow(
                venue=str(e.exposure["venue"]),
                case_start_ms=int(e.exposure["case_start_ms"]),
                case_end_ms=int(e.exposure["case_end_ms"]),
                start_ms=int(e.exposure["start_ms"]),
                end_ms=int(e.exposure["end_ms"]),
                overlap_s=float(e.exposure["overlap_s"]),
                code_type=str(e.exposure["code_type"]),
                name=e.contact.name or "",
                phone=e.contact.phone,
                language=e.contact.language,
            )
            for e in self.exposed
            if e.contact is not None
        ]
        rows.sort(key=lambda r: (-r.overlap_s, r.start_ms, r.venue, r.phone))
        return rows


def b64(value: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")


def unb64(text: object) -> bytes:
    """Bytes of unpadded base64url text; CaseworkError for anything else."""
    if not isinstance(text, str):
        raise CaseworkError("the server sent a value that is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise CaseworkError("the server sent a value that is not base64url") from exc


class _Opener:
    """Opens sealed blobs with the key; the first failure posts ``decrypt-failed``."""

    def __init__(self, client: CaseClient, key: X25519PrivateKey, case: str) -> None:
        self.client, self.key, self.case = client, key, case

    def _failed(self, what: str, exc: ProtocolError) -> WrongKeyError:
        self.client.post(
            f"/v1/cases/{self.case}/audit", {"action": "decrypt-failed", "counts": {"blobs": 1}}
        )
        return WrongKeyError(
            f"the health authority key cannot open the case's {what}: wrong key file? ({exc})"
        )

    def batch(self, blob: bytes) -> list[bytes]:
        try:
            return open_batch_list(self.key, blob)
        except ProtocolError as exc:
            raise self._failed("batch lists", exc) from exc

    def owner(self, blob: bytes) -> bytes:
        try:
            return open_owner(self.key, blob)
        except ProtocolError as exc:
            raise self._failed("owners", exc) from exc

    def opening(self, answer: dict[str, Any]) -> dict[str, Any]:
        """A resumed case's answer with its sealed opening opened into the open answer's lists."""
        try:
            kept = open_case_opening(self.key, unb64(answer["sealed_opening"]))
        except ProtocolError as exc:
            raise self._failed("kept opening", exc) from exc
        return {
            **answer,
            "batches": [b64(blob) for blob in kept.batches],
            "owners": [b64(blob) for blob in kept.owners],
            "credentials": [cid.hex() for cid in kept.credentials],
        }

    def contact(self, blob: bytes) -> Contact:
        try:
            return open_contact(self.key, blob)
        except ProtocolError as exc:
            raise self._failed("contacts", exc) from exc


def open_case(
    client: CaseClient,
    *,
    reason: str,
    start_ms: int,
    end_ms: int,
    phone: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """``POST /v1/cases``: the answer (case id and sealed lists)."""
    body: dict[str, Any] = {"reason": reason, "start_ms": start_ms, "end_ms": end_ms}
    if (phone is None) == (code is None):
        raise CaseworkError("give exactly one of a phone number and a code")
    body.update({"phone": phone} if phone is not None else {"code": code})
    answer = client.post("/v1/cases", body)
    if not isinstance(answer, dict) or not isinstance(answer.get("case"), str):
        raise CaseworkError("the server's answer to opening the case holds no case id")
    return answer


def resume_case(client: CaseClient, case: str) -> dict[str, Any]:
    """``POST /v1/cases/<case>/opening``: the case's kept opening (audited ``case-resumed``)."""
    answer = client.post(f"/v1/cases/{case}/opening", {})
    if not isinstance(answer, dict) or answer.get("case") != case:
        raise CaseworkError("the server's answer to resuming the case is not this case")
    if not isinstance(answer.get("sealed_opening"), str):
        raise CaseworkError("the server's answer to resuming the case holds no opening")
    return answer


def credentials_of(
    client: CaseClient, opener: _Opener, opened: dict[str, Any], progress: Progress
) -> list[bytes]:
    """The case's day credential ids: batch lists, owners' batches, card credentials."""
    ids = [cid for blob in opened.get("batches", []) for cid in opener.batch(unb64(blob))]
    enrolments = list(dict.fromkeys(opener.owner(unb64(b)) for b in opened.get("owners", [])))
    if enrolments:
        path = f"/v1/cases/{opener.case}/batches"
        answer = client.post(path, {"enrolments": [b64(e) for e in enrolments]})
        ids += [cid for blob in answer["batches"] for cid in opener.batch(unb64(blob))]
    for text in opened.get("credentials", []):
        try:
            ids.append(bytes.fromhex(str(text)))
        except ValueError as exc:
            raise CaseworkError("the server sent a credential id that is not hex") from exc
    ids = list(dict.fromkeys(ids))
    progress(f"case {opener.case}: {len(ids)} day credential(s)")
    return ids


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[at : at + size] for at in range(0, len(items), size)]


def exposures_of(client: CaseClient, case: str, ids: Sequence[bytes], result: CaseResult) -> None:
    """Fill ``result`` with the exposure list of ``ids`` (several calls past 256 ids)."""
    for part in _chunks(list(ids), CREDENTIALS_PER_CALL):
        answer = client.post(
            f"/v1/cases/{case}/exposures", {"credentials": [c.hex() for c in part]}
        )
        result.case_visits += answer["case_visits"]
        result.exposed += [Exposed(e) for e in answer["exposures"]]
        result.unreadable += int(answer["unreadable"])


def contacts_of(
    client: CaseClient, opener: _Opener, result: CaseResult, progress: Progress
) -> None:
    """Open the contact of every exposure: owners → enrolments → contact blobs → contacts."""
    handles = list(dict.fromkeys(str(e.exposure["handle"]) for e in result.exposed))
    by_handle: dict[str, Contact] = {}
    enrolment_of: dict[str, bytes] = {}
    for part in _chunks(handles, CONTACTS_PER_CALL):
        answer = client.post(f"/v1/cases/{opener.case}/contacts", {"handles": list(part)})
        for item in answer["owners"]:
            enrolment_of[item["handle"]] = opener.owner(unb64(item["owner"]))
        for item in answer["contacts"]:
            by_handle[item["handle"]] = opener.contact(unb64(item["contact"]))
    enrolments = list(dict.fromkeys(enrolment_of.values()))
    contact_of: dict[bytes, Contact] = {}
    for part in _chunks(enrolments, CONTACTS_PER_CALL):
        path = f"/v1/cases/{opener.case}/contacts"
        answer = client.post(path, {"enrolments": [b64(e) for e in part]})
        for item in answer["contacts"]:
            contact_of[unb64(item["enrolment"])] = opener.contact(unb64(item["contact"]))
    for handle, enrolment in enrolment_of.items():
        if enrolment in contact_of:
            by_handle[handle] = contact_of[enrolment]
    for exposed in result.exposed:
        exposed.contact = by_handle.get(str(exposed.exposure["handle"]))
    progress(f"case {opener.case}: {len(by_handle)} contact(s) opened")


def trace_case(
    client: CaseClient,
    load_key: Callable[[], X25519PrivateKey],
    *,
    reason: str = "",
    start_ms: int = 0,
    end_ms: int = 0,
    phone: str | None = None,
    code: str | None = None,
    resume: str | None = None,
    progress: Progress = lambda line: None,
) -> CaseResult:
    """Run a whole case (see the module docstring); the client must be logged in.

    With ``resume`` (a case id) the case is taken up again as the server kept it, and
    ``reason``, the period, ``phone`` and ``code`` are not used: the case has its own.
    ``load_key`` opens the key file after the case is opened, so a wrong passphrase can
    be audited against the case (``decrypt-failed``); it raises CaseworkError then.
    """
    if resume is not None:
        opened = resume_case(client, resume)
    else:
        opened = open_case(
            client, reason=reason, start_ms=start_ms, end_ms=end_ms, phone=phone, code=code
        )
    case = opened["case"]
    try:
        key = load_key()
    except CaseworkError:
        client.post(f"/v1/cases/{case}/audit", {"action": "decrypt-failed", "counts": {"keys": 1}})
        raise
    opener = _Opener(client, key, case)
    if resume is not None:
        opened = opener.opening(opened)
    progress(
        f"case {case} {'resumed' if resume is not None else 'opened'}: "
        f"{len(opened.get('batches', []))} batch list(s), "
        f"{len(opened.get('owners', []))} owner(s), {len(opened.get('credentials', []))} card(s)"
    )
    result = CaseResult(case, start_ms=int(opened["start_ms"]), end_ms=int(opened["end_ms"]))
    result.credentials = credentials_of(client, opener, opened, progress)
    if not result.credentials:
        progress(f"case {case}: no day credential in the period: nothing to list")
        return result
    exposures_of(client, case, result.credentials, result)
    progress(
        f"case {case}: {len(result.case_visits)} visit(s) of the case, "
        f"{len(result.exposed)} exposure(s), {result.unreadable} unreadable row(s)"
    )
    if result.exposed:
        contacts_of(client, opener, result, progress)
    return result


def export_audit(client: CaseClient, case: str, rows: int) -> str:
    """Post the ``export`` audit entry (before the export is written); its audit id."""
    answer = client.post(f"/v1/cases/{case}/audit", {"action": "export", "counts": {"rows": rows}})
    return str(answer["audit"])


def publish_notices(
    client: CaseClient,
    case: str,
    contacts: Sequence[Contact],
    *,
    from_day: str,
    to_day: str,
    guidance: dict[str, str],
) -> list[str]:
    """Publish one notice per 5000 exposed contacts; the notice ids (hex)."""
    secrets = list(dict.fromkeys(c.notify_secret for c in contacts))
    ids = []
    for part in _chunks(secrets, MAX_TAGS):
        notice = new_notice_id()
        body = {
            "notice": notice.hex(),
            "tags": [b64(notice_tag(secret, notice)) for secret in part],
            "from_day": from_day,
            "to_day": to_day,
            "guidance": guidance,
        }
        ids.append(str(client.post(f"/v1/cases/{case}/notices", body)["notice"]))
    return ids
