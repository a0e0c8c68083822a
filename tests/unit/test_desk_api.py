"""The desk: staff tokens and roles, card issuance, the printed page, lookup and revocation."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from aggregator import counters, revocations
from aggregator.api import errors as api_errors
from aggregator.db import open_database
from aggregator.desk import tokens
from aggregator.desk.cards import CardEntry, issue_card
from aggregator.desk.cli import desk_group
from aggregator.desk.settings import DeskSettings
from aggregator.issuer.settings import IssuerSettings
from aggregator.operators import create_token as create_operator_token
from aggregator.phone_tag import phone_tag
from aggregator.web import create_app
from kiosk.verifier import DoorVerifier, Outcome
from protocol.authority_key import format_public_key
from protocol.authority_seal import open_from_authority
from protocol.contact import open_contact
from protocol.presentation import CARD_MAX_DAYS, CodeType, Presentation
from support.config_file import ConfigError
from tests.unit.ledger_builder import ISSUER, write_config

HA = X25519PrivateKey.from_private_bytes(bytes(range(32)))
PEPPER = bytes(range(100, 132))
SEOUL = ZoneInfo("Asia/Seoul")
ISSUER_SETTINGS = IssuerSettings(
    authority_key=HA.public_key(),
    authority_key_text=format_public_key(HA),
    pepper=PEPPER,
    time_zone=SEOUL,
)
SETTINGS = DeskSettings(issuer_key=ISSUER, issuer=ISSUER_SETTINGS)
PHONE = "010-1234-5678"
E164 = "+821012345678"


@pytest.fixture
def app(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The web app on a fresh database (SQLite, then PostgreSQL)."""
    monkeypatch.setattr(api_errors, "FLUSH_EVERY_S", 0.0)
    url = db_url
    database = open_database(url)
    yield create_app({"DATABASE_URL": url, "TESTING": True, "DESK": SETTINGS})
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def desk_token(app: Flask) -> str:
    return tokens.create_token("dana at the desk")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(client: FlaskClient, token: str, **body: object) -> object:
    return client.post(
        "/v1/desk/cards", json={"phone": PHONE, "lang": "ko", **body}, headers=bearer(token)
    )


def refused(reason: str) -> int:
    return counters.totals().get("api_refused", {}).get(reason, 0)


# --- roles ---------------------------------------------------------------------------------


def test_no_token_is_refused(client: FlaskClient) -> None:
    response = client.post("/v1/desk/cards", json={"phone": PHONE, "lang": "ko"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "no_token"
    assert CardEntry.select().count() == 0


@pytest.mark.parametrize(
    "header",
    ["Basic abc", "Bearer", "Bearer scd_0123456789abcdef_" + "A" * 43, "Bearer junk"],
)
def test_bad_tokens_are_refused(client: FlaskClient, desk_token: str, header: str) -> None:
    response = client.post(
        "/v1/desk/cards", json={"phone": PHONE, "lang": "ko"}, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "bad_token"
    assert CardEntry.select().count() == 0


def test_operator_token_is_the_wrong_role(client: FlaskClient) -> None:
    operator = create_operator_token("olga operator")
    response = issue(client, operator)
    assert response.status_code == 403
    assert response.get_json()["error"] == "wrong_role"
    assert refused("wrong_role") == 1
    assert CardEntry.select().count() == 0


def test_desk_token_is_not_an_operator_token(client: FlaskClient, desk_token: str) -> None:
    response = client.get("/v1/operator/site", headers=bearer(desk_token))
    assert response.status_code == 401


def test_revoked_desk_token_is_refused(client: FlaskClient, desk_token: str) -> None:
    assert issue(client, desk_token).status_code == 201
    tokens.revoke_token("dana at the desk")
    response = issue(client, desk_token)
    assert response.status_code == 401 and response.get_json()["error"] == "bad_token"
    assert CardEntry.select().count() == 1


def test_desk_token_is_stored_hashed(desk_token: str) -> None:
    assert desk_token.startswith("scd_")
    secret = desk_token.split("_", 2)[2]
    row = tokens.DeskToken.get()
    assert secret not in json.dumps([str(v) for v in row.__data__.values()])
    assert tokens.authenticate(desk_token).name == "dana at the desk"


def test_desk_unavailable_without_issuer_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/other.sqlite"
    database = open_database(url)
    try:
        client = create_app({"DATABASE_URL": url, "TESTING": True}).test_client()
        token = tokens.create_token("dana")
        response = issue(client, token)
        assert response.status_code == 503
        assert response.get_json()["error"] == "desk_unavailable"
    finally:
        database.close()


# --- issuing -------------------------------------------------------------------------------


def test_issued_card_is_stored_sealed_and_printable(client: FlaskClient, desk_token: str) -> None:
    response = issue(client, desk_token, name="김민지 Kim", print_name=True)
    assert response.status_code == 201
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "@page { size: A6" in page
    assert "<svg" in page and "안전코드 카드" in page and "safecode card" in page
    assert "김민지" in page  # the first name, ticked
    assert "Kim" not in page.split("<main")[1].split("</main>")[0]  # only the first word
    assert E164 not in page and "1234" not in page
    row = CardEntry.get()
    assert bytes(row.card_id).hex() == response.headers["X-Card-Id"]
    assert response.headers["X-Card-Id"] in page.split("</main>")[1]  # screen-only
    contact = open_contact(HA, bytes(row.contact))
    assert (contact.phone, contact.language, contact.name) == (E164, "ko", "김민지 Kim")
    assert bytes(row.phone_tag) == phone_tag(PEPPER, E164)
    owner = open_from_authority(HA, "card-owner", bytes(row.owner_sealed), padded_size=32)
    assert owner == bytes(row.card_id)
    # No column holds the phone number in any form a reader could use.
    everything = json.dumps([repr(v) for v in row.__data__.values()])
    assert E164 not in everything and "1012345678" not in everything
    assert counters.totals()["desk_cards"]["issued"] == 1


def test_card_without_the_tick_prints_no_name(client: FlaskClient, desk_token: str) -> None:
    page = issue(client, desk_token, name="Minji", lang="en").get_data(as_text=True)
    assert "Minji" not in page
    assert page.index("Valid until") < page.index("까지")  # English first


def test_card_code_is_a_28_day_card_a_kiosk_accepts(app: Flask) -> None:
    card = issue_card(SETTINGS, phone=PHONE, language="ko", now=1_764_000_000)
    code = Presentation.from_text(card.code.to_text())
    assert code.code_type == CodeType.CARD
    credential = code.credential
    assert credential.not_after - credential.not_before == CARD_MAX_DAYS * 86_400
    assert code.timestamp == credential.not_before  # dated at local midnight, not the minute
    midnight = credential.not_before
    assert midnight % 86_400 == (86_400 - 9 * 3600) % 86_400  # Seoul is UTC+9
    verifier = DoorVerifier([ISSUER.public_key()], now=lambda: 1_764_000_000 + 10 * 86_400)
    assert verifier.check(card.code.to_text()).outcome is Outcome.ACCEPTED
    assert card.last_day.isoformat() == "2025-12-22"  # issued 2025-11-25 (Seoul): 28 days with it


def test_script_in_a_name_is_never_rendered_unescaped(client: FlaskClient, desk_token: str) -> None:
    name = "<script>alert(1)</script>"
    response = issue(client, desk_token, name=name, print_name=True)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    assert "<script" not in page
    assert html.escape("<script>alert(1)</script>")[:20] in page


@pytest.mark.parametrize(
    "phone",
    ["", "abc", "+", "12", "010-1234-567x", "+82 10 1234 5678 9999", "0" * 40, "+999123456789"],
)
def test_junk_phone_numbers_are_refused(client: FlaskClient, desk_token: str, phone: str) -> None:
    response = client.post(
        "/v1/desk/cards", json={"phone": phone, "lang": "ko"}, headers=bearer(desk_token)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_phone_number"
    assert phone not in response.get_json()["message"] or not phone
    assert CardEntry.select().count() == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"phone": 1, "lang": "ko"}, "bad_phone"),
        ({"phone": PHONE, "lang": "fr"}, "bad_language"),
        ({"phone": PHONE}, "bad_lang"),
        ({"phone": PHONE, "lang": "ko", "name": "a\u202eb"}, "bad_name"),
        ({"phone": PHONE, "lang": "ko", "name": "x" * 65}, "bad_name"),
        ({"phone": PHONE, "lang": "ko", "print_name": "yes", "name": "A"}, "bad_print_name"),
        ({"phone": PHONE, "lang": "ko", "print_name": True}, "bad_print_name"),
        ({"phone": PHONE, "lang": "ko", "admin": True}, "unknown_field"),
    ],
)
def test_bad_fields_are_refused(
    client: FlaskClient, desk_token: str, body: dict, reason: str
) -> None:
    response = client.post("/v1/desk/cards", json=body, headers=bearer(desk_token))
    assert response.status_code == 400
    assert response.get_json()["error"] == reason
    assert CardEntry.select().count() == 0


def test_a_phone_holds_a_few_active_cards_at_most(client: FlaskClient, desk_token: str) -> None:
    for _ in range(SETTINGS.max_cards_per_phone):
        assert issue(client, desk_token).status_code == 201
    response = issue(client, desk_token)
    assert response.status_code == 409 and response.get_json()["error"] == "too_many_cards"
    lost = CardEntry.select().first()
    revoke = f"/v1/desk/cards/{bytes(lost.card_id).hex()}/revoke"
    assert client.post(revoke, headers=bearer(desk_token)).status_code == 200
    assert issue(client, desk_token).status_code == 201


# --- lookup and revocation -----------------------------------------------------------------


def test_lost_card_is_found_by_phone_and_revoked(client: FlaskClient, desk_token: str) -> None:
    card_id = issue(client, desk_token).headers["X-Card-Id"]
    found = client.post(
        "/v1/desk/cards/lookup", json={"phone": "+82 10-1234-5678"}, headers=bearer(desk_token)
    ).get_json()["cards"]
    assert [c["card_id"] for c in found] == [card_id]
    response = client.post(f"/v1/desk/cards/{card_id}/revoke", headers=bearer(desk_token))
    assert response.status_code == 200
    assert response.get_json() == {"card_id": card_id, "revoked": True, "already": False}
    row = CardEntry.get()
    assert row.revoked
    assert bytes(row.credential_id) in revocations.revoked_ids()
    again = client.post(f"/v1/desk/cards/{card_id}/revoke", headers=bearer(desk_token))
    assert again.get_json()["already"] is True
    assert revocations.revoked_ids() == [bytes(row.credential_id)]
    assert counters.totals()["desk_cards"]["revoked"] == 1
    lookup = client.post("/v1/desk/cards/lookup", json={"phone": PHONE}, headers=bearer(desk_token))
    assert lookup.get_json()["cards"] == []


def test_revoked_card_is_refused_at_the_door(client: FlaskClient, desk_token: str) -> None:
    card = issue_card(SETTINGS, phone=PHONE, language="en")
    client.post(f"/v1/desk/cards/{card.card_id.hex()}/revoke", headers=bearer(desk_token))
    verifier = DoorVerifier([ISSUER.public_key()])
    verifier.set_revoked(frozenset(revocations.revoked_ids()))
    assert verifier.check(card.code.to_text()).reason == "revoked"


@pytest.mark.parametrize(
    ("card_id", "status", "reason"),
    [("00" * 16, 404, "unknown_card"), ("zz" * 16, 400, "bad_card_id"), ("00", 400, "bad_card_id")],
)
def test_revoking_a_card_that_is_not_there(
    client: FlaskClient, desk_token: str, card_id: str, status: int, reason: str
) -> None:
    response = client.post(f"/v1/desk/cards/{card_id}/revoke", headers=bearer(desk_token))
    assert response.status_code == status
    assert response.get_json()["error"] == reason
    assert revocations.revoked_ids() == []


def test_revoke_needs_the_desk_role(client: FlaskClient, desk_token: str) -> None:
    card_id = issue(client, desk_token).headers["X-Card-Id"]
    operator = create_operator_token("olga operator")
    response = client.post(f"/v1/desk/cards/{card_id}/revoke", headers=bearer(operator))
    assert response.status_code == 403
    assert revocations.revoked_ids() == []


# --- settings and CLI ----------------------------------------------------------------------


def test_only_the_issuer_process_serves_the_desk(tmp_path: Path) -> None:
    from aggregator.web import create_app_from_config

    config_path = write_config(tmp_path, f"sqlite:///{tmp_path}/ledger.sqlite")
    (tmp_path / "ha.pub").write_text(format_public_key(HA) + "\n")
    pepper = tmp_path / "pepper"
    pepper.write_bytes(PEPPER)
    pepper.chmod(0o600)
    with config_path.open("a") as out:
        out.write('\n[issuer]\nauthority_public_key = "ha.pub"\npepper_file = "pepper"\n')
    read_api = create_app_from_config(config_path)  # no issuer key, no desk (503 above)
    assert read_api.config["ISSUER"] is None and "safecode.wallet" not in read_api.extensions
    issuer = create_app_from_config(config_path, issuer=True)
    assert issuer.config["ISSUER"].pepper == PEPPER and "safecode.wallet" in issuer.extensions
    pepper.chmod(0o644)
    with pytest.raises(ConfigError):
        create_app_from_config(config_path, issuer=True)  # a pepper others can read


def test_desk_token_cli(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, f"sqlite:///{tmp_path}/ledger.sqlite")
    runner = CliRunner()
    made = runner.invoke(
        desk_group, ["token", "create", "--config", str(config_path), "--name", "dana"]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"scd_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    listed = runner.invoke(desk_group, ["token", "list", "--config", str(config_path)])
    assert json.loads(listed.stdout)["name"] == "dana"
    assert token not in listed.stdout
    again = runner.invoke(
        desk_group, ["token", "create", "--config", str(config_path), "--name", "dana"]
    )
    assert again.exit_code != 0
    gone = runner.invoke(
        desk_group, ["token", "revoke", "--config", str(config_path), "--name", "dana"]
    )
    assert gone.exit_code == 0
    with pytest.raises(tokens.TokenError):
        tokens.authenticate(token)


def test_the_printed_qr_reads_at_the_door(
    client: FlaskClient, desk_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's QR is the card's code, and a kiosk decoder reads it back from pixels."""
    import numpy as np
    import segno

    from aggregator.api import desk as desk_api
    from aggregator.desk.printable import QR_ERROR, qr_svg
    from kiosk.decoders import default_decoder

    printed = []
    render = desk_api.render_card
    monkeypatch.setattr(desk_api, "render_card", lambda card: printed.append(card) or render(card))
    page = issue(client, desk_token).get_data(as_text=True)
    (card,) = printed
    text = card.code.to_text()
    assert card.code.credential.credential_id == bytes(CardEntry.get().credential_id)
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None and svg.group(0) == qr_svg(text)
    qr = segno.make(text, error=QR_ERROR, micro=False, boost_error=False)
    modules = np.array([[0 if dark else 255 for dark in line] for line in qr.matrix], np.uint8)
    image = np.pad(np.kron(modules, np.ones((4, 4), np.uint8)), 16, constant_values=255)
    found = [d.text for d in default_decoder().decode(np.ascontiguousarray(image))]
    assert found == [text]
    assert DoorVerifier([ISSUER.public_key()]).check(text).outcome is Outcome.ACCEPTED


def test_desk_uses_the_wallet_issuers_settings_when_the_app_has_them(tmp_path: Path) -> None:
    """``ISSUER`` and ``ISSUER_KEY`` (the wallet issuer's app settings) serve the desk too."""
    url = f"sqlite:///{tmp_path}/issuer.sqlite"
    database = open_database(url)
    try:
        app = create_app(
            {"DATABASE_URL": url, "TESTING": True, "ISSUER": ISSUER_SETTINGS, "ISSUER_KEY": ISSUER}
        )
        token = tokens.create_token("dana")
        assert issue(app.test_client(), token).status_code == 201
    finally:
        database.close()
