"""The web app's ledger database, as a Flask extension (``init_app``, one per app).

Each app connects its own database (``DATABASE_URL``) and binds the models to it for
the length of each of its requests, in that request's thread only
(``ScopedDatabaseProxy.bind_here``). A second app with another database URL therefore
never rebinds the first app's database, nor the process-wide binding that
``aggregator.db.open_database`` makes for the ingest and sequencer processes.
"""

from __future__ import annotations

import peewee
from flask import Flask, current_app, g

from .db import connect_database
from .models_base import database_proxy

EXTENSION = "safecode.database"


class LedgerDatabase:
    """Binds an app's requests to the database its ``DATABASE_URL`` names."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Connect (creating missing tables) and register the per-request hooks.

        Register this before any teardown that writes to the database: Flask runs
        teardowns in reverse order, so this one (which unbinds) runs last.
        """
        database = connect_database(app.config["DATABASE_URL"])
        database.close()
        app.extensions[EXTENSION] = database
        app.before_request(_bind)
        app.teardown_request(_unbind)


def app_database(app: Flask | None = None) -> peewee.Database:
    """The ledger database of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def _bind() -> None:
    database = app_database()
    g.safecode_database_token = database_proxy.bind_here(database)
    database.connect(reuse_if_open=True)


def _unbind(exc: BaseException | None) -> None:
    token = g.pop("safecode_database_token", None)
    database = app_database()
    if not database.is_closed():
        database.close()
    if token is not None:
        database_proxy.unbind_here(token)
