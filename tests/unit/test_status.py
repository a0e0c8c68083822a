"""Kiosk status messages: small JSON objects parsed strictly (protocol.status)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import (
    MalformedError,
    OversizeError,
    ProtocolError,
    UnsupportedVersionError,
)
from protocol.status import (
    COUNTERS,
    FIELDS,
    MAX_BYTES,
    STATES,
    VERSION,
    Heartbeat,
    encode_status,
    parse_status,
)


def status(**fields: Any) -> bytes:
    """A status object with v and state unless overridden (None drops a key)."""
    value = {"v": 1, "state": "online", **fields}
    return json.dumps({k: v for k, v in value.items() if v is not None}).encode()


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_round_trip(state: str) -> None:
    data = encode_status(
        state, firmware="0.1.0", queue=3, oldest_unsent_ms=None, clock_synced=True, load=0.25
    )
    assert parse_status(data) == {
        "v": VERSION,
        "state": state,
        "firmware": "0.1.0",
        "queue": 3,
        "oldest_unsent_ms": None,
        "clock_synced": True,
        "load": 0.25,
    }


def test_encoding_is_sorted_json() -> None:
    assert encode_status("offline") == b'{"state": "offline", "v": 1}'
    assert parse_status(encode_status("offline")) == {"v": 1, "state": "offline"}


def test_encode_refuses_an_unknown_state() -> None:
    with pytest.raises(ValueError):
        encode_status("sleeping")


def test_bytearray_is_accepted() -> None:
    assert parse_status(bytearray(status()))["state"] == "online"


# --- refused input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", ['{"v": 1, "state": "online"}', None, 5, [b"{}"], memoryview(b"{}")]
)
def test_non_bytes_are_refused(data: Any) -> None:
    with pytest.raises(MalformedError) as info:
        parse_status(data)
    assert info.type is MalformedError


def test_size_limit_boundary() -> None:
    base = status(pad="")
    fits = status(pad="x" * (MAX_BYTES - len(base)))
    assert len(fits) == MAX_BYTES == 4096
    assert parse_status(fits)["pad"] == "x" * (MAX_BYTES - len(base))
    with pytest.raises(OversizeError):
        parse_status(status(pad="x" * (MAX_BYTES - len(base) + 1)))


def test_oversize_is_checked_before_parsing() -> None:
    with pytest.raises(OversizeError):
        parse_status(b"[" * (MAX_BYTES + 1))


@pytest.mark.parametrize(
    "data",
    [
        b'{"v": 1, "state": "\xff"}',
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b'{"v": 1, "state": "online"\x80}',
    ],
)
def test_invalid_utf8_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedError) as info:
        parse_status(data)
    assert info.type is MalformedError


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"online", b"{'v': 1}", b'{"v": 1,}', b'{"v": 1} {}', b"\x00", b"]"],
)
def test_not_json_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedError, match="not JSON"):
        parse_status(data)


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 3000,
        b"{" * 3000,
        b'{"a":' * 800,
        b"[" * 2000 + b"]" * 2000,
        b'{"v": 1, "state": "online", "x": ' + b"[" * 1900 + b"]" * 1900 + b"}",
    ],
    ids=["open-arrays", "open-objects", "open-members", "closed-arrays", "nested-in-status"],
)
def test_deep_nesting_is_malformed_not_a_recursion_error(data: bytes) -> None:
    assert len(data) <= MAX_BYTES
    with pytest.raises(MalformedError):
        parse_status(data)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    data = b'{"v": 1, "state": "online", "load": ' + constant.encode() + b"}"
    with pytest.raises(MalformedError, match=constant):
        parse_status(data)


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999"])
def test_overflowing_number_is_refused_like_infinity(literal: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_status(b'{"v": 1, "state": "online", "load": ' + literal + b"}")


@pytest.mark.parametrize(
    "version",
    ["true", "false", "1.0", "2", "0", "-1", '"1"', "null", "[1]", "{}", "10000000000000000000001"],
)
def test_unsupported_versions(version: str) -> None:
    data = b'{"v": ' + version.encode() + b', "state": "online"}'
    with pytest.raises(UnsupportedVersionError):
        parse_status(data)


def test_missing_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError):
        parse_status(status(v=None))


@pytest.mark.parametrize("data", [b"[]", b"[1]", b"1", b'"online"', b"null", b"true"])
def test_non_objects_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError, match="object"):
        parse_status(data)


@pytest.mark.parametrize("state", ["Online", "ONLINE", "", "asleep", 1, True, ["online"]])
def test_bad_state_is_refused(state: Any) -> None:
    with pytest.raises(MalformedError, match="state"):
        parse_status(status(state=state))


def test_missing_state_is_refused() -> None:
    with pytest.raises(MalformedError, match="state"):
        parse_status(status(state=None))


@pytest.mark.parametrize("value", [[], [1], {}, {"a": 1}])
def test_non_scalar_value_is_refused(value: Any) -> None:
    with pytest.raises(MalformedError, match="scalar"):
        parse_status(status(queue=value))


def test_non_scalar_value_under_a_long_key_is_refused_with_a_short_message() -> None:
    with pytest.raises(MalformedError) as info:
        parse_status(status(**{"k" * 2000: [1]}))
    assert len(str(info.value)) < 100


# --- fuzzing -------------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(data: bytes) -> None:
    try:
        value = parse_status(data)
    except ProtocolError:
        return
    assert type(value) is dict
    assert value["v"] == 1 and value["state"] in STATES


@_FUZZ
@given(data=st.binary(max_size=5000))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    _check(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@_FUZZ
@given(
    value=st.dictionaries(
        st.sampled_from(["v", "state", "queue", "x"]) | st.text(max_size=5), _JSON, max_size=5
    )
)
def test_arbitrary_json_objects_raise_only_protocol_errors(value: dict[str, Any]) -> None:
    _check(json.dumps(value).encode())


@_FUZZ
@given(text=st.text(alphabet='[]{}":,0123456789.eE-+ \\ntrufalsNIinity', max_size=400))
def test_json_like_text_raises_only_protocol_errors(text: str) -> None:
    _check(text.encode())


# --- documented heartbeat fields -----------------------------------------------------------------

HEARTBEAT = {
    "firmware": "0.2.0",
    "queue": 3,
    "oldest_unsent_ms": 2500,
    "in_flight": 2,
    "last_receipt_age_ms": None,
    "fps": 14.8,
    "decode_ms": 0.71,
    "clock_synced": False,
    "clock_boot": "0f" * 16,
    "clock_mono_ms": 123456,
    "clock_wall_ms": 1764000000000,
    "disk_free_mb": 48.2,
    "disk_low": True,
    "config_serial": 7,
    **{name: 1 for name in COUNTERS},
}


def test_full_heartbeat_round_trips() -> None:
    data = encode_status("online", **HEARTBEAT)
    assert len(data) < MAX_BYTES // 2
    assert parse_status(data) == {"v": 1, "state": "online", **HEARTBEAT}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("queue", -1),
        ("queue", 1.5),
        ("queue", True),
        ("queue", None),
        ("oldest_unsent_ms", "5"),
        ("fps", -0.1),
        ("fps", "fast"),
        ("decode_ms", True),
        ("clock_synced", 1),
        ("clock_boot", "0F" * 16),
        ("clock_boot", "0f" * 15),
        ("disk_low", "yes"),
        ("firmware", ""),
        ("scanned", 2**63),
        ("config_serial", -3),
    ],
)
def test_documented_fields_are_type_checked(name: str, value: Any) -> None:
    with pytest.raises(MalformedError, match=name):
        parse_status(status(**{name: value}) if value is not None else _with_null(name))
    with pytest.raises(ValueError):
        encode_status("online", **{name: value})


def _with_null(name: str) -> bytes:
    return json.dumps({"v": 1, "state": "online", name: None}).encode()


def test_every_documented_field_is_in_the_docstring() -> None:
    import protocol.status

    for name in FIELDS:
        assert f"``{name}``" in protocol.status.__doc__ or name in COUNTERS


# --- the Heartbeat object (one name per figure) --------------------------------------------------


def test_heartbeat_reads_every_documented_field() -> None:
    beat = Heartbeat.from_fields(parse_status(encode_status("online", **HEARTBEAT)))
    assert beat.state == "online"
    for name, value in HEARTBEAT.items():
        if name in COUNTERS:
            assert beat.counters[name] == value
        else:
            assert getattr(beat, name) == value


def test_fields_are_the_heartbeat_figures_and_counters() -> None:
    figures = {f.name for f in dataclasses.fields(Heartbeat)} - {"state", "counters"}
    assert set(FIELDS) == figures | set(COUNTERS)


@pytest.mark.parametrize(
    "alias", [{"queue_depth": 3}, {"pending": 3}, {"oldest_pending_ms": 5}, {"clock": "synced"}]
)
def test_heartbeat_has_no_aliases(alias: dict[str, Any]) -> None:
    beat = Heartbeat.from_fields({"state": "online", **alias})
    assert (beat.queue, beat.oldest_unsent_ms, beat.clock_synced) == (None, None, None)


def test_heartbeat_reads_invalid_figures_as_none() -> None:
    beat = Heartbeat.from_fields({"state": "asleep", "queue": "lots", "firmware": "x" * 33})
    assert (beat.state, beat.queue, beat.firmware) == (None, None, None)


@_FUZZ
@given(value=st.dictionaries(st.sampled_from([*FIELDS, "state"]) | st.text(max_size=5), _JSON))
def test_heartbeat_from_any_json_object_never_raises(value: dict[str, Any]) -> None:
    beat = Heartbeat.from_fields(value)
    assert beat.queue is None or FIELDS["queue"](beat.queue)
