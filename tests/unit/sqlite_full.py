"""An outbox that is full without a full disk: SQLite's ``PRAGMA max_page_count``."""

from __future__ import annotations

import os
from typing import Any

import peewee

FILLER_WIRE = b"f" * 64
"""Smaller than any real record: once one of these does not fit, no record does."""


def fill_to_the_brim(outbox: Any) -> int:
    """Cap the outbox file at its current size, then append fillers until SQLite says full.

    Afterwards every append fails with SQLITE_FULL, exactly as on a full disk;
    :func:`make_room` lifts the cap again. Returns how many filler rows went in.
    """
    pages = outbox.db.execute_sql("PRAGMA page_count").fetchone()[0]
    outbox.db.execute_sql(f"PRAGMA max_page_count = {pages}")
    for added in range(10_000):
        try:
            outbox.append(lambda seq: (os.urandom(16), FILLER_WIRE), 0)
        except peewee.DatabaseError:
            return added
    raise AssertionError("max_page_count did not cap the outbox")


def make_room(outbox: Any) -> None:
    """Lift the cap :func:`fill_to_the_brim` set."""
    outbox.db.execute_sql("PRAGMA max_page_count = 1073741823")
