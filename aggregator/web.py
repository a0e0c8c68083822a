"""The read API: a Flask application factory with one blueprint per area.

Settings (``create_app`` mapping, ``SAFECODE_*`` environment variables, or the
``[web]`` table of the aggregator config via ``create_app_from_config``):
``DATABASE_URL``, ``WITNESSES`` (witness verifier keys whose cosignatures are
collected), ``OFFLINE_AFTER_S`` (heartbeat age after which a kiosk counts as offline),
``KIOSK_TRUST`` (the public keys and broker address enrolment hands to kiosks; read from
the ``.pub`` files beside the keys the aggregator config names, never the keys).
Kiosks' broker accounts (``app.extensions["safecode.broker_accounts"]``) come from the
config's ``[broker_admin]`` table, or ``NoBrokerAccounts`` without one.
``TIME_ZONE`` (the site's calendar for the staff pages' hours and days: the
``[issuer]`` table's ``time_zone``, default Asia/Seoul).
``ISSUER`` (``IssuerSettings``, from the config's ``[issuer]`` table) and ``ISSUER_KEY``
(the issuer's Ed25519 private key, ``issuer_key``) make the app issue wallet credentials
(``/v1/wallet``, ``app.extensions["safecode.issuer"]``); ``WINDOW_S`` and ``SKEW_S`` are
the kiosks' code window and clock skew, told to wallets. ``TRACING``
(``aggregator.cases.context.TracingContext``: the vault, the issuer pepper and public
key, the ``[trace]`` settings) makes the app serve the case API (``/v1/cases``); without
it those routes answer 503. ``/v1/staff/login`` gives tools a bearer token.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from protocol import keys
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
from .api.notices import notices_api
from .api.operator import operator_api
from .api.paths import register_canonical_paths
from .api.wallet import flush_wallet_counts, wallet_api
from .api.wallet import install as install_wallet
from .broker_accounts import BrokerAccounts, NoBrokerAccounts
from .broker_admin import broker_accounts
from .case_pages import case_pages
from .cases.api import cases_api
from .cases.context import EXTENSION as TRACING_EXTENSION
from .cases.context import TracingContext, context_from_config
from .cases.login_api import staff_api
from .config import load_config
from .explorer_app import explorer_app
from .issuer.service import WalletIssuer
from .issuer.settings import IssuerSettings, parse_issuer_table
from .kiosk_trust import trust_or_none
from .pages import PAGE_KEYS, install_pages, page_settings
from .proofs import TreeCache
from .wallet_app import wallet_app
from .web_database import LedgerDatabase

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///safecode-aggregator.sqlite",
    "WITNESSES": [],
    "OFFLINE_AFTER_S": 180,
    # Requests carry at most a cosigned checkpoint or a small JSON object.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "ISSUER": None,
    "ISSUER_KEY": None,
    "WINDOW_S": 30,
    "SKEW_S": 5,
    "TRACING": None,
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
    _install_issuer(app)
    _install_tracing(app)
    LedgerDatabase(app)  # first: its teardown (unbinding the database) runs last

    @app.teardown_request
    def _flush_refusals(exc: BaseException | None) -> None:
        refusals().flush()
        flush_wallet_counts(app)

    register_error_handlers(app)
    register_canonical_paths(app)
    app.register_blueprint(desk_api)  # printed cards (aggregator/desk)
    for blueprint in (ledger_api, kiosks_api, operator_api, health_api, wallet_api):
        app.register_blueprint(blueprint)
    app.register_blueprint(cases_api)  # case tracing (officials; 503 without TRACING)
    app.register_blueprint(staff_api)  # bearer tokens for tools (safecode trace)
    app.register_blueprint(notices_api)  # public exposure notices (aggregator/notices)
    app.register_blueprint(wallet_app)  # the visitor's wallet web app at /wallet
    app.register_blueprint(explorer_app)  # the public ledger explorer at /ledger
    install_pages(app)  # staff logins and pages at /staff; CSRF on every form off /v1/
    app.register_blueprint(case_pages)  # the official's case pages at /staff/cases
    return app


def _install_issuer(app: Flask) -> None:
    """The wallet issuer, when ``ISSUER`` and ``ISSUER_KEY`` are set."""
    settings, key = app.config["ISSUER"], app.config["ISSUER_KEY"]
    if settings is None:
        return
    if not isinstance(settings, IssuerSettings):
        raise ConfigError("ISSUER must be IssuerSettings (the config's [issuer] table)")
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("ISSUER_KEY must be the issuer's Ed25519 private key")
    for name in ("WINDOW_S", "SKEW_S"):
        value = app.config[name]
        if type(value) is not int or not 0 <= value <= 3600:
            raise ConfigError(f"{name} must be an integer from 0 to 3600")
    install_wallet(app.extensions, WalletIssuer(settings, key))


def _install_tracing(app: Flask) -> None:
    """The case API's keys and settings, when ``TRACING`` is set."""
    tracing = app.config["TRACING"]
    if tracing is None:
        return
    if not isinstance(tracing, TracingContext):
        raise ConfigError("TRACING must be a TracingContext (aggregator.cases.context)")
    app.extensions[TRACING_EXTENSION] = tracing


def create_app_from_config(path: Path, *, issuer: bool = False, tracing: bool = False) -> Flask:
    """The app for an aggregator config file: its database and its ``[web]`` table.

    ``issuer``: this process is the issuer (``safecode aggregator web --issuer``, or the
    all-in-one ``aggregator run``): with an ``[issuer]`` table it opens the issuer key and
    the pepper and serves ``/v1/wallet`` and ``/v1/desk``. The read API (the default)
    opens neither, so its unit can keep ``keys/issuer`` out of reach.

    ``tracing``: this process serves the case API (``safecode aggregator web --tracing``,
    and ``aggregator run``): it opens the data master key, the issuer pepper and the
    issuer's public key, and reads the ``[trace]`` table (aggregator/cases/context.py).
    """
    config = load_config(path)
    web = read_toml(path).get("web", {})
    if not isinstance(web, dict):
        raise ConfigError("config [web] must be a table")
    unknown = sorted(set(web) - {"witnesses", "offline_after_s"} - PAGE_KEYS)
    if unknown:
        raise ConfigError(f"config [web] has unknown key {unknown[0]!r}")
    settings: dict[str, Any] = {"DATABASE_URL": config.database_url}
    settings.update(page_settings(web, path.parent, config.ledger_key_path))  # staff pages
    settings["KIOSK_TRUST"] = trust_or_none(config)  # what enrolment hands to kiosks
    if "witnesses" in web:
        settings["WITNESSES"] = web["witnesses"]
    if issuer and config.issuer is not None:  # this process issues: it opens the issuer key
        settings["ISSUER"] = parse_issuer_table(config.issuer, base=path.parent)
        try:
            settings["ISSUER_KEY"] = keys.load_private(config.issuer_key_path)
        except (OSError, ValueError) as exc:  # missing, unreadable, or not a key
            key_path = config.issuer_key_path
            raise ConfigError(f"cannot open the issuer key {key_path}: {exc}") from exc
        settings["WINDOW_S"] = config.window_s
        settings["SKEW_S"] = config.skew_s
    if tracing:  # this process traces: it opens the data master key and the pepper
        settings["TRACING"] = context_from_config(config, path)
    if "offline_after_s" in web:
        settings["OFFLINE_AFTER_S"] = web["offline_after_s"]
    if config.issuer is not None and "time_zone" in config.issuer:  # the site's calendar
        settings["TIME_ZONE"] = config.issuer["time_zone"]
    settings["REGIONS"] = config.regions  # regional brokers to enrol kiosks on
    return create_app(settings, accounts=broker_accounts(config.broker_admin, config.mqtt))
