"""A site for case tracing tests: an issuer, enrolled phones, a card, visits, officials.

Phones enrol and fetch their day credentials through the real issuer
(``aggregator.issuer.service.WalletIssuer``, signed CBOR requests); their visits go
through real ingest (tests/unit/trace_town.py), so rows carry the tags and sealed
records tracing reads; a printed card is issued by the desk code
(``aggregator.desk.cards.issue_card``). The app serves the case API with a
``TracingContext`` on the test vault.

Tests get a ready site from the ``case_site`` fixture (tests/unit/conftest.py: every
role's account, cheap password hashing, on SQLite and PostgreSQL) and talk to it with
the helpers below (``login_token``, ``page_login``, ``opened``); what each test's town
holds (which phones visit where) stays in the test.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from aggregator.accounts import passwords, users
from aggregator.accounts.login import LoginPolicy
from aggregator.cases.context import TracingContext
from aggregator.desk.cards import issue_card
from aggregator.desk.settings import DeskSettings
from aggregator.issuer.service import WalletIssuer
from aggregator.issuer.settings import IssuerSettings
from aggregator.trace.settings import TraceSettings
from aggregator.vault import Vault
from aggregator.web import create_app
from protocol import issuance, keys
from protocol.authority_key import format_public_key
from protocol.contact import Contact, seal_contact
from protocol.presentation import CodeType, Presentation, present
from simulator.visitors import Wallet
from tests.unit.trace_town import DAY0, ISSUER, T0, Town

HA = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"case-site-ha").digest())
PEPPER = hashlib.sha256(b"case-site-pepper").digest()
SEOUL = ZoneInfo("Asia/Seoul")
PASSWORD = "correct horse battery"
POLICY = LoginPolicy(max_failures=3, lock_s=900, address_failures=50, address_window_s=900)
#: Officials, and an account of every other role.
ACCOUNTS = {
    "kim": ("official", ()),
    "han": ("official", ()),
    "park": ("venue", ("cafe-1",)),
    "lee": ("operator", ()),
    "choi": ("desk", ()),
}
TRACE = TraceSettings(default_stay_minutes=60, max_stay_minutes=240, min_overlap_minutes=15)
#: The issuer's clock when phones enrol: an hour before the first visit.
ENROL_AT = T0 - 3600
#: A case's period: from the day before the town's first visit day to two days after it.
START_MS = (DAY0 - 86_400) * 1000
END_MS = (DAY0 + 2 * 86_400) * 1000
#: The case, a visitor exposed to it, a printed card's holder, a visitor too short a time.
CASE_PHONE = "+821011112222"
NEAR_PHONE = "+821033334444"
CARD_PHONE = "+821055556666"
FAR_PHONE = "+821077778888"


def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheaper argon2 for speed, undone after the test (test_accounts checks the real
    parameters and the timing)."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


def issuer_settings() -> IssuerSettings:
    return IssuerSettings(
        authority_key=HA.public_key(),
        authority_key_text=format_public_key(HA),
        pepper=PEPPER,
        time_zone=SEOUL,
        days_ahead=7,
        requests_per_minute=10_000,
        enrolments_per_minute=10_000,
        enrolments_per_phone=5,
    )


@dataclass
class Phone:
    """An enrolled phone: its enrolment, its week of day credentials, its contact."""

    number: str
    enrolment: bytes
    key: Ed25519PrivateKey
    days: list[Wallet]
    contact: Contact

    def diagnostic(self, at: float) -> Presentation:
        """Today's "show to a health official" code at ``at``."""
        today = self.days[0]
        return present(today.key, today.credential, now=at, code_type=CodeType.DIAGNOSTIC)


@dataclass
class Site:
    """The issuer, the town, and the app serving the case API."""

    vault: Vault
    clock: list[float] = field(default_factory=lambda: [T0 + 8 * 3600])
    town: Town = field(default_factory=Town)
    #: The database the app opens unless ``app`` is given another.
    url: str = ""

    def __post_init__(self) -> None:
        self.issuer = WalletIssuer(issuer_settings(), ISSUER, clock=lambda: ENROL_AT)
        self.context = TracingContext(
            vault=self.vault,
            pepper=PEPPER,
            issuer_keys=(ISSUER.public_key(),),
            time_zone=SEOUL,
            days_ahead=7,
            trace=TRACE,
            clock=lambda: self.clock[0],
            authority_key=HA.public_key(),
        )

    def app(self, url: str | None = None, **config: object) -> Flask:
        """The web app with the case API, on ``url`` (the site's own by default)."""
        settings = {
            "DATABASE_URL": self.url if url is None else url,
            "TESTING": True,
            "COOKIE_SECURE": False,
            "SECRET_KEY": "k" * 64,
            "LOGIN_POLICY": POLICY,
            "TRACING": self.context,
            **config,
        }
        return create_app(settings)

    def phone(self, number: str, name: str | None = None, language: str = "ko") -> Phone:
        """Enrol ``number`` and fetch a week of day credentials, through the issuer."""
        key = keys.generate()
        contact = Contact(number, language, hashlib.sha256(number.encode()).digest(), name)
        wire = issuance.sign_enrol(
            key, phone=number, contact_blob=seal_contact(HA.public_key(), contact), ts=ENROL_AT
        )
        _, answer = self.issuer.handle(issuance.ENROL, wire)
        enrolment = issuance.parse_enrol_answer(answer)
        day_keys = [keys.generate() for _ in range(7)]
        wire = issuance.sign_batch(
            key,
            enrolment=enrolment,
            wallet_keys=[keys.public_bytes(k) for k in day_keys],
            ts=ENROL_AT,
        )
        _, answer = self.issuer.handle(issuance.BATCH, wire)
        batch = issuance.BatchAnswer.from_bytes(answer)
        days = [Wallet(k, c) for k, c in zip(day_keys, batch.credentials, strict=True)]
        return Phone(number, enrolment, key, days, contact)

    def card(self, number: str, name: str = "Grandma Oh") -> Presentation:
        """A printed card for ``number``, issued by the desk code on the visit day."""
        desk = DeskSettings(issuer=issuer_settings(), issuer_key=ISSUER)
        return issue_card(desk, phone=number, language="en", name=name, now=ENROL_AT).code


def add_accounts() -> None:
    """One account per entry of ACCOUNTS, all with PASSWORD."""
    for name, (role, venues) in ACCOUNTS.items():
        users.add_user(name, role, PASSWORD, venues)


def b64(value: bytes) -> str:
    """Unpadded URL-safe base64, as the case API writes blobs."""
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def login_token(client: FlaskClient, user: str = "kim") -> dict[str, str]:
    """The tools' login (``POST /v1/staff/login``): its token as an Authorization header."""
    answer = client.post("/v1/staff/login", json={"user": user, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def page_login(client: FlaskClient, name: str) -> None:
    """Log ``client`` in through the staff login page, with the form's CSRF token."""
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token.group(1), "name": name, "password": PASSWORD}
    assert client.post("/staff/login", data=form).status_code == 302


def opened(
    client: FlaskClient, headers: dict[str, str], body: dict[str, Any], **fields: Any
) -> Any:
    """``POST /v1/cases`` with ``body`` and ``fields``: must be 201; the answer's JSON."""
    answer = client.post("/v1/cases", json={**body, **fields}, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()
