"""MQTT topic names under safecode/v1/kiosk/<kiosk-id>/ (protocol.topics, protocol.ids)."""

from __future__ import annotations

import pytest

from protocol import topics
from protocol.errors import MalformedError
from protocol.ids import check_kiosk_id


def test_constants():
    assert topics.PREFIX == "safecode/v1/kiosk"
    assert topics.LEAVES == ("checkin", "receipt", "status", "config")
    assert topics.ALL_CHECKINS == "safecode/v1/kiosk/+/checkin"
    assert topics.ALL_STATUS == "safecode/v1/kiosk/+/status"


@pytest.mark.parametrize("leaf", topics.LEAVES)
@pytest.mark.parametrize("kiosk_id", ["k", "0", "kiosk-0042", "a" * 63, "9-", "abc-def-123"])
def test_round_trip(kiosk_id, leaf):
    name = topics.topic(kiosk_id, leaf)
    assert name == f"safecode/v1/kiosk/{kiosk_id}/{leaf}"
    assert topics.parse_topic(name) == (kiosk_id, leaf)


def test_named_leaves():
    assert topics.topic("k1", topics.CHECKIN) == "safecode/v1/kiosk/k1/checkin"
    assert topics.topic("k1", topics.RECEIPT) == "safecode/v1/kiosk/k1/receipt"
    assert topics.topic("k1", topics.STATUS) == "safecode/v1/kiosk/k1/status"
    assert topics.topic("k1", topics.CONFIG) == "safecode/v1/kiosk/k1/config"


@pytest.mark.parametrize("leaf", ["", "Checkin", "checkins", "heartbeat", "+", "#", "checkin/"])
def test_topic_refuses_unknown_leaf(leaf):
    with pytest.raises(ValueError, match="unknown topic leaf"):
        topics.topic("k1", leaf)


BAD_KIOSK_IDS = [
    "",
    "-k",
    "K1",
    "kiosk_1",
    "kiosk.1",
    "kiosk 1",
    "k/1",
    "+",
    "#",
    "a" * 64,
    "k\n",
    "\nk",
    "k\x00",
    "caf\u00e9",
    "\uff4b",  # fullwidth k
]


@pytest.mark.parametrize("kiosk_id", BAD_KIOSK_IDS)
def test_topic_refuses_bad_kiosk_ids(kiosk_id):
    with pytest.raises(MalformedError):
        topics.topic(kiosk_id, "checkin")


@pytest.mark.parametrize("kiosk_id", [*BAD_KIOSK_IDS, None, 1, b"k1"])
def test_check_kiosk_id_refuses(kiosk_id):
    with pytest.raises(MalformedError):
        check_kiosk_id(kiosk_id)


def test_check_kiosk_id_accepts():
    assert check_kiosk_id("kiosk-7") == "kiosk-7"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/",
        "safecode/v1/kiosk",
        "safecode/v1/kiosk/k1",
        "safecode/v1/kiosk/k1/",
        "safecode/v1/kiosk//checkin",
        "safecode/v1/kiosk/k1/checkin/",
        "safecode/v1/kiosk/k1/checkin/extra",
        "/safecode/v1/kiosk/k1/checkin",
        "safecode/v2/kiosk/k1/checkin",
        "safecode/v1/kiosks/k1/checkin",
        "Safecode/v1/kiosk/k1/checkin",
        "other/v1/kiosk/k1/checkin",
        "safecode/v1/kiosk/k1/heartbeat",
        "safecode/v1/kiosk/k1/Checkin",
        "safecode/v1/kiosk/k1/checkin ",
        "safecode/v1/kiosk/k1/checkin\n",
        "safecode/v1/kiosk/K1/checkin",
        "safecode/v1/kiosk/-k1/checkin",
        "safecode/v1/kiosk/" + "a" * 64 + "/checkin",
        "safecode/v1/kiosk/+/checkin",  # wildcards are subscriptions, not topics
        "safecode/v1/kiosk/#",
        "safecode/v1/kiosk/k1/#",
        "safecode/v1/kiosk/k1/+",
        "$share/ingest/safecode/v1/kiosk/k1/checkin",
        "$SYS/broker/uptime",
        "safecode/v1/kiosk/k\u00e9/checkin",
        "safecode/v1/kiosk/k1\x00/checkin",
    ],
)
def test_parse_topic_refuses(name):
    with pytest.raises(MalformedError):
        topics.parse_topic(name)


def test_parse_topic_refuses_subscription_filters():
    for name in (topics.ALL_CHECKINS, topics.ALL_STATUS):
        with pytest.raises(MalformedError):
            topics.parse_topic(name)


def test_parse_topic_refuses_long_names():
    long_name = "safecode/v1/kiosk/" + "a" * 200 + "/checkin"
    with pytest.raises(MalformedError, match="too long"):
        topics.parse_topic(long_name)
    with pytest.raises(MalformedError):
        topics.parse_topic("x" * 100_000)


def test_longest_valid_topic_is_under_the_limit():
    name = topics.topic("a" * 63, "checkin")
    assert len(name) <= 128
    assert topics.parse_topic(name) == ("a" * 63, "checkin")


@pytest.mark.parametrize("name", [None, 1, b"safecode/v1/kiosk/k1/checkin", ["a"]])
def test_parse_topic_refuses_non_text(name):
    with pytest.raises(MalformedError):
        topics.parse_topic(name)


def test_every_truncation_is_refused():
    name = topics.topic("kiosk-1", "receipt")
    for cut in range(len(name)):
        with pytest.raises(MalformedError):
            topics.parse_topic(name[:cut])
