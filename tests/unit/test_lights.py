"""Lights and buzzer (kiosk.lights) on gpiozero's MockFactory.

Patterns run in gpiozero's background threads, so the tests poll for each state with
generous timeouts: the machine running them is shared and may be slow.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from kiosk import lights
from kiosk.lights import DEFAULT_PINS, PINS_ENV, Feedback, PinMap, load_pins, mock_pin_factory

PINS = PinMap(green=17, red=27, amber=22, buzzer=18)
SLACK = 1.0  # how much later than planned a background thread may act on a busy machine


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def on_durations(states) -> list[float]:
    """How long the pin stayed high each time, from a MockPin's state history."""
    durations = []
    for earlier, later in zip(states, states[1:], strict=False):
        if earlier.state and not later.state:
            durations.append(later.timestamp)
    return durations


def rising_edges(states) -> int:
    return sum(1 for a, b in zip(states, states[1:], strict=False) if b.state and not a.state)


@pytest.fixture(autouse=True)
def _restore_default_factory() -> Iterator[None]:
    saved = Device.pin_factory
    yield
    Device.pin_factory = saved


@pytest.fixture(autouse=True)
def _repository_pin_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_pins() reads the repository's file, whatever this machine has in /etc or env."""
    monkeypatch.delenv(PINS_ENV, raising=False)
    monkeypatch.setattr(lights, "SYSTEM_PINS", tmp_path / "no-system-pins.toml")


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    pin_factory = mock_pin_factory()
    assert isinstance(pin_factory, MockFactory)
    yield pin_factory
    pin_factory.reset()
    pin_factory.close()


@pytest.fixture
def feedback(factory: MockFactory) -> Iterator[Feedback]:
    with Feedback(load_pins(), pin_factory=factory) as fb:
        yield fb


def pin_state(factory: MockFactory, number: int) -> bool:
    return bool(factory.pin(number).state)


# -- the pin map --------------------------------------------------------------------------


def test_default_pin_map_matches_the_hardware_file() -> None:
    assert Path(__file__).resolve().parents[2] / "hardware" / "pins.toml" == DEFAULT_PINS
    data = tomllib.loads(DEFAULT_PINS.read_text(encoding="utf-8"))
    assert load_pins() == PinMap(
        green=data["leds"]["green"],
        red=data["leds"]["red"],
        amber=data["leds"]["amber"],
        buzzer=data["buzzer"]["pin"],
    )
    assert load_pins() == PINS


def test_load_pins_reads_another_file(tmp_path: Path) -> None:
    path = tmp_path / "pins.toml"
    path.write_text("[leds]\ngreen = 5\nred = 6\namber = 13\n\n[buzzer]\npin = 19\n")
    assert load_pins(path) == PinMap(green=5, red=6, amber=13, buzzer=19)


def test_devices_sit_on_the_mapped_pins(feedback: Feedback, factory: MockFactory) -> None:
    assert feedback.green.pin is factory.pin(PINS.green)
    assert feedback.red.pin is factory.pin(PINS.red)
    assert feedback.amber.pin is factory.pin(PINS.amber)
    assert feedback.buzzer.pin is factory.pin(PINS.buzzer)
    for number in (PINS.green, PINS.red, PINS.amber, PINS.buzzer):
        assert factory.pin(number).function == "output"
        assert pin_state(factory, number) is False


# -- patterns -----------------------------------------------------------------------------


def test_accepted_is_green_for_a_second_and_one_beep(
    feedback: Feedback, factory: MockFactory
) -> None:
    for number in (PINS.green, PINS.buzzer):
        factory.pin(number).clear_states()
    start = time.monotonic()
    feedback.accepted()
    assert wait_for(lambda: pin_state(factory, PINS.green), SLACK)
    assert wait_for(lambda: feedback.buzzer.is_active, SLACK)
    assert not feedback.red.is_lit
    assert wait_for(lambda: not feedback.buzzer.is_active, Feedback.BEEP_S + SLACK)
    if time.monotonic() - start < Feedback.ACCEPT_S - 0.2:
        assert feedback.green.is_lit  # the beep is over, the light is not
    assert wait_for(lambda: not feedback.green.is_lit, Feedback.ACCEPT_S + SLACK)
    assert time.monotonic() - start >= Feedback.ACCEPT_S - 0.02
    time.sleep(0.05)
    assert not feedback.green.is_lit and not feedback.buzzer.is_active

    green = on_durations(factory.pin(PINS.green).states)
    beep = on_durations(factory.pin(PINS.buzzer).states)
    assert len(green) == 1 and Feedback.ACCEPT_S - 0.02 <= green[0] <= Feedback.ACCEPT_S + SLACK
    assert len(beep) == 1 and Feedback.BEEP_S - 0.02 <= beep[0] <= Feedback.BEEP_S + SLACK
    assert rising_edges(factory.pin(PINS.red).states) == 0


def test_refused_is_red_and_three_beeps(feedback: Feedback, factory: MockFactory) -> None:
    for number in (PINS.red, PINS.green, PINS.buzzer):
        factory.pin(number).clear_states()
    start = time.monotonic()
    feedback.refused()
    assert wait_for(lambda: pin_state(factory, PINS.red), SLACK)
    assert not feedback.green.is_lit
    beeps_end = 6 * Feedback.BEEP_S
    assert wait_for(
        lambda: (
            rising_edges(factory.pin(PINS.buzzer).states) == 3 and not feedback.buzzer.is_active
        ),
        beeps_end + SLACK,
    )
    if time.monotonic() - start < Feedback.REFUSE_S - 0.2:
        assert feedback.red.is_lit
    assert wait_for(lambda: not feedback.red.is_lit, Feedback.REFUSE_S + SLACK)
    assert time.monotonic() - start >= Feedback.REFUSE_S - 0.02
    time.sleep(0.05)
    red = on_durations(factory.pin(PINS.red).states)
    beeps = on_durations(factory.pin(PINS.buzzer).states)
    assert len(red) == 1 and Feedback.REFUSE_S - 0.02 <= red[0] <= Feedback.REFUSE_S + SLACK
    assert len(beeps) == 3
    assert all(Feedback.BEEP_S - 0.02 <= b <= Feedback.BEEP_S + SLACK for b in beeps)
    assert rising_edges(factory.pin(PINS.green).states) == 0


def test_already_checked_in_is_two_green_flashes_and_one_beep(
    feedback: Feedback, factory: MockFactory
) -> None:
    for number in (PINS.green, PINS.red, PINS.buzzer):
        factory.pin(number).clear_states()
    feedback.already_checked_in()
    assert wait_for(lambda: feedback.green.is_lit, SLACK)
    assert wait_for(lambda: feedback.buzzer.is_active, SLACK)
    assert not feedback.red.is_lit
    done = wait_for(
        lambda: rising_edges(factory.pin(PINS.green).states) == 2 and not feedback.green.is_lit,
        4 * 0.2 + SLACK,
    )
    assert done
    time.sleep(0.05)
    flashes = on_durations(factory.pin(PINS.green).states)
    assert len(flashes) == 2
    assert all(0.18 <= f <= 0.2 + SLACK for f in flashes)
    assert rising_edges(factory.pin(PINS.buzzer).states) == 1
    assert not feedback.buzzer.is_active
    assert rising_edges(factory.pin(PINS.red).states) == 0


def test_starting_and_ready_drive_amber(feedback: Feedback, factory: MockFactory) -> None:
    feedback.starting()
    assert feedback.amber.is_lit and pin_state(factory, PINS.amber)
    assert not feedback.green.is_lit and not feedback.red.is_lit
    feedback.ready()
    assert not feedback.amber.is_lit and not pin_state(factory, PINS.amber)


def test_amber_stays_on_through_answers_while_starting(feedback: Feedback) -> None:
    feedback.starting()
    feedback.refused()
    assert feedback.amber.is_lit
    feedback.ready()


def test_refused_right_after_accepted_turns_green_off(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.accepted()
    assert wait_for(lambda: feedback.green.is_lit, SLACK)
    feedback.refused()
    assert not feedback.green.is_lit  # at once, not at the end of the accepted pattern
    assert not pin_state(factory, PINS.green)
    assert wait_for(lambda: feedback.red.is_lit, SLACK)
    factory.pin(PINS.green).clear_states()
    time.sleep(0.3)
    assert not feedback.green.is_lit
    assert rising_edges(factory.pin(PINS.green).states) == 0  # the old blink is stopped


def test_accepted_right_after_refused_turns_red_off(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.refused()
    assert wait_for(lambda: feedback.red.is_lit, SLACK)
    feedback.accepted()
    assert not feedback.red.is_lit
    assert wait_for(lambda: feedback.green.is_lit, SLACK)
    factory.pin(PINS.red).clear_states()
    time.sleep(0.3)
    assert rising_edges(factory.pin(PINS.red).states) == 0


def test_close_releases_the_pins(factory: MockFactory) -> None:
    fb = Feedback(PINS, pin_factory=factory)
    fb.starting()
    fb.close()
    assert fb.amber.closed and fb.green.closed and fb.red.closed and fb.buzzer.closed
    again = Feedback(PINS, pin_factory=factory)  # the pins are free again
    again.close()


def test_factories_are_independent() -> None:
    one, two = mock_pin_factory(), mock_pin_factory()
    assert one is not two
    with Feedback(PINS, pin_factory=one) as fb:
        fb.starting()
        assert one.pin(PINS.amber).state
        assert not two.pin(PINS.amber).state
    one.close()
    two.close()
