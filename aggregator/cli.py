"""``safecode aggregator``: run the ingest, sequencer and read API on one machine."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from .config import ConfigError, load_config


@click.group("aggregator")
def aggregator_group() -> None:
    """Central aggregator: verify check-ins, seal the ledger, send receipts."""


@aggregator_group.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="/etc/safecode/aggregator.toml",
    show_default=True,
    help="Aggregator configuration file.",
)
@click.option("--summary-json", is_flag=True, help="Print the counters as JSON on exit.")
def run(config_path: Path, summary_json: bool) -> None:
    """Run until SIGTERM or Ctrl-C; seal everything verified before exiting."""
    from werkzeug.serving import make_server

    from .bus import MqttBus
    from .service import AggregatorService
    from .web import create_app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service = AggregatorService(config, MqttBus(config.mqtt), on_event=click.echo)
    service.start()
    http = None
    if config.http_port:
        app = create_app({"DATABASE_URL": config.database_url})
        http = make_server("127.0.0.1", config.http_port, app, threaded=True)
        threading.Thread(target=http.serve_forever, name="http", daemon=True).start()
        click.echo(f"aggregator: read API on http://127.0.0.1:{config.http_port}/v1/checkpoint")
    if not service.bus.wait_connected(10):
        click.echo("aggregator: broker not reachable yet; retrying in the background", err=True)
    else:
        click.echo(f"aggregator: listening on {config.mqtt.host}:{config.mqtt.port}")
    stop.wait()
    if http is not None:
        http.shutdown()
    service.stop()
    if summary_json:
        click.echo(json.dumps(dict(service.ingestor.counts), sort_keys=True))
