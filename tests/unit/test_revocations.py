"""Publishing the revocation list (aggregator.revocations) to each enrolled kiosk."""

from __future__ import annotations

import peewee
import pytest

from aggregator.registry import enrol_kiosk, retire_kiosk
from aggregator.revocations import enrolled_kiosk_ids, publish_revocations
from protocol import keys
from protocol.kiosk_config import parse_kiosk_config
from tests.unit.wire_checks import seeded

LEDGER = seeded("revocations-ledger")
T0 = 1_764_000_000_000


@pytest.fixture
def enrolled(db: peewee.Database) -> None:
    for n in (3, 1, 2):
        enrol_kiosk(f"kiosk-{n}", "venue-1", keys.public_bytes(seeded(f"rev-device-{n}")))
    retire_kiosk("kiosk-2")


def test_each_enrolled_kiosk_gets_its_own_signed_retained_config(enrolled: None) -> None:
    published: list[tuple[str, bytes]] = []
    sent = publish_revocations(
        lambda topic, payload: published.append((topic, payload)),
        LEDGER,
        [b"\x09" * 8, b"\x01" * 8, b"\x09" * 8],
        now_ms=T0,
    )
    assert enrolled_kiosk_ids() == ["kiosk-1", "kiosk-3"]  # kiosk-2 is retired
    assert [topic for topic, _ in published] == [
        "safecode/v1/kiosk/kiosk-1/config",
        "safecode/v1/kiosk/kiosk-3/config",
    ]
    for (topic, payload), kiosk_id in zip(published, ["kiosk-1", "kiosk-3"], strict=True):
        message = parse_kiosk_config(payload)
        message.verify(LEDGER.public_key())
        assert message.kiosk_id == kiosk_id and topic.split("/")[3] == kiosk_id
        assert message.serial == message.issued_ms == T0  # serial defaults to the time
        assert message.revoked == {b"\x01" * 8, b"\x09" * 8}
        assert sent[kiosk_id] == payload


def test_explicit_serial_and_kiosk_list() -> None:
    published: list[str] = []
    publish_revocations(
        lambda topic, payload: published.append(topic),
        LEDGER,
        [],
        serial=42,
        now_ms=T0,
        kiosk_ids=["kiosk-9"],
    )
    assert published == ["safecode/v1/kiosk/kiosk-9/config"]


def test_bad_credential_id_is_refused_before_anything_is_published() -> None:
    published: list[str] = []
    with pytest.raises(ValueError):
        publish_revocations(
            lambda topic, payload: published.append(topic),
            LEDGER,
            [b"short"],
            kiosk_ids=["kiosk-1"],
        )
    assert published == []
