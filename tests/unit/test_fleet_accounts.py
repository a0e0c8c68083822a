"""Bulk kiosk accounts for a broker not yet running, and the fleet's source addresses."""

from __future__ import annotations

import base64
import hashlib

import pytest

from aggregator.broker_acls import (
    ADMIN_USER,
    AGGREGATOR_USER,
    dynsec_document,
    kiosk_acls,
    kiosk_role,
    with_kiosks,
)
from simulator.fleet import source_address


def test_each_kiosk_gets_its_own_pinned_account_and_role() -> None:
    document = with_kiosks(dynsec_document("a" * 20, "b" * 20), {"kiosk-1": "pw-1", "k-2": "pw-2"})
    clients = {c["username"]: c for c in document["clients"]}
    assert set(clients) == {ADMIN_USER, AGGREGATOR_USER, "kiosk-1", "k-2"}
    one = clients["kiosk-1"]
    assert one["clientid"] == "kiosk-1"
    assert one["roles"] == [{"rolename": kiosk_role("kiosk-1")}]
    digest = hashlib.pbkdf2_hmac(
        "sha512", b"pw-1", base64.b64decode(one["salt"]), one["iterations"]
    )
    assert base64.b64decode(one["password"]) == digest
    roles = {r["rolename"]: r["acls"] for r in document["roles"]}
    assert roles[kiosk_role("k-2")] == kiosk_acls("k-2")
    assert document["defaultACLAccess"]["subscribe"] is False


def test_unpinned_accounts_and_clashes() -> None:
    base = dynsec_document("a" * 20, "b" * 20)
    loose = with_kiosks(base, {"kiosk-1": "pw"}, pin_client_id=False)
    assert "clientid" not in loose["clients"][-1]
    with pytest.raises(ValueError, match="already has an account"):
        with_kiosks(loose, {"kiosk-1": "other"})
    with pytest.raises(ValueError, match="already has an account"):
        with_kiosks(base, {AGGREGATOR_USER: "pw"})
    assert len(base["clients"]) == 2  # the document given is left as it was


def test_source_addresses_spread_the_fleet() -> None:
    assert source_address(0) == "127.0.0.2"
    assert source_address(19_999) == "127.0.0.2"
    assert source_address(20_000) == "127.0.0.3"
    assert source_address(49_999) == "127.0.0.4"
    assert source_address(250, per_address=100) == "127.0.0.4"
    with pytest.raises(ValueError, match="past 127.0.0.254"):
        source_address(253 * 20_000)
