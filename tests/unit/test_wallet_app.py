"""The wallet web app (aggregator/wallet_app): the page, a fixed list of files, headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aggregator.db import open_database
from aggregator.wallet_app import FILES
from aggregator.web import create_app

CONTENT = {
    "index.html": b"<!doctype html><title>wallet</title>",
    "app.js": b"console.log(1)",
    "app.css": b"body{}",
    "manifest.webmanifest": b"{}",
    "icon.svg": b"<svg/>",
    "sw.js": b"self.x=1",
}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    for name, data in CONTENT.items():
        (folder / name).write_bytes(data)
    (folder / "secret.txt").write_bytes(b"not served")
    return folder


@pytest.fixture
def app(tmp_path: Path, dist: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    database = open_database(url)
    yield create_app({"DATABASE_URL": url, "TESTING": True, "WALLET_DIST": str(dist)})
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_page_is_served_at_wallet_with_strict_headers(client: FlaskClient) -> None:
    response = client.get("/wallet")
    assert response.status_code == 200
    assert response.data == CONTENT["index.html"]
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers.get("ETag")


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_listed_file_is_served_with_its_type(client: FlaskClient, name: str) -> None:
    response = client.get(f"/wallet/{name}")
    assert response.status_code == 200
    assert response.data == CONTENT[name]
    assert response.mimetype == FILES[name]


def test_service_worker_may_control_the_page(client: FlaskClient) -> None:
    response = client.get("/wallet/sw.js")
    assert response.headers["Service-Worker-Allowed"] == "/wallet"
    assert "Service-Worker-Allowed" not in client.get("/wallet/app.js").headers


def test_conditional_get_answers_not_modified(client: FlaskClient) -> None:
    etag = client.get("/wallet/app.js").headers["ETag"]
    again = client.get("/wallet/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/wallet/secret.txt",
        "/wallet/index.html",
        "/wallet/..%2Fsecret.txt",
        "/wallet/",
        "/wallet/app.js/",
        "/wallet/../wallet/app.js",
    ],
)
def test_nothing_else_is_served(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json


def test_unknown_query_parameters_are_refused(client: FlaskClient) -> None:
    assert client.get("/wallet?x=1").status_code == 400


def test_a_missing_build_says_how_to_make_it(app: Flask, dist: Path, client: FlaskClient) -> None:
    (dist / "app.js").unlink()
    response = client.get("/wallet/app.js")
    assert response.status_code == 503
    assert response.json["error"] == "wallet_not_built"
    assert "./dev setup" in response.json["message"]
