"""Click options and their checks, shared by ``provision enrol``, ``batch``, ``retire``
and ``rekey``.

SSH modules (asyncssh) load only when a command runs, not when the CLI is built.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .enrol_options import EnrolOptions
from .errors import StepFailed
from .layout import DeviceLayout
from .operator_client import check_aggregator_url
from .software import build_wheel, default_constraints, default_dropins, default_pins, default_units

if TYPE_CHECKING:
    from .remote import SshTarget

TOKEN_ENV = "SAFECODE_OPERATOR_TOKEN"
PASSWORD_ENV = "SAFECODE_SSH_PASSWORD"

#: An existing file given on the command line.
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
Checked = TypeVar("Checked")


def _all_of(options: Sequence[Decorator]) -> Decorator:
    """One decorator applying ``options`` so that ``--help`` lists them in this order."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# -- checks ---------------------------------------------------------------------------------


def _checked(check: Callable[[str], Checked], value: str, hint: str) -> Checked:
    """``check(value)``, its ValueError reported as a bad value of the option ``hint``."""
    try:
        return check(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from exc


def aggregator_url(value: str) -> str:
    """``--aggregator``, checked (https, or http to this machine only)."""
    return _checked(check_aggregator_url, value, "--aggregator")


def service_user(value: str) -> str:
    """``--service-user``: a user name, or '' (leave users alone)."""
    if value and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise click.BadParameter("not a user name", param_hint="--service-user")
    return value


def device_layout(prefix: str) -> DeviceLayout:
    """The device's paths under ``--prefix``."""
    return _checked(DeviceLayout, prefix, "--prefix")


def host_key_fingerprint(value: str | None) -> str | None:
    """``--accept-host-key``, checked; None when not given."""
    from .hostkeys import check_fingerprint

    if value is None:
        return None
    return _checked(check_fingerprint, value, "--accept-host-key")


def operator_token(token_file: Path | None) -> str:
    """The operator token from ``--token-file``, else from $SAFECODE_OPERATOR_TOKEN."""
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise click.UsageError(f"no operator token: set ${TOKEN_ENV} or pass --token-file")
    return token


def ssh_target(
    host: str,
    port: int,
    user: str,
    identity: Path | None,
    known_hosts: Path | None,
    accept: str | None,
) -> SshTarget:
    """Where and how to reach a device; the password, if any, from $SAFECODE_SSH_PASSWORD."""
    from .hostkeys import default_known_hosts
    from .remote import SshTarget

    return SshTarget(
        host=host,
        port=port,
        user=user,
        identity=identity,
        password=os.environ.get(PASSWORD_ENV) or None,
        known_hosts=known_hosts or default_known_hosts(),
        accept_host_key=host_key_fingerprint(accept),
    )


def kiosk_wheel(wheel: Path | None, workdir: Path) -> Path:
    """``--wheel``, or a wheel built from this checkout into ``workdir``."""
    if wheel is not None:
        return wheel
    click.echo("building the kiosk software wheel from this checkout ...", err=True)
    try:
        return build_wheel(workdir)
    except StepFailed as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def enrol_options_with_wheel(kw: dict[str, Any]) -> Iterator[EnrolOptions]:
    """EnrolOptions from the shared click options, with ``--wheel`` or a wheel built from
    this checkout into a temporary folder that lasts as long as the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="safecode-wheel-") as workdir:
        yield enrol_options_from(kw, kiosk_wheel(kw["wheel"], Path(workdir)))


# -- option groups --------------------------------------------------------------------------

#: Where the aggregator and the devices are, and how to reach them (every SSH command).
connection_options = _all_of(
    [
        click.option(
            "--aggregator",
            "aggregator_url",
            envvar="SAFECODE_AGGREGATOR_URL",
            required=True,
            callback=lambda ctx, param, value: aggregator_url(value),
            help="The aggregator's API, e.g. https://agg.example ($SAFECODE_AGGREGATOR_URL); "
            "http:// only to this machine (127.0.0.1, ::1, localhost). Redirects are refused.",
        ),
        click.option("--token-file", type=FILE, help=f"Operator token file (else ${TOKEN_ENV})."),
        click.option("--user", default="root", show_default=True, help="SSH user."),
        click.option("--identity", type=FILE, help="SSH private key (else the SSH agent)."),
        click.option(
            "--known-hosts",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="The tool's own known-hosts file [default: ~/.config/safecode/known_hosts].",
        ),
        click.option(
            "--prefix",
            default="/",
            show_default=True,
            help="Device root for every path (tests and staging images).",
        ),
        click.option(
            "--systemctl",
            default="systemctl",
            show_default=True,
            help="Command run on the device for systemctl (a stand-in where there is "
            "no systemd, e.g. in tests); {prefix} becomes the device's --prefix.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON results."),
    ]
)

#: What is installed on the device, and as whom.
_SOFTWARE_OPTIONS: list[Decorator] = [
    click.option(
        "--wheel", type=FILE, help="Kiosk software wheel [default: built from this checkout]."
    ),
    click.option(
        "--wheelhouse",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Install offline from these wheels (pip --no-index).",
    ),
    click.option(
        "--constraints",
        type=FILE,
        help="pip constraints [default: this checkout's constraints.txt].",
    ),
    click.option(
        "--dev-site-packages",
        help="Tests and bench devices only: the device's venv sees this folder "
        "(a .pth file) instead of installing the dependencies.",
    ),
    click.option(
        "--device-python",
        default="python3",
        show_default=True,
        help="Python on the device that makes the venv.",
    ),
    click.option(
        "--unit",
        "units",
        multiple=True,
        type=FILE,
        help="systemd unit to install [default: systemd/safecode-kiosk.service].",
    ),
    click.option("--pins", type=FILE, help="Pin map to install [default: hardware/pins.toml]."),
    click.option(
        "--service-user",
        default="safecode",
        show_default=True,
        help="System user the kiosk unit runs as (made if missing, in the video and "
        "gpio groups); it owns the state folder and key. '' to leave users alone.",
    ),
    click.option(
        "--min-free-mb",
        type=click.IntRange(0, 10**9),
        default=400,
        show_default=True,
        help="Refuse a device with less free disk.",
    ),
]

#: How the kiosk is configured and checked.
_KIOSK_OPTIONS: list[Decorator] = [
    click.option(
        "--camera",
        type=click.Choice(["picamera2", "v4l2", "replay", "simulated"]),
        default="picamera2",
        show_default=True,
    ),
    click.option("--camera-path", help="Images or video for --camera replay."),
    click.option(
        "--door", type=click.Choice(["entrance", "exit"]), default="entrance", show_default=True
    ),
    click.option("--mqtt-host", help="Broker host as kiosks reach it [default: the aggregator's]."),
    click.option("--mqtt-port", type=click.IntRange(1, 65535)),
    click.option("--mqtt-ca", type=FILE, help="Broker CA certificate to install."),
    click.option(
        "--region",
        help="Home the kiosk on this regional broker (one of the aggregator's [regions]).",
    ),
    click.option(
        "--mock-pins", is_flag=True, help="Selftest with gpiozero mock pins (no lights wired)."
    ),
    click.option(
        "--heartbeat-timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True
    ),
    click.option(
        "--renew-credentials", is_flag=True, help="Ask the aggregator for a new broker password."
    ),
]

#: Everything an enrolment is asked to do (``enrol`` and ``batch``).
enrol_options = _all_of(_SOFTWARE_OPTIONS + _KIOSK_OPTIONS)


def enrol_options_from(kw: dict[str, Any], wheel: Path) -> EnrolOptions:
    """EnrolOptions from the shared click options (venue and kiosk id per device)."""
    device_layout(kw["prefix"])
    if kw["camera"] == "replay" and not kw["camera_path"]:
        raise click.BadParameter("--camera replay needs --camera-path", param_hint="--camera")
    service_user(kw["service_user"])
    camera: dict[str, Any] = {"kind": kw["camera"], "path": kw["camera_path"]}
    constraints = kw["constraints"] if kw["constraints"] else default_constraints()
    return EnrolOptions(
        venue=kw.get("venue") or "",
        kiosk_id=kw.get("kiosk_id"),
        wheel=wheel,
        door=kw["door"],
        prefix=kw["prefix"],
        constraints=None if kw["dev_site_packages"] else constraints,
        wheelhouse=kw["wheelhouse"],
        dev_site_packages=kw["dev_site_packages"],
        device_python=kw["device_python"],
        units=tuple(kw["units"]) or tuple(default_units()),
        dropins=() if kw["units"] else tuple(default_dropins()),
        pins=kw["pins"] or default_pins(),
        service_user=kw["service_user"],
        systemctl=kw["systemctl"],
        min_free_mb=kw["min_free_mb"],
        camera=camera,
        mqtt_host=kw["mqtt_host"],
        mqtt_port=kw["mqtt_port"],
        mqtt_ca=kw["mqtt_ca"],
        region=kw.get("region"),
        mock_pins=kw["mock_pins"],
        heartbeat_timeout=kw["heartbeat_timeout"],
        renew_credentials=kw["renew_credentials"],
    )
