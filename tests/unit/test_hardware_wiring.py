"""hardware/wiring.svg agrees with hardware/pins.toml and with the Raspberry Pi header.

The diagram is hand-written: each part's wires are a ``<g>`` with ``data-part``,
``data-bcm`` and ``data-pin``; each header pin is ``<g id="hdr-N">`` with its label.
These tests read the pin map through the firmware's own loader and check that every
GPIO it names is drawn on the right BCM number and physical pin, that the wire starts at
that pin, and that all 40 header labels match the Raspberry Pi pinout below.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kiosk.lights_pins import load_pins

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
SVG = HARDWARE / "wiring.svg"
NS = {"svg": "http://www.w3.org/2000/svg"}

#: The 40-pin header of the Raspberry Pi (B+ and later: Zero, 3, 4, 5): physical pin -> use.
HEADER = {
    1: "3V3", 2: "5V", 3: "GPIO2", 4: "5V", 5: "GPIO3", 6: "GND", 7: "GPIO4", 8: "GPIO14",
    9: "GND", 10: "GPIO15", 11: "GPIO17", 12: "GPIO18", 13: "GPIO27", 14: "GND",
    15: "GPIO22", 16: "GPIO23", 17: "3V3", 18: "GPIO24", 19: "GPIO10", 20: "GND",
    21: "GPIO9", 22: "GPIO25", 23: "GPIO11", 24: "GPIO8", 25: "GND", 26: "GPIO7",
    27: "GPIO0", 28: "GPIO1", 29: "GPIO5", 30: "GND", 31: "GPIO6", 32: "GPIO12",
    33: "GPIO13", 34: "GND", 35: "GPIO19", 36: "GPIO16", 37: "GPIO26", 38: "GPIO20",
    39: "GND", 40: "GPIO21",
}  # fmt: skip
PHYSICAL = {int(use[4:]): pin for pin, use in HEADER.items() if use.startswith("GPIO")}
"""BCM GPIO number -> physical header pin."""


@pytest.fixture(scope="module")
def svg() -> ET.Element:
    return ET.parse(SVG).getroot()


def group(root: ET.Element, **attributes: str) -> ET.Element:
    """The one <g> with these attributes (data_part= stands for data-part=)."""
    wanted = {k.replace("_", "-"): v for k, v in attributes.items()}
    found = [
        g for g in root.iter(f"{{{NS['svg']}}}g") if all(g.get(k) == v for k, v in wanted.items())
    ]
    assert len(found) == 1, f"{len(found)} <g> elements with {wanted}"
    return found[0]


def texts(element: ET.Element) -> list[str]:
    return ["".join(t.itertext()).strip() for t in element.iter(f"{{{NS['svg']}}}text")]


def header_pin_centre(root: ET.Element, pin: int) -> tuple[float, float]:
    circle = group(root, id=f"hdr-{pin}").find("svg:circle", NS)
    assert circle is not None
    return float(circle.get("cx", "nan")), float(circle.get("cy", "nan"))


def first_point(element: ET.Element) -> tuple[float, float]:
    """Where the first wire of a part starts (its first polyline's first point)."""
    line = element.find("svg:polyline", NS)
    assert line is not None
    x, y = re.split(r"[ ,]+", line.get("points", "").strip())[:2]
    return float(x), float(y)


def test_the_pinout_table_is_a_permutation_of_the_header() -> None:
    assert sorted(PHYSICAL) == list(range(28))
    assert len(set(PHYSICAL.values())) == 28


def test_every_header_pin_is_drawn_with_its_label(svg: ET.Element) -> None:
    for pin, use in HEADER.items():
        drawn = texts(group(svg, id=f"hdr-{pin}"))
        assert drawn == [str(pin), use], f"header pin {pin}"


@pytest.mark.parametrize("part", ["green", "red", "amber", "buzzer"])
def test_each_gpio_of_the_pin_map_is_drawn_on_its_pin(svg: ET.Element, part: str) -> None:
    bcm = load_pins(HARDWARE / "pins.toml").named()[part]
    physical = PHYSICAL[bcm]
    drawn = group(svg, data_part=part)
    assert drawn.get("data-bcm") == str(bcm)
    assert drawn.get("data-pin") == str(physical)
    assert any(f"GPIO{bcm} (pin {physical})" in t for t in texts(drawn)), texts(drawn)
    assert f"GPIO{bcm}" in texts(group(svg, id=f"hdr-{physical}"))
    x, y = first_point(drawn)
    cx, cy = header_pin_centre(svg, physical)
    assert abs(y - cy) < 1 and abs(x - cx) <= 10, "the wire does not start at the pin"


def test_the_pin_map_names_no_part_the_diagram_lacks(svg: ET.Element) -> None:
    drawn = {g.get("data-part") for g in svg.iter(f"{{{NS['svg']}}}g") if g.get("data-bcm")}
    assert drawn == set(load_pins(HARDWARE / "pins.toml").named())


@pytest.mark.parametrize(
    ("part", "use"), [("led-ground", "GND"), ("buzzer-ground", "GND"), ("5v", "5V")]
)
def test_supply_wires_go_to_supply_pins(svg: ET.Element, part: str, use: str) -> None:
    drawn = group(svg, data_part=part)
    pin = int(drawn.get("data-pin", "0"))
    assert HEADER[pin] == use
    assert any(f"pin {pin}" in t for t in texts(drawn))
    x, y = first_point(drawn)
    cx, cy = header_pin_centre(svg, pin)
    assert abs(y - cy) < 1 and abs(x - cx) <= 10


def test_hardware_docs_are_linked_from_the_readme() -> None:
    readme = (HARDWARE / "README.md").read_text(encoding="utf-8")
    for name in ("wiring.svg", "PARTS.md", "MOUNTING.md", "OS_IMAGE.md"):
        assert (HARDWARE / name).is_file(), name
        assert f"]({name})" in readme, f"README.md does not link {name}"
