"""``next_seq_floor`` in the kiosk config: the aggregator publishes it, the kiosk obeys it.

After a WAL cut a kiosk's outbox can lose its last commits, and with them the
sequence numbers it gave out; the aggregator already holds them and would refuse new
check-ins under the same numbers as replayed.
"""

from __future__ import annotations

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.registry import enrol_kiosk, retire_kiosk
from aggregator.revocations import next_seq_floors, publish_revocations
from kiosk.firmware import Kiosk
from kiosk.outbox import Outbox
from protocol import keys
from protocol.errors import MalformedError, ProtocolError, SignatureError
from protocol.kiosk_config import (
    KIND,
    MAX_BYTES,
    MAX_REVOKED,
    parse_kiosk_config,
    sign_kiosk_config,
)
from simulator.visitors import Wallet
from tests.unit import test_firmware as fw
from tests.unit.wire_checks import SignedMap, seeded

# The firmware tests' fixtures and helpers (real outbox, verifier, mock pins; fake uplink).
decoder, feedback, kiosk, link = fw.decoder, fw.feedback, fw.kiosk, fw.link
make_kiosk, outbox, usage, wall, wallets = fw.make_kiosk, fw.outbox, fw.usage, fw.wall, fw.wallets
FakeLink, LEDGER, NOW, show = fw.FakeLink, fw.LEDGER, fw.NOW, fw.show

T0 = 1_764_000_000_000
KIOSK_ID = "kiosk-7"  # the firmware fixtures' kiosk


def wire(floor: int | None, *, serial: int = 3, key=LEDGER, kiosk_id: str = KIOSK_ID) -> bytes:
    return sign_kiosk_config(
        key, kiosk_id=kiosk_id, serial=serial, issued_ms=T0, revoked=[], next_seq_floor=floor
    )


FORMAT = SignedMap(wire(42), MAX_BYTES, LEDGER, KIND, parse_kiosk_config)


# -- the message ------------------------------------------------------------------------------


def test_floor_round_trips_and_is_signed() -> None:
    message = FORMAT.parse_and_verify(wire(42))
    assert message.next_seq_floor == 42
    body = FORMAT.body()
    assert body["next_seq_floor"] == 42
    tampered = FORMAT.reseal(body, key=seeded("someone-else"))
    with pytest.raises(SignatureError):
        FORMAT.parse_and_verify(tampered)


def test_messages_without_a_floor_stay_valid() -> None:
    old = wire(None)
    assert b"next_seq_floor" not in old
    message = FORMAT.parse_and_verify(old)
    assert message.next_seq_floor is None
    # The bytes an older aggregator made (no such key at all) are the very same.
    assert old == FORMAT.reseal({k: v for k, v in FORMAT.body().items() if k != "next_seq_floor"})


@pytest.mark.parametrize("bad", [-1, True, "7", 2**63, None, 1.5, b"\x01"])
def test_bad_floor_is_malformed(bad: object) -> None:
    with pytest.raises(MalformedError):
        parse_kiosk_config(FORMAT.reseal({**FORMAT.body(), "next_seq_floor": bad}))


def test_sign_refuses_a_bad_floor() -> None:
    with pytest.raises(MalformedError):
        wire(-5)


def test_largest_message_with_a_floor_still_fits() -> None:
    many = [i.to_bytes(8, "big") for i in range(MAX_REVOKED)]
    big = sign_kiosk_config(
        LEDGER,
        kiosk_id="k" * 63,
        serial=2**63 - 1,
        issued_ms=2**63 - 1,
        revoked=many,
        next_seq_floor=2**63 - 1,
    )
    assert len(big) <= MAX_BYTES
    assert parse_kiosk_config(big).next_seq_floor == 2**63 - 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "kiosk", "serial", "issued_ms", "revoked", "next_seq_floor"]),
        st.none() | st.booleans() | st.integers(-(2**64) + 1, 2**64 - 1) | st.binary(max_size=9),
    ),
    st.booleans(),
)
def test_arbitrary_maps_with_a_floor_raise_only_protocol_errors(value: dict, typed: bool) -> None:
    if typed:
        value = {**value, "v": 1, "type": KIND}
    try:
        message = parse_kiosk_config(FORMAT.reseal(value))
    except ProtocolError:
        return
    assert message.next_seq_floor == value.get("next_seq_floor")


# -- the kiosk --------------------------------------------------------------------------------


def test_config_floor_raises_the_counter(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    link.configs.put(wire(500, serial=5))
    assert kiosk.apply_configs() == 1
    assert outbox.next_seq() == 500
    show(kiosk, wallets[0].show(NOW).to_text())
    assert kiosk.counters.accepted == 1
    assert [row.seq for row in outbox.Row.select()] == [500]
    assert any("sequence raised from 1 to 500" in e for e in kiosk.events)


def test_lower_floor_never_lowers_the_counter(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox, wallets: list[Wallet]
) -> None:
    for wallet in wallets[:3]:
        show(kiosk, wallet.show(NOW).to_text())
    assert outbox.next_seq() == 4
    link.configs.put(wire(2, serial=5))
    assert kiosk.apply_configs() == 1
    assert outbox.next_seq() == 4
    assert not any("sequence raised" in e for e in kiosk.events)


def test_config_without_a_floor_leaves_the_counter(
    kiosk: Kiosk, link: FakeLink, outbox: Outbox
) -> None:
    link.configs.put(wire(None, serial=5))
    assert kiosk.apply_configs() == 1
    assert outbox.next_seq() == 1


def test_kept_config_raises_the_counter_again_at_start(
    make_kiosk, link: FakeLink, outbox: Outbox
) -> None:
    """The config is stored after the counter is raised; a restart applies it again."""
    first = make_kiosk()
    link.configs.put(wire(300, serial=5))
    first.apply_configs()
    outbox.db.execute_sql("UPDATE counter SET value = 1 WHERE name = 'next_seq'")  # as if lost
    second = make_kiosk()
    assert second.kiosk_config is not None and second.kiosk_config.next_seq_floor == 300
    assert outbox.next_seq() == 300


# -- the aggregator ---------------------------------------------------------------------------


@pytest.fixture
def enrolled(db: peewee.Database) -> None:
    from aggregator.db import KioskEntry

    for n in (1, 2, 3):
        enrol_kiosk(f"kiosk-{n}", "venue-1", keys.public_bytes(seeded(f"floor-device-{n}")))
    KioskEntry.update(highest_seq=41).where(KioskEntry.kiosk_id == "kiosk-1").execute()
    retire_kiosk("kiosk-2")


def test_each_kiosk_gets_one_above_its_highest_seq(enrolled: None) -> None:
    assert next_seq_floors() == {"kiosk-1": 42, "kiosk-3": 1}
    published: dict[str, bytes] = {}
    publish_revocations(
        lambda topic, payload: published.__setitem__(topic.split("/")[3], payload),
        LEDGER,
        [],
        now_ms=T0,
    )
    floors = {k: parse_kiosk_config(w).next_seq_floor for k, w in published.items()}
    assert floors == {"kiosk-1": 42, "kiosk-3": 1}


def test_explicit_kiosks_get_a_floor_only_when_given() -> None:
    published: dict[str, bytes] = {}

    def publish(topic: str, payload: bytes) -> None:
        published[topic.split("/")[3]] = payload

    publish_revocations(publish, LEDGER, [], now_ms=T0, kiosk_ids=["kiosk-8"])
    assert parse_kiosk_config(published["kiosk-8"]).next_seq_floor is None
    publish_revocations(
        publish, LEDGER, [], now_ms=T0, kiosk_ids=["kiosk-8", "kiosk-9"], floors={"kiosk-9": 7}
    )
    assert parse_kiosk_config(published["kiosk-8"]).next_seq_floor is None
    assert parse_kiosk_config(published["kiosk-9"]).next_seq_floor == 7
