"""Where things go on a device, under a root prefix ("/" on a real kiosk), and its config.

Tests give each simulated device its own prefix; paths inside unit files are rewritten
to the prefix, so the unit stays the one production uses with its folders moved.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

import tomli_w

from protocol.kiosk_toml import KioskToml

VENV = "/opt/safecode/venv"
CONFIG = "/etc/safecode/kiosk.toml"
BROKER_CA = "/etc/safecode/broker-ca.pem"
PINS = "/etc/safecode/pins.toml"
STATE = "/var/lib/safecode"
UNITS = "/etc/systemd/system"
KIOSK_UNIT = "safecode-kiosk.service"
WHEEL_STAMP = ".safecode-wheel"
PREFIX = re.compile(r"/[A-Za-z0-9._/-]*")
REWRITTEN = ("/opt/safecode/", "/etc/safecode/", "/var/lib/safecode")


@dataclass(frozen=True)
class DeviceLayout:
    """Absolute device paths under ``prefix``."""

    prefix: str = "/"

    def __post_init__(self) -> None:
        # Goes into shell lines, shlex-split commands and systemd units: no quotes, no '%'.
        if not PREFIX.fullmatch(self.prefix) or ".." in self.prefix.split("/"):
            raise ValueError(
                f"prefix {self.prefix[:60]!r} must be an absolute path of letters, digits and "
                "'._/-' only, without '..'"
            )

    def path(self, absolute: str) -> str:
        return posixpath.normpath(posixpath.join(self.prefix, absolute.lstrip("/")))

    @property
    def venv(self) -> str:
        return self.path(VENV)

    @property
    def safecode(self) -> str:
        return self.path(VENV + "/bin/safecode")

    @property
    def config(self) -> str:
        return self.path(CONFIG)

    @property
    def broker_ca(self) -> str:
        return self.path(BROKER_CA)

    @property
    def pins(self) -> str:
        return self.path(PINS)

    @property
    def state(self) -> str:
        return self.path(STATE)

    @property
    def device_key(self) -> str:
        return self.path(STATE + "/device.key")

    @property
    def outbox(self) -> str:
        return self.path(STATE + "/outbox.sqlite")

    def unit(self, name: str) -> str:
        return self.path(f"{UNITS}/{name}")

    def rewrite_unit(self, text: str) -> str:
        """A unit file with the kiosk's folders moved under the prefix."""
        if self.prefix == "/":
            return text
        for folder in REWRITTEN:
            text = text.replace(folder, self.path(folder) + ("/" if folder.endswith("/") else ""))
        return text


@dataclass(frozen=True)
class KioskSettings:
    """What goes into a kiosk's config file."""

    kiosk_id: str
    venue: str
    door: str
    issuer_keys: tuple[str, ...]
    ledger_key: str
    mqtt: dict[str, Any]
    camera: dict[str, Any]


def render_config(layout: DeviceLayout, settings: KioskSettings) -> bytes:
    """The kiosk.toml bytes; the same settings always give the same bytes."""
    document = KioskToml(
        kiosk_id=settings.kiosk_id,
        venue=settings.venue,
        door=settings.door,
        state_dir=layout.state,
        pins_file=layout.pins,
        issuer_keys=tuple(settings.issuer_keys),
        ledger_key=settings.ledger_key,
        mqtt=settings.mqtt,
        camera=settings.camera,
    )
    header = "# Written by 'safecode provision enrol'; re-run it rather than editing.\n"
    return (header + tomli_w.dumps(document.to_dict())).encode()


def systemctl_argv(command: str, prefix: str) -> list[str]:
    """The --systemctl command as argv, with ``{prefix}`` replaced by the device prefix."""
    return shlex.split(command.replace("{prefix}", prefix))
