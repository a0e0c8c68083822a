"""``safecode aggregator web`` (the read API under gunicorn) and ``aggregator token``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli_options import CONFIG_OPTION
from .config import ConfigError
from .token_cli import token_commands

# Threads per worker: each connection being read or served holds one (web_worker.py).
THREADS = 32
# Connections a worker takes at most: its threads, and some kept alive (which hold no
# thread). A worker whose threads are all taken stops accepting, so another one answers.
WORKER_CONNECTIONS = 48
# Seconds an idle kept-alive connection stays open (it holds no thread meanwhile).
KEEPALIVE_S = 2


def gunicorn_argv(
    config_path: Path,
    bind: str,
    workers: int,
    timeout: int = 30,
    *,
    issuer: bool = False,
    tracing: bool = False,
) -> list[str]:
    """The gunicorn command line serving ``aggregator.wsgi:app``.

    No access log: request paths carry check-in ids (inclusion proofs), which are
    nobody's business but the asker's. Refusals are counted and logged by the app.
    Threaded workers with deadlines for request heads and bodies (``aggregator.web_worker``), so
    slow clients cannot stall the API the way they stall sync workers.
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        "aggregator.web_worker.HeadDeadlineWorker",
        "--threads",
        str(THREADS),
        "--worker-connections",
        str(WORKER_CONNECTIONS),
        "--keep-alive",
        str(KEEPALIVE_S),
        "--timeout",
        str(timeout),
        "--env",
        f"SAFECODE_CONFIG={Path(config_path).resolve()}",
        "--env",
        f"SAFECODE_WEB_ROLE={'issuer' if issuer else 'tracing' if tracing else 'read'}",
        "aggregator.wsgi:app",
    ]


@click.command("web")
@CONFIG_OPTION
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to serve.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--issuer",
    is_flag=True,
    help="Be the issuer: open the issuer key and the [issuer] table's pepper and serve "
    "the wallet API (/v1/wallet) and the desk (/v1/desk). Run it as its own unit.",
)
@click.option(
    "--tracing",
    is_flag=True,
    help="Serve the case API (/v1/cases) for health officials: open the data master key "
    "and the [issuer] table's pepper. Run it as its own unit (not with --issuer).",
)
def web_command(config_path: Path, bind: str, workers: int, issuer: bool, tracing: bool) -> None:
    """Serve the read API (or, with --issuer, the issuer) with gunicorn (replaces this process)."""
    from .web import create_app_from_config

    if issuer and tracing:
        raise click.ClickException("--issuer and --tracing are separate processes: pick one")
    try:  # refuse a bad config before forking workers
        app = create_app_from_config(config_path, issuer=issuer, tracing=tracing)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if issuer and "safecode.wallet" not in app.extensions:
        raise click.ClickException("--issuer needs an [issuer] table in the config")
    argv = gunicorn_argv(config_path, bind, workers, issuer=issuer, tracing=tracing)
    os.execv(argv[0], argv)


token_group = token_commands(
    "aggregator.operators:OPERATOR_TOKENS",
    help_text="Operator tokens for the enrol and retire endpoints.",
)
