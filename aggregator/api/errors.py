"""JSON errors for every refusal, counted by reason and logged at a limited rate."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import NoReturn

import peewee
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import counters

log = logging.getLogger("aggregator.api")

COUNTER_NAME = "api_refused"
FLUSH_EVERY_S = 2.0
LOG_EVERY_S = 10.0


class ApiError(Exception):
    """A request refused with ``status``; ``reason`` is the counter label."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def bearer_token(name: str) -> str:
    """The request's ``Authorization: Bearer`` token; 401 ``no_token`` or ``bad_token``.

    ``name`` says which token is wanted ("operator token", "desk token").
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise ApiError(401, "no_token", f"this needs Authorization: Bearer <{name}>")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "bad_token", f"use Authorization: Bearer <{name}>")
    return token


def bad_request(reason: str, message: str) -> NoReturn:
    """Refuse a bad parameter with 400."""
    raise ApiError(400, reason, message)


class RefusalCounter:
    """Refusals counted in memory and added to the shared counters table now and then.

    Writing on every bad request would let a flood of them hammer the database; a
    gunicorn worker instead flushes at most every FLUSH_EVERY_S (and before /metrics).
    """

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flushed = time.monotonic()
        self._logged: dict[str, tuple[float, int]] = {}

    def count(self, reason: str, message: str) -> None:
        with self._lock:
            self._pending[reason] += 1
            last, suppressed = self._logged.get(reason, (0.0, 0))
            now = time.monotonic()
            if now - last >= LOG_EVERY_S:
                self._logged[reason] = (now, 0)
                more = f" ({suppressed} more since the last line)" if suppressed else ""
                log.warning("refused an API request (%s): %.120s%s", reason, message, more)
            else:
                self._logged[reason] = (last, suppressed + 1)

    def flush(self, force: bool = False) -> None:
        with self._lock:
            if not self._pending or (
                not force and time.monotonic() - self._flushed < FLUSH_EVERY_S
            ):
                return
            pending, self._pending = self._pending, Counter()
            self._flushed = time.monotonic()
        try:
            counters.add({(COUNTER_NAME, reason): n for reason, n in pending.items()})
        except peewee.DatabaseError as exc:
            with self._lock:
                self._pending.update(pending)
            log.error("cannot store API refusal counters: %s", exc)


def refusals() -> RefusalCounter:
    return current_app.extensions["safecode.refusals"]


def _json_error(status: int, reason: str, message: str) -> Response:
    response = jsonify(error=reason, message=message)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Every error is JSON; refusals are counted by reason; storage faults are 503."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        refusals().count(exc.reason, exc.message)
        response = _json_error(exc.status, exc.reason, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="safecode"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        reason = (exc.name or "error").lower().replace(" ", "_")
        if 400 <= status < 500:
            refusals().count(reason, str(exc.description))
        return _json_error(status, reason, str(exc.description))

    @app.errorhandler(peewee.DatabaseError)
    def _database_error(exc: peewee.DatabaseError) -> Response:
        log.error("database error while serving a request: %s", exc)
        return _json_error(503, "database_unavailable", "the ledger database is unavailable")
