"""The read API under hostile requests: deep JSON, token-id probing, odd request targets."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from aggregator.api.bodies import MAX_JSON_DEPTH, bounded_loads, nesting_depth
from aggregator.api.paths import non_canonical
from aggregator.db import KioskEntry, open_database
from aggregator.operators import TokenError, authenticate, create_token, revoke_token
from aggregator.web import create_app
from protocol import keys
from tests.unit.wire_checks import seeded

DEVICE = seeded("hardening-device")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path}/ledger.sqlite"
    database = open_database(url)
    yield create_app({"DATABASE_URL": url, "TESTING": True})
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(app: Flask) -> str:
    return create_token("hardening")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 20_000 + "]" * 20_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"device_key": ' + "[" * 30 + "]" * 30 + ', "venue_id": "v"}',
    ],
)
def test_deeply_nested_json_is_400_not_500(client: FlaskClient, token: str, body: str) -> None:
    response = client.post(
        "/v1/operator/kiosks",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (400, 413), response.data[:300]
    assert response.get_json()["error"] in ("bad_json", "request_entity_too_large")
    assert KioskEntry.select().count() == 0


def test_nesting_is_counted_outside_strings_only() -> None:
    assert nesting_depth('{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert nesting_depth(r'["\"[[[[", []]') == 2
    flat = '{"k": "' + "[" * 1000 + '"}'
    assert bounded_loads(flat) == {"k": "[" * 1000}
    deep_enough = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert nesting_depth(bounded_loads(deep_enough.encode()).__repr__()) == MAX_JSON_DEPTH
    with pytest.raises(ValueError, match="nests at most"):
        bounded_loads("[" + deep_enough + "]")


def test_an_unterminated_string_of_escaped_quotes_is_refused_quickly() -> None:
    """The depth scan is one linear pass: 16 KB of ``\\"`` used to cost half a second."""
    hostile = '"' + '\\"' * 8191
    start = time.process_time()
    with pytest.raises(ValueError, match="not JSON"):
        bounded_loads(hostile.encode())
    assert time.process_time() - start < 0.1
    assert nesting_depth(hostile + "[" * 100) == 0  # all inside the unterminated string


def test_escapes_end_where_json_says() -> None:
    assert nesting_depth(r'["\\", [[]]]') == 3  # an escaped backslash, then the string ends
    assert nesting_depth(r'{"a\"[": {"b": "}}]]"}}') == 2
    assert nesting_depth("[" * 40, limit=5) == 6  # stops just past the limit


def test_app_wide_get_json_is_bounded_too(app: Flask) -> None:
    with app.test_request_context(
        method="POST", data="[" * 50_000, content_type="application/json"
    ):
        assert request.get_json(silent=True) is None


def _median_s(call: Callable[[], object], runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _refused(token: str) -> Callable[[], None]:
    def attempt() -> None:
        with pytest.raises(TokenError):
            authenticate(token)

    return attempt


def test_an_unknown_token_id_costs_as_much_as_a_wrong_secret(token: str) -> None:
    """The timing of a refusal must not tell whether the token id exists."""
    token_id = token.split("_")[1]
    wrong_secret = f"sco_{token_id}_{'A' * 43}"
    unknown_id = f"sco_{'0' * 16}_{'A' * 43}"
    other = create_token("revoked one")
    revoke_token("revoked one")
    known = _median_s(_refused(wrong_secret))
    unknown = _median_s(_refused(unknown_id))
    revoked = _median_s(_refused(other))
    # One scrypt each; without it an unknown id answered ~8x faster. A generous factor.
    assert unknown > known / 2.5, (known, unknown)
    assert revoked > known / 2.5, (known, revoked)


@pytest.mark.parametrize(
    "target",
    [
        "//v1/kiosks",
        "//healthz",
        "/v1//kiosks",
        "/v1/kiosks/",
        "/healthz/",
        "/v1/./kiosks",
        "/v1/../v1/kiosks",
        "/v1/kiosks/.",
        "/%761/kiosks",
        "/v1/kiosks%2F",
        "/v1/kiosks/%2e",
        "http://x/v1/kiosks",
        "/v1/kiosks#x",
        "*",
    ],
)
def test_non_canonical_request_targets_are_404(app: Flask, target: str) -> None:
    """The raw target as a server passes it on (gunicorn: RAW_URI), routed path canonical."""
    raw = {"RAW_URI": target, "REQUEST_URI": target}
    response = app.test_client().open(EnvironBuilder(path="/v1/kiosks", environ_overrides=raw))
    assert response.status_code == 404, target
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "target",
    ["/", "/healthz", "/v1/kiosks?device_key=did%3Akey%3Az6", "/v1/kiosks/Not%20A%20Kiosk"],
)
def test_canonical_targets_pass(target: str) -> None:
    assert non_canonical(target) is None


def test_canonical_requests_still_answer(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/kiosks").status_code == 200
    did = keys.did_key(DEVICE)
    assert client.get(f"/v1/kiosks?device_key={did}").get_json() == {"kiosks": []}
