"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from aggregator.db import open_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    """A fresh SQLite ledger database in tmp_path, closed afterwards."""
    database = open_database(f"sqlite:///{tmp_path}/ledger.sqlite")
    yield database
    database.close()
