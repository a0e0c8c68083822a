"""Each web app binds its own ledger database (Flask's ``init_app`` pattern).

Apps built with different ``DATABASE_URL``s in one process, served interleaved (also
from several threads at once, as a threaded gunicorn worker would), each see only their
own data; the process-wide binding of ``open_database`` stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import peewee
import pytest
from flask import Flask

from aggregator.db import KioskEntry, database_proxy, open_database
from aggregator.registry import enrol_kiosk
from aggregator.web import create_app
from aggregator.web_database import app_database
from tests.unit.wire_checks import seeded


def _app_with_kiosk(url: str, kiosk_id: str) -> Flask:
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    with database_proxy.bound_to(app_database(app)):
        enrol_kiosk(kiosk_id, "venue-1", seeded(kiosk_id).public_key().public_bytes_raw())
    return app


def _listed(app: Flask) -> list[str]:
    response = app.test_client().get("/v1/kiosks")
    assert response.status_code == 200, response.get_json()
    return [k["kiosk_id"] for k in response.get_json()["kiosks"]]


@pytest.fixture
def process_db(tmp_path: Path) -> Iterator[peewee.Database]:
    """The process's own database (as the ingest process has), with one kiosk."""
    database = open_database(f"sqlite:///{tmp_path}/process.sqlite")
    enrol_kiosk("kiosk-process", "venue-1", seeded("kiosk-process").public_key().public_bytes_raw())
    yield database
    database.close()


@pytest.fixture
def apps(tmp_path: Path, pg_schema_url: str, process_db: peewee.Database) -> dict[str, Flask]:
    return {
        "kiosk-a": _app_with_kiosk(f"sqlite:///{tmp_path}/a.sqlite", "kiosk-a"),
        "kiosk-b": _app_with_kiosk(f"sqlite:///{tmp_path}/b.sqlite", "kiosk-b"),
        "kiosk-pg": _app_with_kiosk(pg_schema_url, "kiosk-pg"),
    }


def test_interleaved_requests_see_their_own_app_database(
    apps: dict[str, Flask], process_db: peewee.Database
) -> None:
    for _ in range(3):
        for kiosk_id, app in apps.items():
            assert _listed(app) == [kiosk_id]
    assert database_proxy.obj is process_db
    assert [k.kiosk_id for k in KioskEntry.select()] == ["kiosk-process"]


def test_concurrent_requests_to_two_apps_do_not_cross(
    apps: dict[str, Flask], process_db: peewee.Database
) -> None:
    jobs = [kiosk_id for _ in range(20) for kiosk_id in apps]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda kiosk_id: _listed(apps[kiosk_id]), jobs))
    assert answers == [[kiosk_id] for kiosk_id in jobs]
    assert database_proxy.obj is process_db


def test_building_an_app_does_not_rebind_the_process(
    tmp_path: Path, process_db: peewee.Database
) -> None:
    create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/other.sqlite", "TESTING": True})
    assert database_proxy.obj is process_db
    assert [k.kiosk_id for k in KioskEntry.select()] == ["kiosk-process"]
