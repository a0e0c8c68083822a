"""Hypothesis fuzzing of the JSON and TOML documents protocol/ defines.

The site and enrol answers (protocol.enrolment), the selftest report
(protocol.selftest_report), the kiosk.toml shape (protocol.kiosk_toml) and the shared
base64 of key strings (protocol.verifier_key). Whatever the input, a reader returns a
value or raises a protocol.errors exception; any other exception is a bug.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys, verifier_key
from protocol.enrolment import EnrolAnswer, KioskTrust, SiteAnswer
from protocol.errors import MalformedError, NoteError, OversizeError, ProtocolError
from protocol.kiosk_toml import KioskToml, MissingKeyError
from protocol.selftest_report import (
    FAIL,
    MAX_BYTES,
    PASS,
    WARN,
    CheckResult,
    SelftestReport,
    parse_report,
)
from tests.unit.wire_checks import seeded

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ISSUER = keys.did_key(seeded("documents-issuer"))
LEDGER = keys.did_key(seeded("documents-ledger"))
DEVICE = keys.did_key(seeded("documents-device"))
TRUST = KioskTrust((ISSUER,), LEDGER, "broker.example", 8883, True)
SITE = SiteAnswer("alice", TRUST)
ENROLMENT = EnrolAnswer("k-1", "cafe-1", DEVICE, TRUST, "k-1", "secret")
REPORT = SelftestReport(
    "k-1",
    (CheckResult("pin map", PASS, "ok", 0.0123), CheckResult("clock", WARN, "not synced", 1)),
)
TOML = KioskToml(
    kiosk_id="k-1",
    venue="cafe-1",
    state_dir="/var/lib/safecode",
    issuer_keys=(ISSUER,),
    ledger_key=LEDGER,
    pins_file="/etc/safecode/pins.toml",
    settings={"heartbeat_s": 15.0},
    mqtt={"host": "b", "port": 8883, "tls": True, "username": "k-1", "password": None},
    camera={"kind": "picamera2"},
)

_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_JSON = st.recursive(
    _SCALAR,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
READERS = {
    "site": (SiteAnswer.from_dict, SITE.to_dict()),
    "enrol": (EnrolAnswer.from_dict, ENROLMENT.to_dict()),
    "report": (SelftestReport.from_dict, REPORT.to_dict()),
    "kiosk.toml": (KioskToml.from_dict, TOML.to_dict()),
}


def read_or_refuse(reader: Any, value: Any) -> Any:
    """The reader's result, or None if it raised a ProtocolError."""
    try:
        return reader(value)
    except ProtocolError:
        return None


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a nested item of a document (dict keys and list indexes)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(READERS))
def test_round_trip(name: str) -> None:
    reader, document = READERS[name]
    assert reader(document).to_dict() == document
    assert reader(json.loads(json.dumps(document))).to_dict() == document


def test_report_text_round_trip() -> None:
    assert parse_report(REPORT.to_json()) == SelftestReport(
        "k-1",
        (CheckResult("pin map", PASS, "ok", 0.012), CheckResult("clock", WARN, "not synced", 1.0)),
    )
    assert REPORT.ok and not SelftestReport("k-1", (CheckResult("x", FAIL, "", 0),)).ok


# --- specific refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(READERS))
def test_unknown_field_is_malformed(name: str) -> None:
    reader, document = READERS[name]
    with pytest.raises(MalformedError):
        reader({**document, "extra": 1})


@pytest.mark.parametrize("name", ["site", "enrol", "report"])
def test_missing_field_is_malformed(name: str) -> None:
    reader, document = READERS[name]
    for key in document:
        with pytest.raises(MalformedError):
            reader({k: v for k, v in document.items() if k != key})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("kiosk", None),
        ("trust", None),
        ("kiosk", "id"),
        ("kiosk", "venue"),
        ("kiosk", "state_dir"),
        ("trust", "issuer_keys"),
        ("trust", "ledger_key"),
    ],
)
def test_kiosk_toml_names_the_missing_key(table: str, key: str | None) -> None:
    document = copy.deepcopy(TOML.to_dict())
    if key is None:
        del document[table]
    else:
        del document[table][key]
    with pytest.raises(MissingKeyError) as info:
        KioskToml.from_dict(document)
    assert info.value.key == (key or table)


@pytest.mark.parametrize("reader", [SiteAnswer.from_dict, EnrolAnswer.from_dict])
@pytest.mark.parametrize(
    "bad",
    [
        {"ledger_key": "did:key:nothing"},
        {"issuer_keys": []},
        {"issuer_keys": [ISSUER] * 17},
        {"issuer_keys": ISSUER},
        {"mqtt": {"host": "b", "port": 70000, "tls": True}},
        {"mqtt": {"host": "", "port": 1883, "tls": False}},
        {"mqtt": {"host": "b", "port": 1883, "tls": "yes"}},
    ],
)
def test_bad_trust_is_malformed(reader: Any, bad: dict[str, Any]) -> None:
    document = SITE.to_dict() if reader is SiteAnswer.from_dict else ENROLMENT.to_dict()
    if "mqtt" in bad and reader is EnrolAnswer.from_dict:
        bad = {"mqtt": {**bad["mqtt"], "username": None, "password": None}}
    with pytest.raises(MalformedError):
        reader({**document, **bad})


def test_enrol_answer_refuses_a_bad_kiosk_id_or_device_key() -> None:
    for bad in ({"kiosk_id": "Not A Kiosk"}, {"device_key": "x"}, {"venue_id": "Cafe"}):
        with pytest.raises(MalformedError):
            EnrolAnswer.from_dict({**ENROLMENT.to_dict(), **bad})


def test_report_whose_ok_contradicts_its_checks_is_malformed() -> None:
    with pytest.raises(MalformedError, match="ok"):
        SelftestReport.from_dict({**REPORT.to_dict(), "ok": False})


def test_oversize_report_is_refused() -> None:
    with pytest.raises(OversizeError):
        parse_report(" " * (MAX_BYTES + 1))


@pytest.mark.parametrize("text", ["", "{", "[1]", "null", b"\xff", '{"kiosk": "k-1"}', None, 5])
def test_not_a_report_is_malformed(text: Any) -> None:
    with pytest.raises(MalformedError):
        parse_report(text)


def test_long_detail_is_cut_when_written() -> None:
    long = SelftestReport("k-1", (CheckResult("x", FAIL, "d" * 10_000, 0),))
    assert parse_report(long.to_json()).checks[0].detail == "d" * 4000


@pytest.mark.parametrize("text", ["AQ", "AQ==\n", "A===", "AR==", "é", "AQ= ="])
def test_non_canonical_base64_is_a_note_error(text: str) -> None:
    with pytest.raises(NoteError):
        verifier_key.b64decode(text, "key")


# --- fuzzing -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(READERS))
@FUZZ
@given(value=_JSON)
def test_arbitrary_json_is_read_or_refused(name: str, value: Any) -> None:
    read_or_refuse(READERS[name][0], value)


@pytest.mark.parametrize("name", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_one_item_replaced_is_read_or_refused(name: str, data: st.DataObject) -> None:
    reader, document = READERS[name]
    document = copy.deepcopy(document)
    path = data.draw(st.sampled_from(_paths(document)))
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = data.draw(_JSON)
    read = read_or_refuse(reader, document)
    if read is not None:
        written = read.to_dict()  # whatever is read writes a document that reads the same
        assert reader(written).to_dict() == written


@FUZZ
@given(text=st.text(max_size=600) | st.binary(max_size=600))
def test_report_from_arbitrary_text(text: str | bytes) -> None:
    read_or_refuse(parse_report, text)


@FUZZ
@given(text=st.text(alphabet="ABCabc0123+/=\n é", max_size=60))
def test_b64decode_arbitrary_text(text: str) -> None:
    try:
        raw = verifier_key.b64decode(text, "key")
    except NoteError:
        return
    assert verifier_key.b64encode(raw) == text
