"""The issuer's HTTP API (/v1/wallet) with real signed CBOR, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import peewee
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import counters, operators
from aggregator.api.wallet import ISSUER_EXTENSION, WALLET_EXTENSION
from aggregator.db import open_database
from aggregator.issuer.retention import IssuedForgotten, forget_issued
from aggregator.issuer.settings import IssuerSettings
from aggregator.issuer.tables import (
    BatchEntry,
    EnrolmentEntry,
    IssuedCredentialEntry,
    NonceEntry,
)
from aggregator.models import all_models
from aggregator.phone_tag import phone_tag
from aggregator.revocations import revoked_ids
from aggregator.web import create_app
from protocol import issuance, keys, signed
from protocol.authority_key import format_public_key
from protocol.contact import Contact, open_contact, seal_contact
from protocol.presentation import Presentation, present
from tests.unit.wire_checks import seeded

HA = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"wallet-api-ha").digest())
ISSUER = seeded("wallet-api-issuer")
SIGNER = seeded("wallet-api-fuzz")
PEPPER = hashlib.sha256(b"wallet-api-pepper").digest()
SEOUL = ZoneInfo("Asia/Seoul")
# 2025-11-25 10:00 in Seoul (01:00 UTC).
NOW = int(datetime.datetime(2025, 11, 25, 1, tzinfo=datetime.UTC).timestamp())
MIDNIGHT = int(datetime.datetime(2025, 11, 24, 15, tzinfo=datetime.UTC).timestamp())
PHONE = "+821012345678"
CBOR = "application/cbor"


def issuer_settings(**changes: Any) -> IssuerSettings:
    base: dict[str, Any] = {
        "authority_key": HA.public_key(),
        "authority_key_text": format_public_key(HA),
        "pepper": PEPPER,
        "time_zone": SEOUL,
        "days_ahead": 7,
        "requests_per_minute": 10_000,
        "enrolments_per_minute": 10_000,
        "enrolments_per_phone": 5,
    }
    return IssuerSettings(**{**base, **changes})


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    database = open_database(db_url)  # the test reads the tables through this binding
    yield db_url
    database.close()


def make_app(url: str, clock: Clock, **changes: Any) -> Flask:
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "ISSUER": issuer_settings(**changes),
            "ISSUER_KEY": ISSUER,
        }
    )
    app.extensions[WALLET_EXTENSION].clock = clock
    return app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(url: str, clock: Clock) -> Flask:
    return make_app(url, clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Wallet:
    """A visitor's wallet as the tests drive it: enrolment key, contact, day keys."""

    client: FlaskClient
    clock: Clock
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    phone: str = PHONE
    enrolment: bytes = b""
    day_keys: list[Ed25519PrivateKey] = field(default_factory=list)

    def blob(self, phone: str | None = None) -> bytes:
        contact = Contact(phone or self.phone, "ko", bytes(32), "<script>alert(1)</script>")
        return seal_contact(HA.public_key(), contact)

    def post(self, path: str, wire: bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("content_type", CBOR)
        return self.client.post(f"/v1/wallet/{path}", data=wire, **kwargs)

    def enrol_wire(self, phone: str | None = None, **kwargs: Any) -> bytes:
        return issuance.sign_enrol(
            self.key,
            phone=phone or self.phone,
            contact_blob=self.blob(),
            ts=int(self.clock.now),
            **kwargs,
        )

    def enrol(self) -> bytes:
        response = self.post("enrol", self.enrol_wire())
        assert response.status_code == 201, response.get_json()
        assert response.mimetype == CBOR
        self.enrolment = issuance.parse_enrol_answer(response.data)
        return self.enrolment

    def batch_wire(self, count: int = 7, key: Ed25519PrivateKey | None = None) -> bytes:
        self.day_keys = [Ed25519PrivateKey.generate() for _ in range(count)]
        return issuance.sign_batch(
            key or self.key,
            enrolment=self.enrolment,
            wallet_keys=[keys.public_bytes(k) for k in self.day_keys],
            ts=int(self.clock.now),
        )

    def batch(self, count: int = 7) -> issuance.BatchAnswer:
        response = self.post("batch", self.batch_wire(count))
        assert response.status_code == 200, response.get_json()
        return issuance.BatchAnswer.from_bytes(response.data)

    def contact_wire(self, phone: str) -> bytes:
        return issuance.sign_contact(
            self.key,
            enrolment=self.enrolment,
            phone=phone,
            contact_blob=self.blob(phone if re.fullmatch(r"\+[1-9][0-9]{6,14}", phone) else None),
            ts=int(self.clock.now),
        )

    def delete_wire(self, pairs: list[tuple[bytes, bytes]]) -> bytes:
        return issuance.sign_delete(
            self.key, enrolment=self.enrolment, revoke=pairs, ts=int(self.clock.now)
        )


@pytest.fixture
def wallet(client: FlaskClient, clock: Clock) -> Wallet:
    return Wallet(client, clock)


def refused(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.data[:300]
    assert response.get_json()["error"] == reason
    assert response.get_json()["message"]


def refusal_counts(app: Flask) -> dict[str, int]:
    app.extensions["safecode.refusals"].flush(force=True)
    return counters.totals().get("api_refused", {})


# --- happy paths ----------------------------------------------------------------------


def test_info_tells_the_wallet_what_it_needs(client: FlaskClient) -> None:
    response = client.get("/v1/wallet/info")
    assert response.status_code == 200
    assert response.get_json() == {
        "authority_key": format_public_key(HA),
        "tz": "Asia/Seoul",
        "days_ahead": 7,
        "skew_s": 5,
        "window_s": 30,
    }
    refused(client.get("/v1/wallet/info?x=1"), 400, "unknown_parameter")


def test_enrol_stores_the_tag_and_blob_never_the_number(wallet: Wallet) -> None:
    enrolment = wallet.enrol()
    assert len(enrolment) == 16
    row = EnrolmentEntry.get()
    assert bytes(row.enrolment_id) == enrolment
    assert bytes(row.public_key) == keys.public_bytes(wallet.key)
    assert bytes(row.phone_tag) == phone_tag(PEPPER, PHONE)
    assert open_contact(HA, bytes(row.contact)).phone == PHONE
    assert row.created_s == NOW


def test_enrol_normalises_the_number_again(wallet: Wallet) -> None:
    response = wallet.post("enrol", wallet.enrol_wire(phone="010-1234-5678"))
    assert response.status_code == 201
    assert bytes(EnrolmentEntry.get().phone_tag) == phone_tag(PEPPER, PHONE)


def test_batch_gives_a_credential_per_local_day(wallet: Wallet) -> None:
    wallet.enrol()
    answer = wallet.batch()
    assert answer.tz == "Asia/Seoul"
    assert answer.days == tuple(f"2025-11-{d}" for d in range(25, 32))[:6] + ("2025-12-01",)
    for offset, (credential, day_key) in enumerate(
        zip(answer.credentials, wallet.day_keys, strict=True)
    ):
        assert credential.issuer_index([ISSUER.public_key()]) == 0
        assert credential.visitor_key == keys.public_bytes(day_key)
        assert credential.not_before == MIDNIGHT + offset * 86_400
        assert credential.not_after == MIDNIGHT + (offset + 1) * 86_400
    assert len({c.credential_id for c in answer.credentials}) == 7
    assert len(set(answer.revoke)) == 7
    # Today's code is accepted as a kiosk checks it.
    code = present(wallet.day_keys[0], answer.credentials[0], now=NOW)
    Presentation.from_text(code.to_text()).verify([ISSUER.public_key()], now=NOW, window=30, skew=5)
    assert IssuedCredentialEntry.select().count() == 7


def test_ha_opens_the_sealed_owner_and_batch_list(wallet: Wallet) -> None:
    enrolment = wallet.enrol()
    answer = wallet.batch()
    ids = [c.credential_id for c in answer.credentials]
    for row in IssuedCredentialEntry.select():
        assert issuance.open_owner(HA, bytes(row.sealed_owner)) == enrolment
    index = {bytes(r.credential_id): r for r in IssuedCredentialEntry.select()}
    for credential, token in zip(answer.credentials, answer.revoke, strict=True):
        row = index[credential.credential_id]
        assert bytes(row.revoke_hash) == hashlib.sha256(token).digest()
        assert row.not_after == credential.not_after
    batch = BatchEntry.get()
    assert (bytes(batch.enrolment_id), batch.day) == (enrolment, "2025-11-25")
    assert issuance.open_batch_list(HA, bytes(batch.sealed_credentials)) == ids


def test_fewer_keys_than_days_and_too_many(url: str, clock: Clock) -> None:
    app = make_app(url, clock, days_ahead=3)
    wallet = Wallet(app.test_client(), clock)
    wallet.enrol()
    refused(wallet.post("batch", wallet.batch_wire(4)), 400, "too_many_keys")
    assert len(wallet.batch(2).credentials) == 2


def test_one_batch_a_local_day(wallet: Wallet, clock: Clock, app: Flask) -> None:
    wallet.enrol()
    wallet.batch()
    second = wallet.post("batch", wallet.batch_wire())
    refused(second, 429, "batch_limit")
    assert int(second.headers["Retry-After"]) == MIDNIGHT + 86_400 - NOW
    assert IssuedCredentialEntry.select().count() == 7
    clock.now = MIDNIGHT + 86_400  # the next local day
    assert wallet.batch().days[0] == "2025-11-26"
    assert refusal_counts(app)["batch_limit"] == 1


def test_rotate_contact_makes_a_new_tag(wallet: Wallet) -> None:
    wallet.enrol()
    new = "+821098765432"
    response = wallet.post("contact", wallet.contact_wire(new))
    assert response.status_code == 200
    assert issuance.parse_contact_answer(response.data) is True
    row = EnrolmentEntry.get()
    assert bytes(row.phone_tag) == phone_tag(PEPPER, new)
    assert open_contact(HA, bytes(row.contact)).phone == new


def test_delete_destroys_and_revokes(wallet: Wallet, clock: Clock) -> None:
    wallet.enrol()
    answer = wallet.batch()
    pairs = list(zip([c.credential_id for c in answer.credentials], answer.revoke, strict=True))
    wrong = [(pairs[5][0], bytes(16)), (bytes(8), bytes(16))]  # a wrong token, an unknown id
    response = wallet.post("delete", wallet.delete_wire(pairs[:5] + wrong))
    assert response.status_code == 200
    assert issuance.parse_delete_answer(response.data) == 5
    assert revoked_ids() == sorted(cid for cid, _ in pairs[:5])
    assert EnrolmentEntry.select().count() == 0
    assert BatchEntry.select().count() == 0
    clock.now += 1
    refused(wallet.post("batch", wallet.batch_wire()), 404, "unknown_enrolment")
    refused(wallet.post("contact", wallet.contact_wire(PHONE)), 404, "unknown_enrolment")
    refused(wallet.post("delete", wallet.delete_wire([])), 404, "unknown_enrolment")


def test_successes_are_counted(wallet: Wallet, app: Flask) -> None:
    wallet.enrol()
    answer = wallet.batch()
    wallet.post("contact", wallet.contact_wire("+821098765432"))
    pair = (answer.credentials[0].credential_id, answer.revoke[0])
    wallet.post("delete", wallet.delete_wire([pair]))
    token = operators.create_token("metrics")
    metrics = wallet.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert b"safecode_wallet_batches_total 1.0" in metrics.data
    totals = counters.totals()
    for name, value in {
        "wallet_enrolled": 1,
        "wallet_batches": 1,
        "wallet_credentials": 7,
        "wallet_contacts": 1,
        "wallet_deleted": 1,
        "wallet_revoked": 1,
    }.items():
        assert totals[name] == {"": value}, name


# --- refusals -------------------------------------------------------------------------


def test_forged_signatures(wallet: Wallet, app: Flask) -> None:
    other = Ed25519PrivateKey.generate()
    forged = issuance.sign_request(
        other,
        issuance.ENROL,
        {"key": keys.public_bytes(wallet.key), "phone": PHONE, "contact": wallet.blob()},
        ts=NOW,
    )
    refused(wallet.post("enrol", forged), 401, "bad_signature")
    wallet.enrol()
    refused(wallet.post("batch", wallet.batch_wire(key=other)), 401, "bad_signature")
    assert IssuedCredentialEntry.select().count() == 0
    assert refusal_counts(app)["bad_signature"] == 2


def test_replayed_nonce(wallet: Wallet, app: Flask) -> None:
    wallet.enrol()
    wire = wallet.contact_wire("+821098765432")
    assert wallet.post("contact", wire).status_code == 200
    refused(wallet.post("contact", wire), 409, "replayed")
    same_nonce = issuance.sign_contact(
        wallet.key,
        enrolment=wallet.enrolment,
        phone=PHONE,
        contact_blob=wallet.blob(),
        ts=NOW + 1,
        nonce=issuance.parse_request(wire, issuance.CONTACT).nonce,
    )
    refused(wallet.post("contact", same_nonce), 409, "replayed")
    assert refusal_counts(app)["replayed"] == 2


def test_nonces_are_pruned_after_the_window(wallet: Wallet, clock: Clock) -> None:
    wallet.enrol()
    assert NonceEntry.select().count() == 1
    clock.now += issuance.FRESHNESS_S + 2
    wallet.post("contact", wallet.contact_wire(PHONE))
    assert NonceEntry.select().count() == 1  # the first is gone, the second kept


@pytest.mark.parametrize("offset", [-121, 121, -10_000])
def test_stale_requests(wallet: Wallet, clock: Clock, offset: int) -> None:
    wire = wallet.enrol_wire()
    clock.now = NOW - offset
    refused(wallet.post("enrol", wire), 400, "stale")
    assert EnrolmentEntry.select().count() == 0


def test_content_type_size_and_method(wallet: Wallet, app: Flask) -> None:
    wire = wallet.enrol_wire()
    refused(wallet.post("enrol", wire, content_type="application/json"), 415, "wrong_content_type")
    refused(wallet.post("enrol", wire, content_type="text/plain"), 415, "wrong_content_type")
    big = wire + bytes(issuance.MAX_REQUEST_SIZE)
    refused(wallet.post("enrol", big), 413, "oversized")
    assert wallet.post("enrol", wire, content_type="application/cbor; x=1").status_code == 201
    assert wallet.client.get("/v1/wallet/enrol").status_code == 405
    assert wallet.client.post("/v1/wallet/other", data=wire).status_code == 404
    refused(wallet.post("enrol", b""), 400, "truncated")
    refused(wallet.post("enrol", b"\xff\x00"), 400, "malformed")
    counts = refusal_counts(app)
    assert counts["wrong_content_type"] == 2 and counts["oversized"] == 1


def test_wrong_blob_size(wallet: Wallet) -> None:
    bad = signed.seal(
        issuance.ENROL,
        {
            "key": keys.public_bytes(wallet.key),
            "phone": PHONE,
            "contact": wallet.blob()[:-1],
            "ts": NOW,
            "nonce": bytes(16),
        },
        wallet.key,
    )
    refused(wallet.post("enrol", bad), 400, "wrong_blob_size")


@pytest.mark.parametrize(
    "junk",
    [
        "abc",
        "+82",
        "010",
        "+999 1234 5678",
        "+82-10-1234-56789012",
        "１２３４５６７８",
        "+8210x1234",
    ],
)
def test_junk_phone_numbers(wallet: Wallet, junk: str, app: Flask) -> None:
    refused(wallet.post("enrol", wallet.enrol_wire(phone=junk)), 400, "bad_phone_number")
    assert EnrolmentEntry.select().count() == 0
    assert NonceEntry.select().count() == 0
    body = refusal_counts(app)
    assert body["bad_phone_number"] == 1


def test_junk_phone_on_contact_rotation(wallet: Wallet) -> None:
    wallet.enrol()
    refused(wallet.post("contact", wallet.contact_wire("12")), 400, "bad_phone_number")
    assert bytes(EnrolmentEntry.get().phone_tag) == phone_tag(PEPPER, PHONE)


def test_unknown_enrolment(wallet: Wallet) -> None:
    wallet.enrolment = bytes(16)
    refused(wallet.post("batch", wallet.batch_wire()), 404, "unknown_enrolment")


def test_same_enrolment_key_twice(wallet: Wallet, clock: Clock) -> None:
    wallet.enrol()
    clock.now += 1
    refused(wallet.post("enrol", wallet.enrol_wire()), 409, "already_enrolled")


def test_rate_limit_per_address(url: str, clock: Clock) -> None:
    app = make_app(url, clock, requests_per_minute=3)
    wallet = Wallet(app.test_client(), clock)
    for _ in range(3):
        wallet.post("enrol", b"\xa0")
    limited = wallet.post("enrol", wallet.enrol_wire())
    refused(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 20
    elsewhere = wallet.post("enrol", wallet.enrol_wire(), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert elsewhere.status_code == 201
    assert refusal_counts(app)["rate_limited"] == 1


def test_enrolments_per_minute_for_the_site(url: str, clock: Clock) -> None:
    app = make_app(url, clock, enrolments_per_minute=2)
    client = app.test_client()
    Wallet(client, clock).enrol()
    Wallet(client, clock, phone="+821011112222").enrol()
    third = Wallet(client, clock, phone="+821033334444")
    response = third.post("enrol", third.enrol_wire())
    refused(response, 429, "enrol_limit")
    assert response.headers["Retry-After"] == "60"
    clock.now += 61
    third.enrol()


def test_enrolments_per_phone_are_capped(wallet: Wallet, client: FlaskClient, clock: Clock) -> None:
    for _ in range(5):
        Wallet(client, clock).enrol()
    sixth = Wallet(client, clock)
    wire = sixth.enrol_wire()
    refused(sixth.post("enrol", wire), 429, "phone_limit")
    assert EnrolmentEntry.select().count() == 5
    # Nothing of the refused request stayed: the same bytes go through once there is room.
    EnrolmentEntry.delete().where(
        EnrolmentEntry.enrolment_id == EnrolmentEntry.get().enrolment_id
    ).execute()
    assert sixth.post("enrol", wire).status_code == 201
    # Rotating another enrolment's contact onto a full number is refused too.
    wallet.phone = "+821055556666"
    wallet.enrol()
    refused(wallet.post("contact", wallet.contact_wire(PHONE)), 429, "phone_limit")


def test_a_failing_database_leaves_nothing_half_written(
    wallet: Wallet, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet.enrol()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise peewee.OperationalError("disk full")

    monkeypatch.setattr(IssuedCredentialEntry, "insert_many", broken)
    wire = wallet.batch_wire()
    assert wallet.post("batch", wire).status_code == 503
    assert BatchEntry.select().count() == 0
    assert NonceEntry.select().count() == 1  # the enrolment's only
    app.extensions[WALLET_EXTENSION].counts.flush(force=True)
    assert "wallet_batches" not in counters.totals()
    monkeypatch.undo()
    assert wallet.post("batch", wire).status_code == 200  # not taken for a replay


def test_without_an_issuer_the_routes_are_unavailable(url: str) -> None:
    client = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
    refused(client.get("/v1/wallet/info"), 503, "issuer_unavailable")
    refused(
        client.post("/v1/wallet/enrol", data=b"\xa0", content_type=CBOR), 503, "issuer_unavailable"
    )


# --- what the database holds ----------------------------------------------------------


def _all_values() -> list[tuple[str, str, Any]]:
    values = []
    for model in all_models():
        for row in model.select().dicts():
            for column, value in row.items():
                values.append((model._meta.table_name, column, value))
    return values


def test_no_column_holds_a_phone_number_or_a_clear_link(
    wallet: Wallet, client: FlaskClient, clock: Clock, app: Flask
) -> None:
    wallet.enrol()
    answer = wallet.batch()
    wallet.post("contact", wallet.contact_wire("+821098765432"))
    other = Wallet(client, clock, phone="+821011112222")
    other.enrol()
    other.batch(3)
    refused(other.post("enrol", other.enrol_wire(phone="+82 10 1234")), 400, "bad_phone_number")
    app.extensions["safecode.refusals"].flush(force=True)
    enrolments = {wallet.enrolment, other.enrolment}
    credential_ids = [bytes(r.credential_id) for r in IssuedCredentialEntry.select()]
    assert len(credential_ids) == 10
    digits = [
        "1012345678", "1098765432", "1011112222", "01012345678", "821012345678", "10 1234"
    ]  # fmt: skip
    for table, column, value in _all_values():
        data = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for number in digits:
            assert number.encode() not in data, (table, column)
        if table == "wallet_credential":
            for enrolment in enrolments:
                assert enrolment not in data, (table, column)
        if table in ("wallet_batch", "wallet_enrolment"):
            for cid in credential_ids:
                assert cid not in data, (table, column)
    assert answer.credentials[0].credential_id in credential_ids


@pytest.mark.sqlite_only
def test_credential_rows_have_no_insertion_order_number(wallet: Wallet) -> None:
    wallet.enrol()
    wallet.batch()
    database = EnrolmentEntry._meta.database
    for table in ("wallet_credential", "wallet_batch", "wallet_enrolment"):
        with pytest.raises(peewee.OperationalError):
            database.execute_sql(f"SELECT rowid FROM {table}")


def test_the_extension_holds_the_settings(app: Flask) -> None:
    assert isinstance(app.extensions[ISSUER_EXTENSION], IssuerSettings)


@pytest.mark.sqlite_only
def test_refusal_logs_never_hold_the_number(
    wallet: Wallet, caplog: pytest.LogCaptureFixture, app: Flask
) -> None:
    caplog.set_level(logging.DEBUG)
    for typed in ("+82 10 9876 543", "+1 555 987 6543 21", "9876543x", "+8210987654321987"):
        wallet.post("enrol", wallet.enrol_wire(phone=typed))
    refusal_counts(app)
    assert "bad_phone_number" in caplog.text
    assert "9876" not in caplog.text and "987 6" not in caplog.text


@pytest.mark.sqlite_only
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["enrol", "batch", "contact", "delete"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda kind, fields: signed.seal(kind, fields, SIGNER),
            st.sampled_from(issuance.KINDS),
            st.dictionaries(
                st.sampled_from(["ts", "nonce", "key", "phone", "contact", "enrolment", "keys"]),
                st.one_of(st.integers(0, 2**40), st.binary(max_size=40), st.text(max_size=20)),
            ),
        ),
    ),
)
def test_fuzz_the_endpoints_never_fail_inside(client: FlaskClient, path: str, body: bytes) -> None:
    response = client.post(f"/v1/wallet/{path}", data=body, content_type=CBOR)
    assert response.status_code in (400, 401, 404, 409, 413), response.data[:200]
    assert response.get_json()["error"]


@pytest.mark.sqlite_only
def test_rate_limit_behind_a_proxy(url: str, clock: Clock) -> None:
    app = make_app(url, clock, requests_per_minute=1, proxy_hops=1)
    client = app.test_client()

    def post(forwarded: str | None) -> int:
        headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
        return client.post(
            "/v1/wallet/enrol", data=b"\xa0", content_type=CBOR, headers=headers
        ).status_code

    assert post("10.0.0.1") == 400  # malformed, but through the limiter
    assert post("10.0.0.2") == 400  # another visitor behind the same proxy
    assert post("6.6.6.6, 10.0.0.1") == 429  # a forged hop is not trusted
    assert post(None) == 400  # no header: the peer's own address
    assert post(None) == 429


def test_retention_forgets_what_no_trace_can_need(wallet: Wallet, clock: Clock) -> None:
    wallet.enrol()
    answer = wallet.batch()
    assert forget_issued(NOW, 28, SEOUL) == IssuedForgotten(0, 0, 0)
    assert forget_issued(NOW + 200, 28, SEOUL) == IssuedForgotten(0, 0, 2)  # stale nonces
    last_end = answer.credentials[-1].not_after
    kept = forget_issued(last_end + 28 * 86_400 - 1, 28, SEOUL)
    assert (kept.credentials, kept.batches) == (6, 1)  # the batch's day, then six days
    assert IssuedCredentialEntry.select().count() == 1
    assert forget_issued(last_end + 28 * 86_400 + 1, 28, SEOUL).credentials == 1
    assert EnrolmentEntry.select().count() == 1  # until the wallet deletes it
    with pytest.raises(ValueError):
        forget_issued(NOW, 0, SEOUL)
