"""protocol/notice.py: the notice tag, notice ids, and the strict notice checks (fuzzed)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import notice, vectors
from protocol.errors import MalformedError, OutOfRangeError, OversizeError, ProtocolError
from protocol.notice import (
    MAX_GUIDANCE,
    MAX_PADDED_TAGS,
    MAX_TAGS,
    DuplicateTagError,
    b64encode,
    check_notice,
    notice_tag,
    parse_notice_json,
)

SECRET = bytes(range(32))
NOTICE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
GUIDANCE = {"ko": "증상이 있으면 검사를 받으세요.", "en": "If you have symptoms, get tested."}


def good_json(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "notice": NOTICE_ID.hex(),
        "tags": [b64encode(bytes([i]) * 16) for i in range(3)],
        "from_day": "2026-11-20",
        "to_day": "2026-11-21",
        "guidance": dict(GUIDANCE),
    }
    value.update(overrides)
    return value


def test_tag_is_the_contracts_hmac() -> None:
    expected = hmac.new(SECRET, b"safecode/v1/notice\n" + NOTICE_ID, hashlib.sha256).digest()
    assert notice_tag(SECRET, NOTICE_ID) == expected[:16]
    assert len(notice_tag(SECRET, NOTICE_ID)) == 16
    assert notice_tag(SECRET, NOTICE_ID) != notice_tag(SECRET, bytes(16))
    assert notice_tag(SECRET, NOTICE_ID) != notice_tag(bytes(32), NOTICE_ID)


@pytest.mark.parametrize(
    ("secret", "notice_id"),
    [
        (bytes(31), NOTICE_ID),
        (bytes(33), NOTICE_ID),
        (SECRET, bytes(15)),
        (SECRET, bytes(17)),
        ("x" * 32, NOTICE_ID),
        (SECRET, bytearray(16)),
    ],
)
def test_tag_refuses_wrong_sizes_and_types(secret: Any, notice_id: Any) -> None:
    with pytest.raises(MalformedError):
        notice_tag(secret, notice_id)


def test_notice_ids_are_random_and_16_bytes() -> None:
    ids = {notice.new_notice_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 16 for i in ids)


def test_padded_size_rounds_up_to_blocks_of_16() -> None:
    assert [notice.padded_size(n) for n in (1, 15, 16, 17, 32, 33)] == [16, 16, 16, 32, 32, 48]
    assert notice.padded_size(MAX_TAGS) == MAX_PADDED_TAGS == 5008


def test_json_round_trip() -> None:
    parsed = parse_notice_json(good_json())
    assert parsed.notice_id == NOTICE_ID and len(parsed.tags) == 3
    assert parsed.to_json() == good_json()
    published = check_notice(
        notice_id=NOTICE_ID,
        tags=parsed.tags,
        from_day="2026-11-20",
        to_day="2026-11-20",
        guidance=GUIDANCE,
        published_ms=1_796_000_000_000,
    )
    assert parse_notice_json(published.to_json(), published=True) == published


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"notice": NOTICE_ID.hex().upper()}, MalformedError),
        ({"notice": NOTICE_ID.hex()[:-2]}, MalformedError),
        ({"notice": 5}, MalformedError),
        ({"tags": []}, MalformedError),
        ({"tags": "AAAA"}, MalformedError),
        ({"tags": [b64encode(bytes(15))]}, MalformedError),
        ({"tags": [b64encode(bytes(16)) + "="]}, MalformedError),  # padded base64
        ({"tags": ["AAAAAAAAAAAAAAAAAAAAAB"]}, MalformedError),  # not canonical (stray bits)
        ({"tags": ["AAAAAAAAAAAAAAAAAAAA+/"]}, MalformedError),  # not url-safe
        ({"tags": [b64encode(bytes(16))] * 2}, DuplicateTagError),
        ({"tags": [b64encode(i.to_bytes(16, "big")) for i in range(MAX_TAGS + 1)]}, OversizeError),
        ({"from_day": "2026-02-30"}, MalformedError),
        ({"from_day": "2026-1-20"}, MalformedError),
        ({"from_day": "２０２６-11-20"}, MalformedError),  # full-width digits
        ({"to_day": "2026-11-19"}, OutOfRangeError),
        ({"from_day": "2026-10-23"}, OutOfRangeError),  # 29 days
        ({"guidance": {"ko": "a"}}, MalformedError),
        ({"guidance": {"ko": "a", "en": "b", "fr": "c"}}, MalformedError),
        ({"guidance": ["ko", "en"]}, MalformedError),
        ({"guidance": {"ko": "", "en": "b"}}, MalformedError),
        ({"guidance": {"ko": "a" * (MAX_GUIDANCE + 1), "en": "b"}}, MalformedError),
        ({"guidance": {"ko": "a\nb", "en": "b"}}, MalformedError),
        ({"guidance": {"ko": "a\u202eb", "en": "b"}}, MalformedError),  # bidi override
        ({"guidance": {"ko": "a\u200bb", "en": "b"}}, MalformedError),  # zero-width space
        ({"guidance": {"ko": "a\u2028b", "en": "b"}}, MalformedError),  # line separator
        ({"guidance": {"ko": " a", "en": "b"}}, MalformedError),
        ({"guidance": {"ko": "e\u0301", "en": "b"}}, MalformedError),  # not NFC
        ({"guidance": {"ko": 3, "en": "b"}}, MalformedError),
        ({"published_ms": 1}, MalformedError),  # not in the authority's form
    ],
)
def test_hostile_notices_are_refused(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_notice_json(good_json(**change))


def test_missing_key_and_published_form() -> None:
    value = good_json()
    del value["to_day"]
    with pytest.raises(MalformedError, match="missing"):
        parse_notice_json(value)
    with pytest.raises(MalformedError, match="missing"):
        parse_notice_json(good_json(), published=True)
    with pytest.raises(MalformedError):
        parse_notice_json(good_json(published_ms=-1), published=True)
    with pytest.raises(MalformedError):
        parse_notice_json(good_json(published_ms=True), published=True)
    assert parse_notice_json(good_json(published_ms=0), published=True).published_ms == 0


def test_guidance_may_hold_markup_as_text() -> None:
    hostile = {"ko": "<img src=x onerror=alert(1)>", "en": "</script><b>hi</b> & ' \""}
    assert parse_notice_json(good_json(guidance=hostile)).guidance == hostile


def test_check_notice_refuses_non_bytes_tags() -> None:
    with pytest.raises(MalformedError):
        check_notice(
            notice_id=NOTICE_ID,
            tags=["a" * 16],
            from_day="2026-11-20",
            to_day="2026-11-20",
            guidance=GUIDANCE,
        )  # type: ignore[list-item]
    with pytest.raises(MalformedError):
        check_notice(
            notice_id=NOTICE_ID,
            tags=iter([bytes(16)]),
            from_day="2026-11-20",
            to_day="2026-11-20",
            guidance=GUIDANCE,
        )  # type: ignore[arg-type]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(value=_json, published=st.booleans())
def test_fuzzed_json_is_refused_with_a_protocol_error(value: Any, published: bool) -> None:
    with pytest.raises(ProtocolError):
        parse_notice_json(value, published=published)


@given(
    key=st.sampled_from(["notice", "tags", "from_day", "to_day", "guidance"]),
    value=_json,
)
def test_one_fuzzed_field_is_refused_or_accepted_cleanly(key: str, value: Any) -> None:
    try:
        parsed = parse_notice_json(good_json(**{key: value}))
    except ProtocolError:
        return
    assert parse_notice_json(parsed.to_json()) == parsed  # accepted: it round-trips


@given(text=st.text(min_size=1, max_size=60))
def test_fuzzed_guidance_is_plain_text_or_refused(text: str) -> None:
    try:
        parsed = parse_notice_json(good_json(guidance={"ko": text, "en": "ok"}))
    except ProtocolError:
        return
    shown = parsed.guidance["ko"]
    assert shown == shown.strip() and "\n" not in shown and "\u202e" not in shown


@given(secret=st.binary(min_size=32, max_size=32), notice_id=st.binary(min_size=16, max_size=16))
def test_fuzzed_tags_match_the_hmac(secret: bytes, notice_id: bytes) -> None:
    full = hmac.new(secret, notice.TAG_DOMAIN + notice_id, hashlib.sha256).digest()
    assert notice_tag(secret, notice_id) == full[:16]


def test_shared_vectors_hold_the_notice_tags() -> None:
    """protocol/vectors/wallet.json's notice section (the wallet's node tests match it)."""
    shared = json.loads(vectors.PATH.read_text(encoding="utf-8"))["notices"]
    assert shared["domain"].encode() == notice.TAG_DOMAIN
    assert len(shared["tags"]) >= 4
    for case in shared["tags"]:
        secret, notice_id = bytes.fromhex(case["notify"]), bytes.fromhex(case["notice"])
        assert notice_tag(secret, notice_id).hex() == case["tag"]
    published = parse_notice_json(shared["published"], published=True)
    assert len(published.tags) % notice.TAG_BLOCK == 0
    ours = notice_tag(bytes.fromhex(shared["matches_notify"]), published.notice_id)
    theirs = notice_tag(bytes.fromhex(shared["misses_notify"]), published.notice_id)
    assert ours in published.tags and theirs not in published.tags


def test_the_largest_notice_fits_max_json_bytes() -> None:
    """What an endpoint taking a notice must accept (the API's default body limit is lower)."""
    largest = good_json(
        tags=[b64encode(i.to_bytes(16, "big")) for i in range(MAX_TAGS)],
        guidance={"ko": "가" * MAX_GUIDANCE, "en": "가" * MAX_GUIDANCE},
    )
    text = json.dumps(largest)  # ensure_ascii: every Hangul syllable becomes \uXXXX
    assert len(text.encode()) <= notice.MAX_JSON_BYTES
    assert parse_notice_json(json.loads(text)).notice_id == NOTICE_ID
