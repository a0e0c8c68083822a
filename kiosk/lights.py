"""Lights and sound through gpiozero: one pattern per answer.

Pins come from hardware/pins.toml. On a laptop or in tests pass gpiozero's
``MockFactory`` as the pin factory and the same code runs on mock pins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from gpiozero import LED, Buzzer

DEFAULT_PINS = Path(__file__).resolve().parent.parent / "hardware" / "pins.toml"


@dataclass(frozen=True)
class PinMap:
    """BCM pin numbers of the kiosk's LEDs and buzzer."""

    green: int
    red: int
    amber: int
    buzzer: int


def load_pins(path: Path | None = None) -> PinMap:
    """Read the pin map (hardware/pins.toml unless another file is given)."""
    data = tomllib.loads(Path(path or DEFAULT_PINS).read_text(encoding="utf-8"))
    leds = data["leds"]
    return PinMap(leds["green"], leds["red"], leds["amber"], data["buzzer"]["pin"])


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
