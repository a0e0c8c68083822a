"""Lights and buzzer (kiosk.lights) on gpiozero's MockFactory: pin states and timings.

Patterns run in gpiozero's background threads. Each MockPin records its changes with
the seconds since the previous one (``pin.states``); :func:`assert_timeline` checks them
like gpiozero's own ``assert_states_and_times``, but with a tight lower bound (a
pattern never ends early) and a generous upper one (the machine running the tests is
shared, and a thread may wake late).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.exc import PinPWMUnsupported
from gpiozero.pins.mock import MockFactory, MockPWMPin
from gpiozero.tones import Tone

from kiosk import lights_pins, patterns
from kiosk.lights import (
    DEFAULT_PINS,
    PINS_ENV,
    Feedback,
    PinMap,
    load_pins,
    mock_pin_factory,
)

PINS = PinMap(green=17, red=27, amber=22, buzzer=18)
TONAL = PinMap(green=17, red=27, amber=22, buzzer=18, buzzer_kind="tonal")
SLACK = 1.0  # how long to wait beyond plan for a background thread on a busy machine
EARLY = 0.02  # a pattern step may be this much shorter than planned (timer granularity)
LATE = 0.4  # and this much longer (a late thread on a shared machine: 8 agents, 2 cores)
START_LATE = 0.6  # the first change also waits for a thread to start


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def changes(pin) -> list[tuple[float, float]]:
    """(seconds since the previous change, new state) for each change since clear_states."""
    return [(s.timestamp, float(s.state)) for s in pin.states[1:]]


def rising_edges(pin) -> int:
    states = [float(s.state) for s in pin.states]
    return sum(1 for a, b in zip(states, states[1:], strict=False) if b > 0 and a == 0)


def assert_timeline(pin, expected: list[tuple[float, float]]) -> None:
    """The pin's first changes are ``expected`` (seconds after the previous one, state)."""
    actual = changes(pin)
    assert len(actual) >= len(expected), f"{pin}: {actual} shorter than {expected}"
    for i, ((seconds, state), (want_s, want_state)) in enumerate(
        zip(actual, expected, strict=False)
    ):
        assert state == want_state, f"{pin} change {i}: {actual}"
        late = START_LATE if i == 0 else LATE
        assert want_s - EARLY <= seconds <= want_s + late, f"{pin} change {i}: {actual}"


@pytest.fixture(autouse=True)
def _restore_default_factory() -> Iterator[None]:
    saved = Device.pin_factory
    yield
    Device.pin_factory = saved


@pytest.fixture(autouse=True)
def _repository_pin_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_pins() reads the repository's file, whatever this machine has in /etc or env."""
    monkeypatch.delenv(PINS_ENV, raising=False)
    monkeypatch.setattr(lights_pins, "SYSTEM_PINS", tmp_path / "no-system-pins.toml")


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


def pin(factory: MockFactory, number: int):
    return factory.pin(number)


def pin_state(factory: MockFactory, number: int) -> bool:
    return bool(factory.pin(number).state)


def clear(factory: MockFactory, *numbers: int) -> None:
    for number in numbers or (PINS.green, PINS.red, PINS.amber, PINS.buzzer):
        factory.pin(number).clear_states()


# -- the pin map and devices --------------------------------------------------------------


def test_default_pin_map_is_the_hardware_file() -> None:
    assert Path(__file__).resolve().parents[2] / "hardware" / "pins.toml" == DEFAULT_PINS
    assert load_pins() == PINS


def test_devices_sit_on_the_mapped_pins(feedback: Feedback, factory: MockFactory) -> None:
    assert feedback.green.pin is factory.pin(PINS.green)
    assert feedback.red.pin is factory.pin(PINS.red)
    assert feedback.amber.pin is factory.pin(PINS.amber)
    assert feedback.buzzer.pin is factory.pin(PINS.buzzer)
    for number in (PINS.green, PINS.red, PINS.amber, PINS.buzzer):
        assert factory.pin(number).function == "output"
        assert pin_state(factory, number) is False
    assert feedback.condition == "ready" and feedback.showing == "ready"


def test_a_tonal_buzzer_needs_pwm_and_a_failure_frees_the_leds() -> None:
    plain = MockFactory()  # pins without PWM
    with pytest.raises(PinPWMUnsupported):
        Feedback(TONAL, pin_factory=plain)
    with Feedback(PINS, pin_factory=plain) as fb:  # the LEDs were released
        fb.starting()
        assert plain.pin(PINS.amber).state
    plain.reset()
    plain.close()


# -- verdicts -----------------------------------------------------------------------------


def test_verdicts_return_at_once(feedback: Feedback) -> None:
    for verdict in (feedback.accepted, feedback.refused, feedback.already_checked_in):
        start = time.monotonic()
        verdict()
        assert time.monotonic() - start < 0.1
        assert wait_for(lambda: feedback.showing != "ready", SLACK)


def test_accepted_is_green_for_a_second_and_one_beep(
    feedback: Feedback, factory: MockFactory
) -> None:
    clear(factory)
    feedback.accepted()
    assert feedback.showing == "accepted" and feedback.condition == "ready"
    assert wait_for(lambda: feedback.showing == "ready", Feedback.ACCEPT_S + SLACK)
    time.sleep(0.05)
    assert_timeline(pin(factory, PINS.green), [(0.0, 1.0), (Feedback.ACCEPT_S, 0.0)])
    assert_timeline(pin(factory, PINS.buzzer), [(0.0, 1.0), (Feedback.BEEP_S, 0.0)])
    assert len(changes(pin(factory, PINS.green))) == 2
    assert len(changes(pin(factory, PINS.buzzer))) == 2
    assert changes(pin(factory, PINS.red)) == [] and changes(pin(factory, PINS.amber)) == []


def test_refused_is_red_and_three_beeps(feedback: Feedback, factory: MockFactory) -> None:
    clear(factory)
    feedback.refused()
    assert wait_for(lambda: feedback.showing == "ready", Feedback.REFUSE_S + SLACK)
    time.sleep(0.05)
    beep = Feedback.BEEP_S
    assert_timeline(pin(factory, PINS.red), [(0.0, 1.0), (Feedback.REFUSE_S, 0.0)])
    assert_timeline(
        pin(factory, PINS.buzzer),
        [(0.0, 1.0), (beep, 0.0), (beep, 1.0), (beep, 0.0), (beep, 1.0), (beep, 0.0)],
    )
    assert len(changes(pin(factory, PINS.buzzer))) == 6
    assert changes(pin(factory, PINS.green)) == []


def test_already_checked_in_is_two_green_flashes_and_one_beep(
    feedback: Feedback, factory: MockFactory
) -> None:
    clear(factory)
    feedback.already_checked_in()
    assert wait_for(lambda: rising_edges(pin(factory, PINS.green)) == 2, 1.0 + SLACK)
    assert wait_for(lambda: not feedback.green.is_lit, SLACK)
    time.sleep(0.3)
    assert_timeline(pin(factory, PINS.green), [(0.0, 1.0), (0.2, 0.0), (0.2, 1.0), (0.2, 0.0)])
    assert len(changes(pin(factory, PINS.green))) == 4
    assert rising_edges(pin(factory, PINS.buzzer)) == 1
    assert changes(pin(factory, PINS.red)) == []


def test_refused_right_after_accepted_turns_green_off(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.accepted()
    assert wait_for(lambda: feedback.green.is_lit, SLACK)
    feedback.refused()
    assert not feedback.green.is_lit  # at once, not at the end of the accepted pattern
    assert wait_for(lambda: feedback.red.is_lit, SLACK)
    clear(factory, PINS.green)
    time.sleep(Feedback.ACCEPT_S)  # past where the accepted pattern's timer would have fired
    assert feedback.showing == "refused" and feedback.red.is_lit
    assert rising_edges(pin(factory, PINS.green)) == 0  # the old blink is stopped


def test_accepted_right_after_refused_turns_red_off(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.refused()
    assert wait_for(lambda: feedback.red.is_lit, SLACK)
    feedback.accepted()
    assert not feedback.red.is_lit
    assert wait_for(lambda: feedback.green.is_lit, SLACK)
    clear(factory, PINS.red)
    time.sleep(0.3)
    assert rising_edges(pin(factory, PINS.red)) == 0


# -- standing conditions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "name", "led", "on_s", "off_s"),
    [
        ({"fault": True}, "fault", PINS.red, 0.2, 0.2),
        ({"disk_low": True}, "disk_low", PINS.amber, 0.2, 0.2),
        ({"offline_backlog": True}, "offline_backlog", PINS.amber, 1.0, 1.0),
        ({"clock_unsynced": True}, "clock_unsynced", PINS.amber, 0.1, 1.9),
    ],
)
def test_each_condition_has_its_rhythm(
    feedback: Feedback,
    factory: MockFactory,
    held: dict[str, bool],
    name: str,
    led: int,
    on_s: float,
    off_s: float,
) -> None:
    clear(factory)
    feedback.set_conditions(**held)
    assert feedback.condition == name and feedback.showing == name
    assert wait_for(lambda: rising_edges(pin(factory, led)) == 2, on_s + off_s + SLACK)
    assert_timeline(pin(factory, led), [(0.0, 1.0), (on_s, 0.0), (off_s, 1.0)])
    others = {PINS.green, PINS.red, PINS.amber} - {led}
    assert all(changes(pin(factory, other)) == [] for other in others)
    feedback.set_conditions()
    assert feedback.condition == "ready"
    assert wait_for(lambda: not pin_state(factory, led), SLACK)
    clear(factory, led)
    time.sleep(0.5)
    assert changes(pin(factory, led)) == []  # the blink thread is stopped, not just paused


def test_starting_is_amber_steady_then_ready_is_dark(
    feedback: Feedback, factory: MockFactory
) -> None:
    clear(factory)
    feedback.starting()
    assert feedback.condition == "starting" and pin_state(factory, PINS.amber)
    time.sleep(1.2)
    assert changes(pin(factory, PINS.amber)) == [pytest.approx((0.0, 1.0), abs=LATE)]
    feedback.ready()
    assert feedback.condition == "ready" and not pin_state(factory, PINS.amber)


def test_fault_sounds_one_long_beep_when_it_begins(
    feedback: Feedback, factory: MockFactory
) -> None:
    clear(factory, PINS.buzzer)
    feedback.set_conditions(fault=True)
    long_beep = patterns.FAULT.sound.on_s
    assert wait_for(lambda: len(changes(pin(factory, PINS.buzzer))) == 2, long_beep + SLACK)
    assert_timeline(pin(factory, PINS.buzzer), [(0.0, 1.0), (long_beep, 0.0)])
    feedback.accepted()  # a verdict between: the fault shows again after, without a beep
    assert wait_for(lambda: feedback.showing == "fault", Feedback.ACCEPT_S + SLACK)
    time.sleep(0.2)
    assert rising_edges(pin(factory, PINS.buzzer)) == 2  # the fault beep and the accepted one
    feedback.set_conditions()
    feedback.set_conditions(fault=True)  # a new fault: a new beep
    assert wait_for(lambda: rising_edges(pin(factory, PINS.buzzer)) == 3, SLACK)


PRIORITY_CASES = [
    ({}, "ready"),
    ({"clock_unsynced": True}, "clock_unsynced"),
    ({"clock_unsynced": True, "offline_backlog": True}, "offline_backlog"),
    ({"offline_backlog": True, "disk_low": True, "clock_unsynced": True}, "disk_low"),
    ({"fault": True, "disk_low": True, "offline_backlog": True}, "fault"),
    ({"fault": True, "clock_unsynced": True}, "fault"),
]


@pytest.mark.parametrize(("held", "name"), PRIORITY_CASES)
def test_the_most_important_condition_shows(
    feedback: Feedback, held: dict[str, bool], name: str
) -> None:
    feedback.set_conditions(**held)
    assert feedback.condition == name


def test_starting_outranks_all_but_fault(feedback: Feedback) -> None:
    feedback.starting()
    feedback.set_conditions(disk_low=True, offline_backlog=True)
    assert feedback.condition == "starting"
    feedback.set_conditions(fault=True)
    assert feedback.condition == "fault"
    feedback.set_conditions(offline_backlog=True)
    feedback.ready()
    assert feedback.condition == "offline_backlog"


def test_a_verdict_hides_the_condition_which_then_resumes(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.set_conditions(offline_backlog=True)
    assert wait_for(lambda: feedback.amber.is_lit, SLACK)
    clear(factory)
    feedback.accepted()
    assert not feedback.amber.is_lit and feedback.showing == "accepted"
    assert feedback.condition == "offline_backlog"
    assert wait_for(lambda: feedback.showing == "offline_backlog", Feedback.ACCEPT_S + SLACK)
    assert wait_for(lambda: rising_edges(pin(factory, PINS.amber)) == 1, SLACK)
    # amber: off at the verdict, on again when the verdict's second is over
    assert_timeline(pin(factory, PINS.amber), [(0.0, 0.0), (Feedback.ACCEPT_S, 1.0)])
    assert_timeline(pin(factory, PINS.green), [(0.0, 1.0), (Feedback.ACCEPT_S, 0.0)])


def test_a_condition_that_changes_during_a_verdict_waits_for_it(
    feedback: Feedback, factory: MockFactory
) -> None:
    clear(factory)
    feedback.refused()
    time.sleep(0.3)
    feedback.set_conditions(disk_low=True)
    assert feedback.condition == "disk_low" and feedback.showing == "refused"
    assert not feedback.amber.is_lit
    assert wait_for(lambda: rising_edges(pin(factory, PINS.amber)) == 2, Feedback.REFUSE_S + SLACK)
    assert_timeline(pin(factory, PINS.amber), [(Feedback.REFUSE_S, 1.0), (0.2, 0.0), (0.2, 1.0)])


def test_back_to_back_verdicts_resume_once_after_the_last(
    feedback: Feedback, factory: MockFactory
) -> None:
    feedback.set_conditions(clock_unsynced=True)
    clear(factory)
    feedback.accepted()
    time.sleep(0.5)
    feedback.refused()  # the accepted timer (due at 1.0 s) must not bring amber back
    assert wait_for(lambda: feedback.showing == "clock_unsynced", 0.5 + Feedback.REFUSE_S + SLACK)
    # gpiozero's blink thread drives the pin a moment after the pattern is chosen
    assert wait_for(lambda: len(changes(pin(factory, PINS.amber))) >= 2, SLACK)
    # amber: on (the wink) until the first verdict, back when the second one ends
    assert_timeline(pin(factory, PINS.amber), [(0.0, 0.0), (0.5 + Feedback.REFUSE_S, 1.0)])


def test_set_conditions_is_idempotent(feedback: Feedback, factory: MockFactory) -> None:
    """Called every loop turn with the same conditions, it must not restart the blink."""
    clear(factory, PINS.amber)
    deadline = time.monotonic() + 1.0 + 0.5
    while time.monotonic() < deadline:
        feedback.set_conditions(offline_backlog=True)
        time.sleep(0.005)
    # restarted on each call, the 1 s amber "on" would never end
    assert_timeline(pin(factory, PINS.amber), [(0.0, 1.0), (1.0, 0.0)])


def test_an_unchanged_set_conditions_call_is_cheap(feedback: Feedback) -> None:
    feedback.set_conditions(offline_backlog=True)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(1000):
            feedback.set_conditions(offline_backlog=True)
        samples.append((time.perf_counter() - start) / 1000)
    assert statistics.median(samples) < 50e-6  # far below one frame (66 ms at 15 fps)


# -- tonal buzzer -------------------------------------------------------------------------


class RecordingPWMPin(MockPWMPin):
    """A MockPWMPin that also records every frequency it is set to."""

    def __init__(self, factory, info) -> None:
        self.frequencies: list[float | None] = []
        super().__init__(factory, info)

    def _set_frequency(self, value) -> None:
        super()._set_frequency(value)
        self.frequencies.append(value)


@pytest.fixture
def tonal_factory() -> Iterator[MockFactory]:
    pin_factory = MockFactory(pin_class=RecordingPWMPin)
    yield pin_factory
    pin_factory.reset()
    pin_factory.close()


@pytest.fixture
def tonal(tonal_factory: MockFactory) -> Iterator[Feedback]:
    with Feedback(TONAL, pin_factory=tonal_factory) as fb:
        tonal_factory.pin(TONAL.buzzer).frequencies.clear()  # PWM set-up at 100 Hz, silent
        yield fb


def notes(factory: MockFactory) -> list[str]:
    played = factory.pin(TONAL.buzzer).frequencies
    return [Tone.from_frequency(f).note for f in played if f is not None]


def test_tonal_accepted_plays_one_high_note(tonal: Feedback, tonal_factory: MockFactory) -> None:
    clear(tonal_factory)
    tonal.accepted()
    green = tonal_factory.pin(TONAL.green)
    # "ready" is set a moment before the green LED's off is recorded: wait for both.
    assert wait_for(
        lambda: tonal.showing == "ready" and len(changes(green)) >= 2, Feedback.ACCEPT_S + SLACK
    )
    assert notes(tonal_factory) == ["E6"]
    assert_timeline(tonal_factory.pin(TONAL.buzzer), [(0.0, 0.5), (Feedback.BEEP_S, 0.0)])
    assert_timeline(tonal_factory.pin(TONAL.green), [(0.0, 1.0), (Feedback.ACCEPT_S, 0.0)])


def test_tonal_refused_plays_three_low_notes(tonal: Feedback, tonal_factory: MockFactory) -> None:
    clear(tonal_factory)
    tonal.refused()
    beep = Feedback.BEEP_S
    buzzer = tonal_factory.pin(TONAL.buzzer)
    assert wait_for(lambda: len(changes(buzzer)) == 6, 6 * beep + SLACK)
    assert notes(tonal_factory) == ["A4", "A4", "A4"]
    assert_timeline(
        buzzer, [(0.0, 0.5), (beep, 0.0), (beep, 0.5), (beep, 0.0), (beep, 0.5), (beep, 0.0)]
    )


def test_tonal_notes_differ_by_answer(tonal: Feedback, tonal_factory: MockFactory) -> None:
    heard = {}
    buzzer = tonal_factory.pin(TONAL.buzzer)
    for verdict in (tonal.accepted, tonal.already_checked_in, tonal.refused):
        buzzer.frequencies.clear()
        buzzer.clear_states()
        verdict()  # the next verdict may cut this one's light short, not its first note
        assert wait_for(lambda: len(changes(buzzer)) >= 2, SLACK)
        heard[verdict.__name__] = set(notes(tonal_factory))
    assert heard == {"accepted": {"E6"}, "already_checked_in": {"C6"}, "refused": {"A4"}}


def test_tonal_fault_beep_is_a_long_low_note(tonal: Feedback, tonal_factory: MockFactory) -> None:
    clear(tonal_factory)
    tonal.set_conditions(fault=True)
    buzzer = tonal_factory.pin(TONAL.buzzer)
    assert wait_for(lambda: len(changes(buzzer)) == 2, 0.5 + SLACK)
    assert notes(tonal_factory) == ["A3"]
    assert_timeline(buzzer, [(0.0, 0.5), (0.5, 0.0)])


def test_a_verdict_cuts_a_tone_short(tonal: Feedback, tonal_factory: MockFactory) -> None:
    tonal.set_conditions(fault=True)
    time.sleep(0.1)
    tonal.accepted()
    time.sleep(0.6)
    assert notes(tonal_factory) == ["A3", "E6"]
    assert not tonal.buzzer.is_active


# -- lamp test, documentation, life cycle -------------------------------------------------


@pytest.mark.parametrize("pins", [PINS, TONAL])
def test_lamp_test_lights_each_output_in_turn(factory: MockFactory, pins: PinMap) -> None:
    with Feedback(pins, pin_factory=factory) as fb:
        fb.set_conditions(clock_unsynced=True)
        clear(factory)
        results = fb.lamp_test(step_s=0.1)
        assert [r.name for r in results] == ["green", "red", "amber", f"{pins.buzzer_kind} buzzer"]
        assert all(r.ok for r in results), results
        assert [r.gpio for r in results] == [17, 27, 22, 18]
        assert rising_edges(pin(factory, PINS.green)) == 1
        assert rising_edges(pin(factory, PINS.red)) == 1
        assert rising_edges(pin(factory, PINS.buzzer)) == 1
        assert fb.showing == "clock_unsynced"
        assert wait_for(lambda: fb.amber.is_lit, SLACK)  # the condition is back


def test_the_hardware_readme_holds_the_pattern_table() -> None:
    readme = (DEFAULT_PINS.parent / "README.md").read_text(encoding="utf-8")
    assert patterns.markdown_table() in readme


def test_every_pattern_is_distinct() -> None:
    looks = {(p.lights, p.sound) for p in patterns.PATTERNS.values()}
    assert len(looks) == len(patterns.PATTERNS)
    assert [p.name for p in patterns.CONDITION_PRIORITY[:-1]] == [
        "fault",
        "starting",
        "disk_low",
        "offline_backlog",
        "clock_unsynced",
    ]


def test_close_releases_the_pins_and_later_calls_do_nothing(factory: MockFactory) -> None:
    fb = Feedback(PINS, pin_factory=factory)
    fb.set_conditions(offline_backlog=True)
    fb.accepted()
    fb.close()
    fb.close()
    assert fb.closed
    assert not fb._resumer.is_alive()  # the thread that restores conditions is gone
    assert fb.amber.closed and fb.green.closed and fb.red.closed and fb.buzzer.closed
    fb.refused()
    fb.set_conditions(fault=True)
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
