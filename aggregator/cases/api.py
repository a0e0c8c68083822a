"""The case API: ``/v1/cases`` (health officials only; docs/ARCHITECTURE.md "Tracing a case").

1. ``POST /v1/cases`` ``{"reason", "start_ms", "end_ms", "phone" | "code"}`` → 201
   ``{"case", "start_ms", "end_ms", "batches": [b64], "owners": [b64], "credentials": [hex]}``
2. ``POST /v1/cases/<case>/batches`` ``{"enrolments": [b64]}`` → ``{"batches": [b64]}``
3. ``POST /v1/cases/<case>/exposures`` ``{"credentials": [hex]}`` → ``{"case_visits",
   "exposures", "unreadable"}``
4. ``POST /v1/cases/<case>/contacts`` ``{"handles": [str]}`` → ``{"owners", "contacts"}``
   or ``{"enrolments": [b64]}`` → ``{"contacts": [{"enrolment", "contact"}]}``
5. ``POST /v1/cases/<case>/audit`` ``{"action": "export" | "decrypt-failed", "counts"}``
   → 201 ``{"audit": hex}``
6. ``POST /v1/cases/<case>/notices`` ``{"notice": hex, "tags": [b64], "from_day",
   "to_day", "guidance": {"ko", "en"}}`` → 201 ``{"notice": hex}``: published by
   ``aggregator.notices.publish``, which appends the ``notice`` audit entry first
   (refusals: ``NoticeRefused``, JSON through aggregator/api/notices.py)
7. ``POST /v1/cases/<case>/opening`` ``{}`` → ``{"case", "start_ms", "end_ms",
   "sealed_opening": b64}``: step 1's batches, owners and card ids, kept sealed to the
   health authority as one blob (``protocol.case_opening``, ``aggregator.cases.resume``)
   that the official's side opens; audited ``case-resumed``; 410 ``no_opening`` when
   none was kept or retention deleted it
8. ``GET /v1/cases/<case>`` → ``{"case", "reason", "start_ms", "end_ms", "opened_ms",
   "audit": [{"audit", "action", "at_ms", "leaf_index", "block"}]}`` (no visitor data;
   ``leaf_index`` and ``block`` are null until the sequencer seals the entry).

Limits per call: 64 enrolments (batches), 256 credential ids (exposures), 500 handles or
enrolments (contacts), 5000 tags (notices); bodies up to 60 KiB (notices 192 KiB).

Every route first checks the caller (:mod:`.auth`: 401, 400 without the CSRF header,
403), then that this process traces (503 ``tracing_unavailable``), then the body. A
case id that is malformed, missing or another official's is 404 ``no_such_case``, one
answer for all three. Every route that hands out data writes its audit entry
(``append_audit``) after working out the answer and before sending it: if the entry
cannot be written the answer is 503 ``audit_unavailable`` and nothing is shown.
Step 2 is audited as ``batch-lists``, a kind of its own: it hands out data each time it
is called (after an opening by code, and again after every resume of such a case), yet
the case was opened once, by step 1, so a ledger holds one ``case-opened`` per case and
one ``case-resumed`` per resume.
"""

from __future__ import annotations

from typing import Any

import peewee
from flask import Blueprint, Response, current_app, jsonify

from protocol.credential import CREDENTIAL_ID_SIZE
from protocol.errors import ProtocolError
from protocol.issuance import ENROLMENT_ID_SIZE
from protocol.notice import MAX_TAGS, NOTICE_ID_SIZE, TAG_SIZE

from .. import audit_log
from ..api.errors import ApiError, bad_request
from ..notices import publish
from ..phone_numbers import PhoneNumberError
from ..trace.exposure import MAX_CREDENTIALS, TraceRequestError
from ..vault import DAY_MS
from . import bodies, opening, resume, service
from .auth import official
from .bodies import b64, b64_value, hex_value
from .context import EXTENSION, TracingContext
from .tables import CASE_ID_SIZE, CaseEntry

cases_api = Blueprint("cases", __name__, url_prefix="/v1/cases")
#: Routes that hand out no visitor data and so write no audit entry of their own
#: (the audit route writes the entry it is asked for). tests/unit/test_case_audit.py
#: fails for any other route that answers without an audit entry.
UNAUDITED_ROUTES = frozenset({"cases.summary"})
AUDIT_ACTIONS = ("export", "decrypt-failed")
#: Every audit entry of a case the summary lists at most.
SUMMARY_AUDITS = 1000


@cases_api.before_request
def _caller_and_keys() -> None:
    official()
    _context()


def _context() -> TracingContext:
    ctx = current_app.extensions.get(EXTENSION)
    if not isinstance(ctx, TracingContext):
        raise ApiError(503, "tracing_unavailable", "this process does not trace cases")
    return ctx


def _case(case_hex: str) -> CaseEntry:
    """The caller's case ``case_hex``: 404 alike for malformed, missing or not theirs."""
    try:
        case_id = hex_value(case_hex, CASE_ID_SIZE)
    except ValueError:
        case_id = None
    case = service.case_of(case_id, official().name) if case_id is not None else None
    if case is None:
        raise ApiError(404, "no_such_case", "no such case")
    return case


def _audit(action: str, case_id: bytes, reason: str, counts: dict[str, int]) -> bytes:
    """Write the audit entry, or 503: the caller must not answer without it."""
    try:
        return audit_log.append_audit(
            action=action,
            actor=official().name,
            role="official",
            case=case_id,
            reason=reason,
            counts=counts,
        )
    except (peewee.DatabaseError, ProtocolError, RuntimeError) as exc:
        raise ApiError(
            503, "audit_unavailable", "the audit entry cannot be written: nothing is shown"
        ) from exc


def _period(ctx: TracingContext, body: dict[str, Any]) -> tuple[int, int]:
    start, end = bodies.time_ms(body, "start_ms"), bodies.time_ms(body, "end_ms")
    if end <= start:
        bad_request("bad_period", "the period must end after it starts")
    days = ctx.trace.max_period_days
    if end - start > days * DAY_MS:
        bad_request("bad_period", f"the period is longer than {days} days")
    return start, end


def _enrolment(value: object) -> bytes:
    return b64_value(value, ENROLMENT_ID_SIZE)


@cases_api.post("")
def open_case() -> tuple[Response, int]:
    """Open a case by phone number or by the wallet's diagnostic code."""
    ctx = _context()
    body = bodies.json_body({"reason", "start_ms", "end_ms"}, {"phone", "code"})
    reason = bodies.reason(body)
    start, end = _period(ctx, body)
    if ("phone" in body) == ("code" in body):
        bad_request("bad_case", "give exactly one of phone and code")
    try:
        if "phone" in body:
            found = opening.open_by_phone(ctx, bodies.text_field(body, "phone", 32), start, end)
        else:
            found = opening.open_by_code(ctx, bodies.text_field(body, "code", 1024), ctx.clock())
    except (PhoneNumberError, opening.CodeRefused) as exc:
        bad_request(exc.reason, str(exc))
    case_id = service.new_case_id()
    sealed = resume.seal_opening(found, ctx.authority_key)
    _audit("case-opened", case_id, reason, found.counts())
    service.create_case(case_id, official().name, reason, start, end, sealed_opening=sealed)
    answer = {
        "case": case_id.hex(),
        "start_ms": start,
        "end_ms": end,
        "batches": [b64(blob) for blob in found.batches],
        "owners": [b64(blob) for blob in found.owners],
        "credentials": [cid.hex() for cid in found.credentials],
    }
    return jsonify(answer), 201


@cases_api.post("/<case_hex>/opening")
def resume_case(case_hex: str) -> Response:
    """The case's sealed opening again, to take the case up in another tab, browser or day."""
    case = _case(case_hex)
    bodies.json_body(set())
    kept = resume.opening_of(case)
    if kept is None:
        raise ApiError(410, "no_opening", "this case's opening is no longer kept")
    _audit("case-resumed", bytes(case.case_id), case.reason, {})
    return jsonify(
        case=bytes(case.case_id).hex(),
        start_ms=case.start_ms,
        end_ms=case.end_ms,
        sealed_opening=b64(kept),
    )


@cases_api.post("/<case_hex>/batches")
def batches(case_hex: str) -> Response:
    """The sealed batch lists of enrolments (opened from the case's owners) in its period."""
    ctx = _context()
    case = _case(case_hex)
    body = bodies.json_body({"enrolments"})
    enrolments = bodies.item_list(body, "enrolments", _enrolment, limit=64)
    found = opening.batches_of(ctx, enrolments, case.start_ms, case.end_ms)
    counts = {"enrolments": len(enrolments), "batches": len(found)}
    _audit("batch-lists", bytes(case.case_id), case.reason, counts)
    return jsonify(batches=[b64(blob) for blob in found])


def _credential(value: object) -> bytes:
    return hex_value(value, CREDENTIAL_ID_SIZE)


@cases_api.post("/<case_hex>/exposures")
def exposures(case_hex: str) -> Response:
    """The case's visits in its period and every visit overlapping them, by overlap."""
    ctx = _context()
    case = _case(case_hex)
    body = bodies.json_body({"credentials"})
    ids = bodies.item_list(body, "credentials", _credential, limit=MAX_CREDENTIALS)
    try:
        found = service.exposures_of(ctx, case, ids)
    except TraceRequestError as exc:
        bad_request(exc.reason, str(exc))
    counts = {
        "credentials": len(ids),
        "case_visits": len(found.case_stays),
        "exposures": len(found.exposures),
        "unreadable": found.unreadable,
    }
    _audit("exposure-list", bytes(case.case_id), case.reason, counts)
    service.remember_handles(case, [e.handle for e in found.exposures])
    return jsonify(
        case_visits=[
            {"venue": s.venue_id, "start_ms": s.start_ms, "end_ms": s.end_ms}
            for s in found.case_stays
        ],
        exposures=[
            {
                "venue": e.venue_id,
                "case_start_ms": e.case_start_ms,
                "case_end_ms": e.case_end_ms,
                "start_ms": e.exposed_start_ms,
                "end_ms": e.exposed_end_ms,
                "overlap_s": e.overlap_s,
                "code_type": e.code_type,
                "handle": e.handle,
            }
            for e in found.exposures
        ],
        unreadable=found.unreadable,
    )


def _handle(value: object) -> str:
    if type(value) is not str or not 0 < len(value) <= 128:
        raise ValueError("not an exposure handle")
    return value


@cases_api.post("/<case_hex>/contacts")
def contacts(case_hex: str) -> Response:
    """Sealed owners and card contacts of exposure handles, or contacts of enrolments."""
    _context()
    case = _case(case_hex)
    body = bodies.json_body(set(), {"handles", "enrolments"})
    if len(body) != 1:
        bad_request("bad_contacts", "give exactly one of handles and enrolments")
    if "enrolments" in body:
        enrolments = bodies.item_list(body, "enrolments", _enrolment)
        found = service.contacts_of_enrolments(enrolments)
        counts = {"enrolments": len(enrolments), "contacts": len(found)}
        _audit("contacts-decrypted", bytes(case.case_id), case.reason, counts)
        return jsonify(contacts=[{"enrolment": b64(e), "contact": b64(c)} for e, c in found])
    handles = bodies.item_list(body, "handles", _handle)
    try:
        service.check_handles(case, handles)
    except service.UnknownHandles as exc:
        raise ApiError(404, "unknown_handle", "a handle is not from this case's list") from exc
    held = service.contacts_of_handles(_context(), handles)
    counts = {"handles": len(handles), "owners": len(held.owners), "contacts": len(held.contacts)}
    _audit("contacts-decrypted", bytes(case.case_id), case.reason, counts)
    return jsonify(
        owners=[{"handle": h, "owner": b64(blob)} for h, blob in held.owners],
        contacts=[{"handle": h, "contact": b64(blob)} for h, blob in held.contacts],
    )


@cases_api.post("/<case_hex>/audit")
def audit(case_hex: str) -> tuple[Response, int]:
    """Write an audit entry the official's side owes: an export, or a failed decryption."""
    case = _case(case_hex)
    body = bodies.json_body({"action"}, {"counts"})
    action = body["action"]
    if action not in AUDIT_ACTIONS:
        bad_request("bad_action", f"action must be one of {', '.join(AUDIT_ACTIONS)}")
    audit_id = _audit(action, bytes(case.case_id), case.reason, bodies.counts(body))
    return jsonify(audit=audit_id.hex()), 201


def _tag(value: object) -> bytes:
    return b64_value(value, TAG_SIZE)


@cases_api.post("/<case_hex>/notices")
def notices(case_hex: str) -> tuple[Response, int]:
    """Publish an exposure notice whose tags the official's side computed."""
    case = _case(case_hex)
    body = bodies.json_body(
        {"notice", "tags", "from_day", "to_day", "guidance"}, max_bytes=bodies.NOTICE_BODY_BYTES
    )
    try:
        notice_id = hex_value(body["notice"], NOTICE_ID_SIZE)
    except ValueError:
        bad_request("bad_notice", f"notice must be {2 * NOTICE_ID_SIZE} lower-case hex digits")
    tags = bodies.item_list(body, "tags", _tag, limit=MAX_TAGS)
    try:
        notice = publish(
            case=bytes(case.case_id),
            actor=official().name,
            role="official",
            reason=case.reason,
            notice_id=notice_id,
            tags=tags,
            from_day=body["from_day"],
            to_day=body["to_day"],
            guidance=body["guidance"],
        )
    except (peewee.DatabaseError, ProtocolError, RuntimeError) as exc:
        raise ApiError(
            503, "audit_unavailable", "the audit entry cannot be written: nothing is shown"
        ) from exc
    return jsonify(notice=notice.notice_id.hex()), 201


@cases_api.get("/<case_hex>")
def summary(case_hex: str) -> Response:
    """The case (period, reason, when opened) and its audit entries, sealed or not."""
    case = _case(case_hex)
    entries = audit_log.for_case(bytes(case.case_id))[:SUMMARY_AUDITS]
    return jsonify(
        case=bytes(case.case_id).hex(),
        reason=case.reason,
        start_ms=case.start_ms,
        end_ms=case.end_ms,
        opened_ms=case.opened_ms,
        audit=[
            {
                "audit": bytes(row.audit_id).hex(),
                "action": row.action,
                "at_ms": row.at_ms,
                "leaf_index": row.leaf_index,
                "block": row.block_height,
            }
            for row in entries
        ],
    )
