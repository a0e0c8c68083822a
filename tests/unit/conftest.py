"""Fixtures shared by the unit tests.

``db`` runs each test that uses it twice: on a fresh SQLite file and on a fresh
schema of the PostgreSQL server at ``SAFECODE_TEST_PG_URL`` (default
postgresql://postgres@127.0.0.1:5432/test), dropped afterwards, so parallel runs
never collide. Where no server answers there, the session starts a private cluster
(tests/pg_cluster.py). The PostgreSQL runs skip, saying why, when neither can be
had, and fail instead under CI or SAFECODE_REQUIRE_PG=1. Mark a test
``@pytest.mark.sqlite_only`` to run it on SQLite alone.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import peewee
import pytest

from aggregator import vault
from aggregator.db import open_database
from tests import markers
from tests.pg_cluster import SERVER

if TYPE_CHECKING:
    from tests.unit.case_site import Site

#: A fixed data master key for tests; never used outside them.
TEST_MASTER_KEY = bytes(range(32))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite ledger database only")


def postgres_required() -> bool:
    """CI (or SAFECODE_REQUIRE_PG=1) must run the PostgreSQL variants, never skip them."""
    return os.environ.get("SAFECODE_REQUIRE_PG") == "1" or os.environ.get("CI", "") not in (
        "",
        "0",
        "false",
    )


def postgres_unavailable() -> str:
    """Why no test PostgreSQL server can be used, or "" if one can (started if need be)."""
    with markers.WATCH.paused():
        SERVER.resolve()
    return SERVER.problem


def _admin(statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(SERVER.url, connect_timeout=3)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '20s'")
            cur.execute("SET synchronous_commit = off")
            cur.execute(statement)
    finally:
        conn.close()


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A URL of a fresh PostgreSQL schema (search_path set through the URL), dropped after.

    Skips the test, saying why, when no server can be had; fails it instead under CI
    (or SAFECODE_REQUIRE_PG=1), where every PostgreSQL variant must run.
    """
    reason = postgres_unavailable()
    if reason and postgres_required():
        pytest.fail(f"PostgreSQL is required here (CI or SAFECODE_REQUIRE_PG=1): {reason}")
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in SERVER.url else "?"
    try:
        # Commits need not wait for the disk: a test never outlives a server crash.
        options = f"-csearch_path={schema} -csynchronous_commit=off"
        yield f"{SERVER.url}{sep}options={quote(options, safe='')}"
    finally:
        _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL of a fresh PostgreSQL schema, dropped after the test."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty ledger database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.sqlite"
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite-specific test")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``db_url``, for a database a whole module shares (built once, read by many)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.sqlite"
        return
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def test_vault() -> Iterator[vault.Vault]:
    """The data vault new check-ins are sealed with during the test."""
    installed = vault.Vault(TEST_MASTER_KEY)
    vault.install(installed)
    yield installed
    vault.install(None)


@pytest.fixture
def db(db_url: str, test_vault: vault.Vault) -> Iterator[peewee.Database]:
    """A fresh ledger database (SQLite, then PostgreSQL), closed afterwards."""
    database = open_database(db_url)
    yield database
    database.close()


@pytest.fixture
def case_site(
    db: peewee.Database, test_vault: vault.Vault, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Site:
    """A case-tracing site (tests/unit/case_site.py) on ``db``: an account of every role,
    cheap password hashing, API refusals counted at once; its phones and visits are the
    test's own."""
    from aggregator.api import errors as api_errors
    from tests.unit.case_site import Site, add_accounts, cheap_passwords

    monkeypatch.setattr(api_errors, "FLUSH_EVERY_S", 0.0)
    cheap_passwords(monkeypatch)
    add_accounts()
    return Site(test_vault, url=db_url)
