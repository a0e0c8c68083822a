"""The read API: a Flask application factory with one blueprint per area.

Settings (``create_app`` mapping, ``SAFECODE_*`` environment variables, or the
``[web]`` table of the aggregator config via ``create_app_from_config``):
``DATABASE_URL``, ``WITNESSES`` (witness verifier keys whose cosignatures are
collected), ``OFFLINE_AFTER_S`` (heartbeat age after which a kiosk counts as offline),
``KIOSK_TRUST`` (the public keys and broker address enrolment hands to kiosks; read from
the ``.pub`` files beside the keys the aggregator config names, never the keys).
Kiosks' broker accounts (``app.extensions["safecode.broker_accounts"]``) come from the
config's ``[broker_admin]`` table, or ``NoBrokerAccounts`` without one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flask import Flask

from protocol.cosignature import CosignatureVerifier
from protocol.errors import NoteError
from protocol.note import MAX_NOTE_SIZE
from support.config_file import ConfigError, read_toml

from .api.bodies import BoundedJSONProvider
from .api.desk import desk_api
from .api.errors import RefusalCounter, refusals, register_error_handlers
from .api.health import health_api
from .api.kiosks import kiosks_api
from .api.ledger import ledger_api
from .api.operator import operator_api
from .api.paths import register_canonical_paths
from .broker_accounts import BrokerAccounts, NoBrokerAccounts
from .broker_admin import broker_accounts
from .config import load_config
from .desk.settings import desk_settings_or_none
from .kiosk_trust import trust_or_none
from .proofs import TreeCache
from .web_database import LedgerDatabase

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///safecode-aggregator.sqlite",
    "WITNESSES": [],
    "OFFLINE_AFTER_S": 180,
    # Requests carry at most a cosigned checkpoint or a small JSON object.
    "MAX_CONTENT_LENGTH": 64 * 1024,
}


def _witnesses(value: object) -> list[CosignatureVerifier]:
    if not isinstance(value, list | tuple):
        raise ConfigError("web.witnesses must be a list of witness verifier keys")
    try:
        return [CosignatureVerifier.from_string(v) for v in value]
    except NoteError as exc:
        raise ConfigError(f"web.witnesses: {exc}") from exc


def create_app(
    test_config: dict[str, Any] | None = None, *, accounts: BrokerAccounts | None = None
) -> Flask:
    """Build the web app; ``DATABASE_URL`` in the config names the ledger database.

    The app's requests use that database only (``aggregator.web_database``): building
    another app, or opening a database for the process, does not rebind this one.

    ``accounts`` creates and removes kiosks' broker accounts (none by default).
    """
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)  # every JSON body: bounded size and nesting
    app.url_map.merge_slashes = False  # "//" is a 404, not a redirect
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SAFECODE")
    if test_config:
        app.config.from_mapping(test_config)
    offline = app.config["OFFLINE_AFTER_S"]
    if (
        isinstance(offline, bool)
        or not isinstance(offline, int | float)
        or not (math.isfinite(offline) and offline > 0)
    ):
        raise ConfigError("web.offline_after_s must be a positive number of seconds")
    assert app.config["MAX_CONTENT_LENGTH"] >= MAX_NOTE_SIZE // 16
    app.extensions["safecode.witnesses"] = _witnesses(app.config["WITNESSES"])
    app.extensions["safecode.leaves"] = TreeCache()
    app.extensions["safecode.refusals"] = RefusalCounter()
    app.extensions["safecode.broker_accounts"] = (
        accounts if accounts is not None else NoBrokerAccounts()
    )
    LedgerDatabase(app)  # first: its teardown (unbinding the database) runs last

    @app.teardown_request
    def _flush_refusals(exc: BaseException | None) -> None:
        refusals().flush()

    register_error_handlers(app)
    register_canonical_paths(app)
    app.register_blueprint(desk_api)  # printed cards (aggregator/desk)
    for blueprint in (ledger_api, kiosks_api, operator_api, health_api):
        app.register_blueprint(blueprint)
    return app


def create_app_from_config(path: Path) -> Flask:
    """The app for an aggregator config file: its database and its ``[web]`` table."""
    config = load_config(path)
    web = read_toml(path).get("web", {})
    if not isinstance(web, dict):
        raise ConfigError("config [web] must be a table")
    unknown = sorted(set(web) - {"witnesses", "offline_after_s"})
    if unknown:
        raise ConfigError(f"config [web] has unknown key {unknown[0]!r}")
    settings: dict[str, Any] = {"DATABASE_URL": config.database_url}
    settings["KIOSK_TRUST"] = trust_or_none(config)  # what enrolment hands to kiosks
    settings["DESK"] = desk_settings_or_none(config, path)  # printed cards (aggregator/desk)
    if "witnesses" in web:
        settings["WITNESSES"] = web["witnesses"]
    if "offline_after_s" in web:
        settings["OFFLINE_AFTER_S"] = web["offline_after_s"]
    return create_app(settings, accounts=broker_accounts(config.broker_admin, config.mqtt))
