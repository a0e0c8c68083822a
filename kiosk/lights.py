"""Lights and sound through gpiozero: one pattern per answer.

The pin map is a small TOML file (see :func:`find_pins_file` for where it is looked
for; hardware/pins.toml in this repository is the reference wiring). On a laptop or in
tests pass gpiozero's ``MockFactory`` as the pin factory and the same code runs on mock
pins.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from gpiozero import LED, Buzzer

PINS_ENV = "SAFECODE_PINS"
"""Environment variable naming the pin map file."""
SYSTEM_PINS = Path("/etc/safecode/pins.toml")
"""The pin map of an installed kiosk."""
DEFAULT_PINS = Path(__file__).resolve().parent.parent / "hardware" / "pins.toml"
"""The repository's pin map: present in a development checkout, not in an installed package."""

MAX_BCM_GPIO = 27
"""The Raspberry Pi's header GPIOs are BCM 0..27."""


class PinMapError(ValueError):
    """The pin map cannot be found, read or is invalid."""


@dataclass(frozen=True)
class PinMap:
    """BCM pin numbers of the kiosk's LEDs and buzzer."""

    green: int
    red: int
    amber: int
    buzzer: int


def find_pins_file(path: Path | str | None = None) -> Path:
    """The pin map file to use, or PinMapError naming every place looked at.

    A ``path`` given here (the kiosk config's ``pins_file``) or in ``$SAFECODE_PINS`` is
    an explicit choice and the only place looked at: when it is missing that is an
    error, not a reason to drive other pins. Otherwise the first of
    /etc/safecode/pins.toml and the repository's hardware/pins.toml (development
    checkouts) that exists.
    """
    if path is not None:
        candidates = [(Path(path), "given")]
    elif os.environ.get(PINS_ENV):
        candidates = [(Path(os.environ[PINS_ENV]), f"from ${PINS_ENV}")]
    else:
        candidates = [(SYSTEM_PINS, "system"), (DEFAULT_PINS, "development checkout")]
    for candidate, _ in candidates:
        if candidate.is_file():
            return candidate
    looked = "; ".join(f"{candidate} ({why})" for candidate, why in candidates)
    hint = (
        ""
        if path is not None or os.environ.get(PINS_ENV)
        else f": install one at {SYSTEM_PINS} (see hardware/pins.toml), set ${PINS_ENV}, "
        "or set pins_file in the kiosk config"
    )
    raise PinMapError(f"no pin map file found; looked at {looked}{hint}")


def _pin(data: dict[str, Any], table: str, key: str, path: Path) -> int:
    section = data.get(table)
    if not isinstance(section, dict):
        raise PinMapError(f"{path}: missing table [{table}]")
    if key not in section:
        raise PinMapError(f"{path}: missing {table}.{key}")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PinMapError(f"{path}: {table}.{key} must be a BCM GPIO number, got {value!r}")
    if not 0 <= value <= MAX_BCM_GPIO:
        raise PinMapError(
            f"{path}: {table}.{key} = {value} is not a BCM GPIO number (0..{MAX_BCM_GPIO})"
        )
    return value


def load_pins(path: Path | str | None = None) -> PinMap:
    """Read and check the pin map (see :func:`find_pins_file` for where it comes from)."""
    found = find_pins_file(path)
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PinMapError(f"{found}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise PinMapError(f"{found}: cannot read the pin map: {exc}") from exc
    pins = PinMap(
        green=_pin(data, "leds", "green", found),
        red=_pin(data, "leds", "red", found),
        amber=_pin(data, "leds", "amber", found),
        buzzer=_pin(data, "buzzer", "pin", found),
    )
    numbers = [pins.green, pins.red, pins.amber, pins.buzzer]
    if len(set(numbers)) != len(numbers):
        raise PinMapError(
            f"{found}: pins must be four different GPIOs, got green={pins.green} "
            f"red={pins.red} amber={pins.amber} buzzer={pins.buzzer}"
        )
    return pins


def mock_pin_factory() -> Any:
    """gpiozero's MockFactory, for laptops, the demo and tests."""
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


class Feedback:
    """Green, red and amber LEDs and a buzzer, with one pattern per answer."""

    ACCEPT_S = 1.0
    REFUSE_S = 1.5
    BEEP_S = 0.08

    def __init__(self, pins: PinMap, pin_factory: Any = None) -> None:
        self.green = LED(pins.green, pin_factory=pin_factory)
        self.red = LED(pins.red, pin_factory=pin_factory)
        self.amber = LED(pins.amber, pin_factory=pin_factory)
        self.buzzer = Buzzer(pins.buzzer, pin_factory=pin_factory)

    def _quiet(self) -> None:
        for device in (self.green, self.red, self.buzzer):
            device.off()

    def accepted(self) -> None:
        """Green for a second and one short beep."""
        self._quiet()
        self.green.blink(on_time=self.ACCEPT_S, off_time=0.0, n=1)
        self.buzzer.beep(on_time=self.BEEP_S, off_time=0.0, n=1)

    def already_checked_in(self) -> None:
        """Two quick green flashes and one short beep: welcome back, nothing recorded."""
        self._quiet()
        self.green.blink(on_time=0.2, off_time=0.2, n=2)
        self.buzzer.beep(on_time=self.BEEP_S, off_time=0.0, n=1)

    def refused(self) -> None:
        """Red for a second and a half and three short beeps."""
        self._quiet()
        self.red.blink(on_time=self.REFUSE_S, off_time=0.0, n=1)
        self.buzzer.beep(on_time=self.BEEP_S, off_time=self.BEEP_S, n=3)

    def starting(self) -> None:
        """Amber steady while the kiosk starts."""
        self.amber.on()

    def ready(self) -> None:
        """Amber off: scanning."""
        self.amber.off()

    def close(self) -> None:
        """Release the pins."""
        for device in (self.green, self.red, self.amber, self.buzzer):
            device.close()

    def __enter__(self) -> Feedback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def set_conditions(
        self,
        *,
        offline_backlog: bool = False,
        clock_unsynced: bool = False,
        fault: bool = False,
        disk_low: bool = False,
    ) -> None:
        """Standing conditions (idempotent, called every loop turn).

        Minimal stand-in that only stores the flags; the lights helper owns the real one.
        """
        self.conditions = {
            "offline_backlog": offline_backlog,
            "clock_unsynced": clock_unsynced,
            "fault": fault,
            "disk_low": disk_low,
        }
