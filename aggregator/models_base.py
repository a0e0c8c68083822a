"""What every table of the ledger database derives from: ``BaseModel`` and its database.

Models are bound to ``database_proxy``, which a process binds once
(``aggregator.db.open_database``) and a web request may rebind for itself
(``database_proxy.bound_to``), so two Flask apps in one process each reach their own
database. This module imports no model: the list of tables is ``aggregator.models``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

import peewee


class ScopedDatabaseProxy(peewee.DatabaseProxy):
    """A database proxy: a process-wide database, overridden within ``bound_to``.

    The override lives in a context variable, so it holds for one thread (one request
    of a threaded gunicorn worker) and never leaks to another. Unlike peewee's
    ``bind_ctx``, which swaps the database on the model classes for every thread.
    """

    __slots__ = ("_process_database", "_bound")

    def __init__(self) -> None:
        object.__setattr__(self, "_bound", ContextVar("safecode_bound_database", default=None))
        super().__init__()

    @property  # type: ignore[override]
    def obj(self) -> peewee.Database | None:
        bound = self._bound.get()
        return bound if bound is not None else self._process_database

    @obj.setter
    def obj(self, database: peewee.Database | None) -> None:
        object.__setattr__(self, "_process_database", database)

    def __setattr__(self, attr: str, value: object) -> None:
        if attr not in ("obj", "_callbacks", "_Model"):
            raise AttributeError("Cannot set attribute on proxy.")
        object.__setattr__(self, attr, value)

    def bind_here(self, database: peewee.Database) -> Token[peewee.Database | None]:
        """Make the models use ``database`` in this thread or task, until ``unbind_here``."""
        return self._bound.set(database)

    def unbind_here(self, token: Token[peewee.Database | None]) -> None:
        """Undo the ``bind_here`` that returned ``token``."""
        self._bound.reset(token)

    @contextlib.contextmanager
    def bound_to(self, database: peewee.Database) -> Iterator[peewee.Database]:
        """Within the block (and this thread or task only) the models use ``database``."""
        token = self.bind_here(database)
        try:
            yield database
        finally:
            self.unbind_here(token)


database_proxy = ScopedDatabaseProxy()


def concrete_database(db: peewee.Database | None = None) -> peewee.Database:
    """The database behind a proxy (by default the models' own, as bound here), or ``db``."""
    db = database_proxy if db is None else db
    return db.obj if isinstance(db, peewee.DatabaseProxy) else db


def write_transaction(db: peewee.Database | None = None) -> Any:
    """A transaction that takes SQLite's write lock at BEGIN (IMMEDIATE), else a plain one.

    A deferred SQLite transaction that reads first would fail at once with "database is
    locked" instead of waiting when another process wrote meanwhile; a check and its
    insert would not be one. ``db`` defaults to the models' database.
    """
    db = database_proxy if db is None else db
    if isinstance(concrete_database(db), peewee.SqliteDatabase) and not db.in_transaction():
        return db.atomic("IMMEDIATE")
    return db.atomic()


class BlobField(peewee.BlobField):
    """Bytes, stored as ``bytes`` on every database (psycopg2 adapts them to ``bytea``).

    peewee's own field remembers the binary type of the database the proxy was last
    initialised with, class-wide: after a PostgreSQL database, a SQLite one bound with
    ``bound_to`` would be handed psycopg2's ``Binary`` and refuse it.
    """

    def db_value(self, value: object) -> object:
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("raw_unicode_escape")
        return value


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
