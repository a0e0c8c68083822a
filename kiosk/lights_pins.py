"""The kiosk's pin map: which BCM GPIO drives each LED and the buzzer, and what buzzer it is.

The pin map is a small TOML file (see :func:`find_pins_file` for where it is looked
for; hardware/pins.toml in this repository is the reference wiring)::

    [leds]
    green = 17
    red = 27
    amber = 22

    [buzzer]
    pin = 18
    kind = "active"   # or "tonal": a passive piezo played by PWM (gpiozero TonalBuzzer)

Other tables (notes, wiring) are allowed; unknown keys inside [leds] and [buzzer]
are refused, so a typo cannot silently leave a light unwired.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PINS_ENV = "SAFECODE_PINS"
"""Environment variable naming the pin map file."""
SYSTEM_PINS = Path("/etc/safecode/pins.toml")
"""The pin map of an installed kiosk."""
DEFAULT_PINS = Path(__file__).resolve().parent.parent / "hardware" / "pins.toml"
"""The repository's pin map: present in a development checkout, not in an installed package."""

MAX_BCM_GPIO = 27
"""The Raspberry Pi's header GPIOs are BCM 0..27."""
BUZZER_KINDS = ("active", "tonal")
"""``active``: a buzzer with its own oscillator, switched on and off (gpiozero Buzzer).
``tonal``: a passive piezo or speaker driven by PWM at a chosen pitch (gpiozero TonalBuzzer)."""
HARDWARE_PWM_GPIOS = frozenset({12, 13, 18, 19})
"""GPIOs with a hardware PWM channel; a tonal buzzer sounds cleanest on one of them."""

_LED_KEYS = ("green", "red", "amber")
_BUZZER_KEYS = ("pin", "kind")


class PinMapError(ValueError):
    """The pin map cannot be found, read or is invalid."""


@dataclass(frozen=True)
class PinMap:
    """BCM pin numbers of the kiosk's LEDs and buzzer, and the buzzer's kind."""

    green: int
    red: int
    amber: int
    buzzer: int
    buzzer_kind: str = "active"

    def named(self) -> dict[str, int]:
        """Each output's name and its GPIO, in wiring order."""
        return {"green": self.green, "red": self.red, "amber": self.amber, "buzzer": self.buzzer}


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


def _table(data: dict[str, Any], table: str, allowed: tuple[str, ...], where: str) -> dict:
    section = data.get(table)
    if not isinstance(section, dict):
        raise PinMapError(f"{where}: missing table [{table}]")
    unknown = sorted(str(k) for k in section if k not in allowed)
    if unknown:
        raise PinMapError(
            f"{where}: unknown key {', '.join(f'{table}.{k}' for k in unknown)} "
            f"(allowed: {', '.join(allowed)})"
        )
    return section


def _pin(section: dict[str, Any], table: str, key: str, where: str) -> int:
    if key not in section:
        raise PinMapError(f"{where}: missing {table}.{key}")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PinMapError(f"{where}: {table}.{key} must be a BCM GPIO number, got {value!r}")
    if not 0 <= value <= MAX_BCM_GPIO:
        raise PinMapError(
            f"{where}: {table}.{key} = {value} is not a BCM GPIO number (0..{MAX_BCM_GPIO})"
        )
    return value


def parse_pins(data: dict[str, Any], where: str = "pin map") -> PinMap:
    """Check parsed TOML and build the PinMap; PinMapError (prefixed ``where``) names the fault."""
    if not isinstance(data, dict):
        raise PinMapError(f"{where}: expected a TOML document, got {type(data).__name__}")
    leds = _table(data, "leds", _LED_KEYS, where)
    buzzer = _table(data, "buzzer", _BUZZER_KEYS, where)
    kind = buzzer.get("kind", "active")
    if kind not in BUZZER_KINDS:
        raise PinMapError(
            f"{where}: buzzer.kind must be one of {', '.join(map(repr, BUZZER_KINDS))}, "
            f"got {kind!r}"
        )
    pins = PinMap(
        green=_pin(leds, "leds", "green", where),
        red=_pin(leds, "leds", "red", where),
        amber=_pin(leds, "leds", "amber", where),
        buzzer=_pin(buzzer, "buzzer", "pin", where),
        buzzer_kind=kind,
    )
    labels = {"green": "leds.green", "red": "leds.red", "amber": "leds.amber"}
    labels["buzzer"] = "buzzer.pin"
    users: dict[int, list[str]] = {}
    for name, number in pins.named().items():
        users.setdefault(number, []).append(labels[name])
    clashes = [f"GPIO {n} is {' and '.join(names)}" for n, names in users.items() if len(names) > 1]
    if clashes:
        raise PinMapError(
            f"{where}: the three LEDs and the buzzer need four different GPIOs; "
            + "; ".join(clashes)
        )
    return pins


def parse_pins_text(text: str, where: str = "pin map") -> PinMap:
    """Parse a pin map from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PinMapError(f"{where}: not valid TOML: {exc}") from exc
    return parse_pins(data, where)


def load_pins(path: Path | str | None = None) -> PinMap:
    """Read and check the pin map (see :func:`find_pins_file` for where it comes from)."""
    found = find_pins_file(path)
    try:
        text = found.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PinMapError(f"{found}: not valid TOML: not UTF-8 ({exc})") from exc
    except OSError as exc:
        raise PinMapError(f"{found}: cannot read the pin map: {exc}") from exc
    return parse_pins_text(text, str(found))
