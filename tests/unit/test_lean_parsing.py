"""The parsers' shortcuts give exactly what encoding again would (issue 14, leaner ingest).

``unseal`` cuts the ``sig`` pair out of the received bytes instead of encoding the map
again, ``Presentation.from_bytes`` keeps its signed part cut from its bytes, and the
aggregator's socket reads ahead and joins waiting acknowledgements into one write: each
must be indistinguishable from the slow way.
"""

from __future__ import annotations

import dataclasses
import socket
from collections import deque

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.checkin import ClockState, parse_checkin, sign_checkin
from protocol.credential import issue_credential
from protocol.encoding import encode
from protocol.presentation import Presentation, present
from protocol.signed import _SIG_PAIR_HEAD, _without_sig, unseal
from tests.unit.wire_checks import seeded
from transport.paho_client import ReadAheadClient, join_acks
from transport.read_ahead import CHUNK, ReadAheadSocket

DEVICE = seeded("lean-device")
ISSUER = seeded("lean-issuer")
WALLET = seeded("lean-wallet")
NOW = 1_764_000_000
CREDENTIAL = issue_credential(
    ISSUER,
    keys.public_bytes(WALLET),
    not_before=NOW - 3600,
    not_after=NOW + 86_400,
    credential_id=b"\x01" * 8,
)


def _checkin(presentation: bytes, seq: int = 1) -> bytes:
    return sign_checkin(
        DEVICE,
        checkin_id=bytes(range(16)),
        kiosk_id="kiosk-a",
        venue_id="venue-a",
        seq=seq,
        door="entrance",
        scanned_ms=NOW * 1000,
        clock=ClockState(True, bytes(16), 42),
        presentation=presentation,
    )


def _slow_signed_bytes(wire: bytes) -> bytes:
    """What unseal gave before: the decoded map without ``sig``, encoded again."""
    import cbor2

    value = cbor2.loads(wire)
    return encode({k: v for k, v in value.items() if k != "sig"})


@settings(max_examples=60, deadline=None)
@given(seq=st.integers(1, 2**53), pres=st.binary(max_size=256))
def test_cut_signed_bytes_equal_encoding_again(seq: int, pres: bytes) -> None:
    wire = _checkin(pres, seq)
    record = parse_checkin(wire)
    assert record.signed_bytes == _slow_signed_bytes(wire)
    record.verify(DEVICE.public_key())


def test_a_field_holding_a_signature_pair_does_not_confuse_the_cut() -> None:
    sig = parse_checkin(_checkin(b"x")).signature
    wire = _checkin(_SIG_PAIR_HEAD + sig)  # another record's signature pair, as data
    unsealed = unseal(wire, "checkin", _schema(), max_size=1024)
    assert unsealed.signed_bytes == _slow_signed_bytes(wire)
    # The pair twice in the bytes (a field holding the record's own pair): no cut.
    own = parse_checkin(wire).signature
    doubled = wire + _SIG_PAIR_HEAD + own
    assert _without_sig(doubled, 11, own) is None
    assert _without_sig(wire, 11, own) == unsealed.signed_bytes
    assert _without_sig(b"\xb8\x18" + wire[1:], 24, own) is None  # two-byte map header


def _schema() -> dict[str, object]:
    from protocol.checkin import _SCHEMA

    return _SCHEMA


def test_presentation_signed_part_is_cut_from_its_bytes_and_not_copied() -> None:
    shown = present(WALLET, CREDENTIAL, now=NOW)
    parsed = Presentation.from_bytes(shown.to_bytes())
    assert parsed.signed_part() == encode([1, 1, CREDENTIAL.to_array(), NOW])
    assert parsed == shown and hash(parsed) == hash(shown)
    later = dataclasses.replace(parsed, timestamp=NOW + 1)
    assert later.signed_part() == encode([1, 1, CREDENTIAL.to_array(), NOW + 1])


# --- the socket that reads ahead -----------------------------------------------------------


@pytest.fixture
def pair() -> tuple[ReadAheadSocket, socket.socket]:
    left, right = socket.socketpair()
    left.setblocking(False)
    wrapped = ReadAheadSocket(left)
    yield wrapped, right
    wrapped.close()
    right.close()


def test_small_reads_come_from_one_read_in_order(pair) -> None:
    sock, peer = pair
    data = bytes(range(256)) * 40
    peer.sendall(data)
    got = b""
    while len(got) < len(data):
        got += sock.recv(7)
        assert sock.pending() == sock.buffered()
    assert got == data
    with pytest.raises(BlockingIOError):
        sock.recv(1)


def test_a_read_larger_than_what_waits_returns_what_there_is(pair) -> None:
    sock, peer = pair
    peer.sendall(b"abc")
    assert sock.recv(CHUNK * 2) == b"abc"
    assert sock.buffered() == 0


def test_end_of_stream_is_an_empty_read(pair) -> None:
    sock, peer = pair
    peer.sendall(b"xy")
    peer.shutdown(socket.SHUT_WR)
    assert sock.recv(1) == b"x"
    assert sock.recv(1) == b"y"
    assert sock.recv(1) == b""


def test_send_and_fileno_pass_through(pair) -> None:
    sock, peer = pair
    assert sock.send(b"ping") == 4
    assert peer.recv(4) == b"ping"
    assert sock.fileno() >= 0
    assert sock.getsockname() is not None  # anything else is the socket's own


# --- acknowledgements joined into one write ------------------------------------------------


class _CountingSocket:
    """A socket end that records each ``send``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sends.append(bytes(data))
        return self.sock.send(data)

    def close(self) -> None:
        self.sock.close()


def _queued(client: ReadAheadClient, command: int, packet: bytes, qos: int = 0) -> None:
    client._out_packet.append(
        {
            "command": command,
            "mid": 0,
            "qos": qos,
            "pos": 0,
            "to_process": len(packet),
            "packet": packet,
            "info": None,
        }
    )


def test_waiting_acks_go_out_in_one_write_in_order_and_other_packets_alone() -> None:
    """The run of acks at the head is joined; the publish and what follows go as paho sends."""
    client = ReadAheadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="join-test")
    left, right = socket.socketpair()
    counting = _CountingSocket(left)
    client._sock = counting
    acks = [bytes([mqtt.PUBACK, 2, 0, mid]) for mid in range(1, 6)]
    publish = bytes([mqtt.PUBLISH | 0x02, 3, 0, 1, 0x41])  # QoS 1: nothing to do once sent
    for ack in acks[:3]:
        _queued(client, mqtt.PUBACK, ack)
    _queued(client, mqtt.PUBLISH | 0x02, publish, qos=1)
    for ack in acks[3:]:
        _queued(client, mqtt.PUBACK, ack)
    assert client._packet_write() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert counting.sends == [b"".join(acks[:3]), publish, *acks[3:]]
    assert right.recv(1000) == b"".join([*acks[:3], publish, *acks[3:]])
    assert not client._out_packet
    client._sock = None
    counting.close()
    right.close()


def test_a_partly_written_ack_is_not_joined() -> None:
    out = deque()
    started = {"command": mqtt.PUBACK, "pos": 2, "packet": b"\x40\x02\x00\x01"}
    fresh = {"command": mqtt.PUBACK, "pos": 0, "packet": b"\x40\x02\x00\x02"}
    out.extend([started, dict(fresh), dict(fresh)])
    join_acks(out)
    assert list(out) == [started, fresh, fresh]


def _publish(topic: str) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(mid=1, topic=topic.encode("utf-8"))
    message.payload = b"x"
    return message


def test_messages_reach_on_message_without_filters_and_filtered_callbacks_after() -> None:
    """The read-ahead client skips paho's filter walk only while no filter is added."""
    client = ReadAheadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="filter-test")
    seen: list[tuple[str, str]] = []
    client.on_message = lambda c, u, m: seen.append(("all", m.topic))
    assert list(client._on_message_filtered.iter_match("a/b")) == []
    client._handle_on_message(_publish("a/b"))
    assert seen == [("all", "a/b")]
    client.message_callback_add("a/+", lambda c, u, m: seen.append(("a/+", m.topic)))
    client._handle_on_message(_publish("a/c"))
    client._handle_on_message(_publish("z/c"))
    assert seen[1:] == [("a/+", "a/c"), ("all", "z/c")]
    client.message_callback_remove("a/+")
    client._handle_on_message(_publish("a/d"))
    assert seen[-1] == ("all", "a/d")
