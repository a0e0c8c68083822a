"""``safecode kiosk``: run a kiosk, make its device key, check it, show its status."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from protocol import keys

from .config import ConfigError, load_config
from .decode_cli import decode_command
from .identity import ensure_device_key

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="/etc/safecode/kiosk.toml",
    show_default=True,
    help="Kiosk configuration file.",
)


def _load(config_path: Path):  # noqa: ANN202
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("kiosk")
def kiosk_group() -> None:
    """Door kiosk firmware: scan codes, record check-ins, deliver them."""


@kiosk_group.command("keygen")
@config_option
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Make the key at this path instead of the config's state_dir (provisioning uses "
    "it before the config exists).",
)
def keygen(config_path: Path, key_file: Path | None) -> None:
    """Make this kiosk's device key (once; never overwritten, mode 0600) and print its did:key."""
    path = key_file if key_file is not None else _load(config_path).device_key_path
    try:
        key, created = ensure_device_key(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot make or read the device key {path}: {exc}") from exc
    click.echo(keys.did_key(key))
    click.echo(f"{'created' if created else 'kept existing'} {path}", err=True)


@kiosk_group.command("run")
@config_option
@click.option("--mock-pins", is_flag=True, help="Drive gpiozero mock pins (no Pi needed).")
@click.option("--summary-json", is_flag=True, help="Print the counters as JSON on exit.")
@click.option(
    "--drain-seconds", default=5.0, show_default=True, help="On stop, wait this long for receipts."
)
def run(config_path: Path, mock_pins: bool, summary_json: bool, drain_seconds: float) -> None:
    """Scan until SIGTERM or Ctrl-C, then wait briefly for outstanding receipts."""
    from .decoders import default_decoder
    from .firmware import Kiosk
    from .instance_lock import AlreadyRunning, InstanceLock
    from .lights import Feedback, load_pins, mock_pin_factory
    from .link_paho import MqttLink
    from .outbox import Outbox, OutboxOpenError
    from .sources import frame_source

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = _load(config_path)
    if not config.device_key_path.exists():
        raise click.ClickException(
            f"no device key at {config.device_key_path}: run 'safecode kiosk keygen' first"
        )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        # Held until this process exits: one firmware per outbox, camera and broker session.
        instance = InstanceLock(config.state_dir).acquire()
    except AlreadyRunning as exc:
        raise click.ClickException(f"{exc}; not scanning") from exc
    try:
        outbox = Outbox(config.outbox_path)
    except OutboxOpenError as exc:  # no fresh outbox either: no check-in could be kept
        raise click.ClickException(f"{exc}; not scanning") from exc
    pins = load_pins(config.pins_file)
    feedback = Feedback(pins, mock_pin_factory() if mock_pins else None)
    with frame_source(config.camera) as source, feedback:
        kiosk = Kiosk(
            config,
            device_key=keys.load_private(config.device_key_path),
            source=source,
            decoder=default_decoder(),
            feedback=feedback,
            link=MqttLink(config.kiosk_id, config.mqtt),
            outbox=outbox,
            on_event=lambda line: click.echo(line),
        )
        counters = kiosk.run(stop, drain_seconds=drain_seconds)
    stats = outbox.stats()
    outbox.close()
    instance.release()
    if summary_json:
        summary = {
            "kiosk": config.kiosk_id,
            **{k: v for k, v in vars(counters).items()},
            "pending": stats.pending,
            "rejected_total": stats.rejected,
        }
        click.echo(json.dumps(summary, sort_keys=True))
    sys.stdout.flush()


@kiosk_group.command("selftest")
@config_option
@click.option("--mock-pins", is_flag=True, help="Drive gpiozero mock pins (no Pi needed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    help="Seconds to wait for a camera frame and for the broker.",
)
@click.option(
    "--lamp-seconds",
    default=0.4,
    show_default=True,
    help="How long each light and the buzzer stay on.",
)
def selftest(
    config_path: Path, mock_pins: bool, as_json: bool, timeout: float, lamp_seconds: float
) -> None:
    """Blink each light, sound the buzzer, grab a frame, reach the broker, check the outbox,
    disk, device key and clock; print PASS/WARN/FAIL per check; exit 0 only if none failed.

    Stop the kiosk service first: the camera and the GPIO pins serve one process.
    """
    import warnings

    from gpiozero.exc import PinFactoryFallback

    from . import selftest as st
    from .lights import mock_pin_factory

    config = _load(config_path)
    warnings.simplefilter("ignore", PinFactoryFallback)  # the lights row says what failed
    options = st.SelftestOptions(
        pin_factory=mock_pin_factory() if mock_pins else None,
        frame_timeout=timeout,
        broker_timeout=timeout,
        lamp_step_s=lamp_seconds,
    )
    results = st.run_selftest(config, options)
    if as_json:
        click.echo(st.report(config.kiosk_id, results).to_json())
    else:
        click.echo(st.format_table(results))
    sys.stdout.flush()
    if not st.passed(results):
        sys.exit(1)


@kiosk_group.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(config_path: Path, as_json: bool) -> None:
    """Queue depth, oldest unsent age, receipts, refusals, disk, clock and firmware version.

    Reads the outbox read-only: safe while the kiosk runs, never creates the database.
    """
    from .outbox_reader import OutboxReadError
    from .status_report import format_status, gather_status

    config = _load(config_path)
    try:
        figures = gather_status(config)
    except OutboxReadError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
    else:
        click.echo(format_status(figures))


kiosk_group.add_command(decode_command)
