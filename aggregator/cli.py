"""``safecode aggregator``: run all of it on one machine, or one role per process.

- ``run``: ingest, sequencer and read API in one process (one box); with ``--issuer``
  it issues and traces cases too, with ``--tracing`` it traces;
- ``ingest``: ingest workers only (start several with ``shared_group`` set);
- ``sequence``: the one sequencer: seals blocks and sends receipts;
- ``web``: the read API under gunicorn; ``token``: operator tokens;
- ``desk token``: desk staff tokens (printed cards);
- ``user``: staff logins for the pages (aggregator/accounts);
- ``retention``: destroy day keys past the retention period;
- ``broker-init``: lay out a Mosquitto broker with per-kiosk accounts.
- ``broker-region``: lay out a regional broker bridged to the central one.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from types import FrameType
from typing import Any

import click

from .cli_options import CONFIG_OPTION
from .config import AggregatorConfig, ConfigError, load_config

_log_json_option = click.option(
    "--log-json", is_flag=True, help="Log one JSON object per line (for log collectors)."
)
_summary_option = click.option(
    "--summary-json", is_flag=True, help="Print the counters as JSON on exit."
)
_client_id_option = click.option(
    "--client-id", default=None, help="MQTT client id (overrides aggregator.client_id)."
)


@click.group("aggregator")
def aggregator_group() -> None:
    """Central aggregator: verify check-ins, seal the ledger, send receipts."""


def _load(config_path: Path, log_json: bool) -> AggregatorConfig:
    from .logs import setup_logging

    setup_logging(json_lines=log_json)
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _stop_event() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def _serve(
    config: AggregatorConfig,
    roles: Collection[str],
    *,
    client_id: str | None,
    summary_json: bool,
    extra: Callable[[], Callable[[], None] | None] = lambda: None,
) -> None:
    """Run one process of ``roles`` until stopped; seal what is verified before exiting."""
    from .bus_paho import MqttBus
    from .service import INGEST, AggregatorService

    stop = _stop_event()
    try:
        bus = MqttBus(
            config.mqtt,
            client_id or config.client_id,
            shared_group=config.shared_group,
            ingest=INGEST in roles,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    service = AggregatorService(config, bus, on_event=click.echo, roles=roles)
    service.start()
    shutdown = extra()
    if not service.bus.wait_connected(10):
        click.echo("aggregator: broker not reachable yet; retrying in the background", err=True)
    else:
        click.echo(
            f"aggregator ({'+'.join(sorted(roles))}): listening on "
            f"{config.mqtt.host}:{config.mqtt.port}"
        )
    stop.wait()
    if shutdown is not None:
        shutdown()
    service.stop()
    if summary_json:
        click.echo(json.dumps(dict(service.counts()), sort_keys=True))


@aggregator_group.command("run")
@CONFIG_OPTION
@_log_json_option
@_summary_option
@click.option(
    "--issuer",
    is_flag=True,
    help="Its read API also issues (wallet API and desk; opens the issuer key and pepper) "
    "and traces cases (implies --tracing).",
)
@click.option(
    "--tracing",
    is_flag=True,
    help="Its read API also serves the case API /v1/cases (opens the data master key and "
    "the [issuer] table's pepper).",
)
def run(config_path: Path, log_json: bool, summary_json: bool, issuer: bool, tracing: bool) -> None:
    """Ingest, sequencer and read API in one process, until SIGTERM or Ctrl-C."""
    config = _load(config_path, log_json)

    def web() -> Callable[[], None] | None:
        if not config.http_port:
            return None
        from werkzeug.serving import make_server

        from .web import create_app_from_config

        app = create_app_from_config(config_path, issuer=issuer, tracing=issuer or tracing)
        http: Any = make_server("127.0.0.1", config.http_port, app, threaded=True)
        threading.Thread(target=http.serve_forever, name="http", daemon=True).start()
        click.echo(f"aggregator: read API on http://127.0.0.1:{config.http_port}/v1/checkpoint")
        return http.shutdown

    _serve(config, {"ingest", "sequence"}, client_id=None, summary_json=summary_json, extra=web)


@aggregator_group.command("ingest")
@CONFIG_OPTION
@_client_id_option
@_log_json_option
@_summary_option
def ingest(config_path: Path, client_id: str | None, log_json: bool, summary_json: bool) -> None:
    """Ingest workers only: verify and store check-ins (no sequencer).

    Several ingest processes share check-ins when aggregator.shared_group is set;
    give each its own --client-id.
    """
    _serve_one_role("ingest", "ingest", config_path, client_id, log_json, summary_json)


@aggregator_group.command("sequence")
@CONFIG_OPTION
@_client_id_option
@_log_json_option
@_summary_option
def sequence(config_path: Path, client_id: str | None, log_json: bool, summary_json: bool) -> None:
    """The sequencer only: seal verified check-ins into blocks and send receipts."""
    _serve_one_role("sequence", "sequencer", config_path, client_id, log_json, summary_json)


def _serve_one_role(
    role: str,
    suffix: str,
    config_path: Path,
    client_id: str | None,
    log_json: bool,
    summary_json: bool,
) -> None:
    """Serve one ``role``; the MQTT client id defaults to the config's, ``-suffix`` added."""
    config = _load(config_path, log_json)
    _serve(
        config,
        {role},
        client_id=client_id or f"{config.client_id}-{suffix}",
        summary_json=summary_json,
    )


@aggregator_group.command("retention")
@CONFIG_OPTION
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=None,
    help=(
        "Retention in days (default: aggregator.retention_days, 28); more than "
        "aggregator.max_outbox_age_days."
    ),
)
def retention(config_path: Path, days: int | None) -> None:
    """Destroy the day keys of visits older than the retention period; print what went.

    The issuer's records that only a trace of those visits could need go too: day
    credentials (their sealed owners), batches and printed cards past the period;
    exposure notices published more than 28 days ago too, the exposure handles of
    cases opened before the period, and the sealed openings of cases opened, or whose
    period began, before it.

    Their records become unreadable for good; the ledger still verifies. Safe to run
    often (a systemd timer, say): a second run finds nothing to do.
    """
    import time

    from .cases.service import forget_case_handles, forget_case_openings
    from .config import retention_below_outbox_age
    from .db import open_database
    from .desk.cards import forget_cards
    from .fleet_history import prune_samples
    from .issuer.retention import forget_issued
    from .issuer.settings import DEFAULT_TIME_ZONE, time_zone
    from .notices import forget_notices
    from .retention import destroy_expired_keys

    config = _load(config_path, False)
    keep = days or config.retention_days
    if keep <= config.max_outbox_age_days:
        raise click.UsageError(retention_below_outbox_age(keep, config.max_outbox_age_days))
    zone = time_zone((config.issuer or {}).get("time_zone", DEFAULT_TIME_ZONE))
    now = time.time()
    db = open_database(config.database_url)
    try:
        report = destroy_expired_keys(now, keep)
        issued = forget_issued(now, keep, zone)
        cards = forget_cards(now, keep)
        samples = prune_samples(int(now * 1000))  # the fleet chart's history (counts only)
        notices = forget_notices(now)  # always 28 days: notices are about recent visits
        handles = forget_case_handles(now, keep)
        openings = forget_case_openings(now, keep)
    finally:
        db.close()
    click.echo(
        json.dumps(
            {
                "retention_days": keep,
                "days_destroyed": list(report.days),
                "records_erased": report.records_erased,
                "credentials_forgotten": issued.credentials,
                "batches_forgotten": issued.batches,
                "cards_forgotten": cards,
                "fleet_samples_pruned": samples,
                "notices_forgotten": notices,
                "case_handles_forgotten": handles,
                "case_openings_forgotten": openings,
            },
            sort_keys=True,
        )
    )


def _register_web() -> None:
    from .accounts.cli import user_group
    from .broker_cli import broker_init_command, broker_region_command
    from .desk.cli import desk_group
    from .revoke_cli import revoke_command
    from .web_cli import token_group, web_command

    aggregator_group.add_command(revoke_command)
    aggregator_group.add_command(broker_init_command)
    aggregator_group.add_command(broker_region_command)  # regional brokers, bridged
    aggregator_group.add_command(web_command)
    aggregator_group.add_command(token_group)
    aggregator_group.add_command(desk_group)
    aggregator_group.add_command(user_group)  # staff logins (aggregator/accounts)


_register_web()
