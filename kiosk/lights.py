"""Lights and sound through gpiozero: a short pattern per answer, a standing one per condition.

Verdicts (:meth:`Feedback.accepted`, :meth:`Feedback.refused`,
:meth:`Feedback.already_checked_in`) start gpiozero background blinks and beeps and
return at once, so the scan loop never waits for a light. Standing conditions
(:meth:`Feedback.set_conditions`, :meth:`Feedback.starting`) are shown whenever no
verdict is; when a verdict ends, one long-lived thread puts the condition's pattern back. The
patterns themselves are data in :mod:`kiosk.patterns`.

On a laptop or in tests pass :func:`mock_pin_factory` (gpiozero's ``MockFactory`` with
PWM-capable pins, which a tonal buzzer needs) and the same code runs on mock pins.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from gpiozero import LED, Buzzer, TonalBuzzer
from gpiozero.tones import Tone

from .lights_pins import (
    BUZZER_KINDS,
    DEFAULT_PINS,
    PINS_ENV,
    SYSTEM_PINS,
    PinMap,
    PinMapError,
    find_pins_file,
    load_pins,
    parse_pins,
    parse_pins_text,
)
from .patterns import (
    ACCEPTED,
    ALREADY_CHECKED_IN,
    BEEP_S,
    READY,
    REFUSED,
    Beeps,
    Pattern,
    choose_condition,
)

__all__ = [
    "BUZZER_KINDS",
    "DEFAULT_PINS",
    "PINS_ENV",
    "SYSTEM_PINS",
    "Feedback",
    "LampCheck",
    "PinMap",
    "PinMapError",
    "find_pins_file",
    "load_pins",
    "mock_pin_factory",
    "parse_pins",
    "parse_pins_text",
]

TONAL_MID_TONE = "A5"
TONAL_OCTAVES = 2
"""A tonal buzzer spans A3 (220 Hz) to A7 (3520 Hz): piezos are loudest in the kHz range."""


def mock_pin_factory() -> Any:
    """gpiozero's MockFactory with PWM-capable pins, for laptops, the demo and tests."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    return MockFactory(pin_class=MockPWMPin)


@dataclass(frozen=True)
class LampCheck:
    """One output in a lamp test: did its pin read back high while on and low after."""

    name: str
    gpio: int
    ok: bool
    detail: str


class _BeepSound:
    """An active buzzer: gpiozero's background beep."""

    def __init__(self, buzzer: Buzzer) -> None:
        self.buzzer = buzzer

    def play(self, beeps: Beeps) -> None:
        self.buzzer.beep(on_time=beeps.on_s, off_time=beeps.off_s, n=beeps.n, background=True)

    def stop(self) -> None:
        self.buzzer.off()

    def on(self) -> None:
        self.buzzer.on()

    def is_sounding(self) -> bool:
        return bool(self.buzzer.pin.state)


class _ToneSound:
    """A tonal buzzer: TonalBuzzer has no background beep, so a small thread plays the rhythm."""

    def __init__(self, buzzer: TonalBuzzer) -> None:
        self.buzzer = buzzer
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def play(self, beeps: Beeps) -> None:
        self.stop()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(beeps, self._stopping), name="safecode-tone", daemon=True
        )
        self._thread.start()

    def _run(self, beeps: Beeps, stopping: threading.Event) -> None:
        tone = Tone(beeps.tone)
        for i in range(beeps.n):
            self.buzzer.play(tone)
            if stopping.wait(beeps.on_s):
                return
            self.buzzer.stop()
            if i < beeps.n - 1 and stopping.wait(beeps.off_s):
                return

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        if not self.buzzer.closed:
            self.buzzer.stop()

    def on(self) -> None:
        self.buzzer.play(Tone(TONAL_MID_TONE))

    def is_sounding(self) -> bool:
        return bool(self.buzzer.pwm_device.pin.state)

    def close(self) -> None:
        self.stop()


class Feedback:
    """Green, red and amber LEDs and an active or tonal buzzer, driven by named patterns."""

    ACCEPT_S = ACCEPTED.lights[0].on_s
    REFUSE_S = REFUSED.lights[0].on_s
    BEEP_S = BEEP_S

    def __init__(self, pins: PinMap, pin_factory: Any = None) -> None:
        self.pins = pins
        made: list[Any] = []
        try:
            for name in ("green", "red", "amber"):
                made.append(LED(getattr(pins, name), pin_factory=pin_factory))
            if pins.buzzer_kind == "tonal":
                buzzer: Any = TonalBuzzer(
                    pins.buzzer,
                    mid_tone=Tone(TONAL_MID_TONE),
                    octaves=TONAL_OCTAVES,
                    pin_factory=pin_factory,
                )
                made.append(buzzer)
                self._sound: _BeepSound | _ToneSound = _ToneSound(buzzer)
            else:
                buzzer = Buzzer(pins.buzzer, pin_factory=pin_factory)
                made.append(buzzer)
                self._sound = _BeepSound(buzzer)
        except BaseException:
            for device in made:
                device.close()  # free the pins already claimed, then report the failure
            raise
        self.green, self.red, self.amber, self.buzzer = made
        self._leds = {"green": self.green, "red": self.red, "amber": self.amber}
        self._lock = threading.RLock()
        self._held: frozenset[str] = frozenset()
        self._starting = False
        self._condition: Pattern = READY
        self._announced: Pattern = READY  # the last condition whose sound was played
        self._verdict: Pattern | None = None
        self._verdict_ends: float | None = None  # monotonic time the verdict's pattern is over
        self._closed = False
        self._wake = threading.Condition(self._lock)
        self._resumer = threading.Thread(
            target=self._resume_conditions, name="safecode-lights", daemon=True
        )
        self._resumer.start()

    # -- what is shown ----------------------------------------------------------------------

    @property
    def condition(self) -> str:
        """The standing condition's pattern name (shown now, or again once a verdict ends)."""
        return self._condition.name

    @property
    def showing(self) -> str:
        """The pattern on the pins now: a verdict's name while one shows, else the condition's."""
        verdict = self._verdict
        return verdict.name if verdict is not None else self._condition.name

    def _show(self, pattern: Pattern, *, sound: bool) -> None:
        """Put ``pattern`` on the pins (caller holds the lock); LEDs it does not use go dark."""
        used = {blink.led: blink for blink in pattern.lights}
        for name, led in self._leds.items():
            blink = used.get(name)
            if blink is None:
                led.off()
            elif blink.steady:
                led.on()
            else:
                # Light it here, not when gpiozero's new blink thread first runs: that
                # thread can wait milliseconds for the GIL while the scan loop goes on.
                # Its first step writes "on" again, which changes nothing.
                led.on()
                led.blink(on_time=blink.on_s, off_time=blink.off_s, n=blink.n, background=True)
        if sound and pattern.sound is not None:
            self._sound.play(pattern.sound)
        elif sound:
            self._sound.stop()

    def _show_condition(self) -> None:
        """Show the standing condition; its sound plays once each time it begins."""
        fresh = self._condition is not self._announced
        self._announced = self._condition
        self._show(self._condition, sound=fresh)

    # -- verdicts -----------------------------------------------------------------------------

    def _verdict_show(self, pattern: Pattern) -> None:
        with self._lock:
            if self._closed:
                return
            self._verdict = pattern
            self._show(pattern, sound=True)
            idle = self._verdict_ends is None
            self._verdict_ends = time.monotonic() + pattern.seconds
            if idle:  # else the resumer is already waiting and will see the new end time
                self._wake.notify()

    def _resume_conditions(self) -> None:
        """One thread for the Feedback's life: put the condition back when a verdict ends.

        A later verdict moves the end time; cheaper per scan than a timer thread each.
        """
        with self._lock:
            while not self._closed:
                if self._verdict_ends is None:
                    self._wake.wait()
                    continue
                left = self._verdict_ends - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                self._verdict_ends = None
                self._verdict = None
                self._show_condition()

    def accepted(self) -> None:
        """Green for a second and one short beep; returns at once."""
        self._verdict_show(ACCEPTED)

    def already_checked_in(self) -> None:
        """Two quick green flashes and one short beep: welcome back, nothing recorded."""
        self._verdict_show(ALREADY_CHECKED_IN)

    def refused(self) -> None:
        """Red for a second and a half and three short beeps; returns at once."""
        self._verdict_show(REFUSED)

    # -- standing conditions ------------------------------------------------------------------

    def set_conditions(
        self,
        *,
        offline_backlog: bool = False,
        clock_unsynced: bool = False,
        fault: bool = False,
        disk_low: bool = False,
    ) -> None:
        """Say which conditions hold now (every loop turn is fine: pins change only on change).

        Shown by priority fault > disk_low > offline_backlog > clock_unsynced; while a
        verdict shows, the new condition waits for it to end.
        """
        held = frozenset(
            name
            for name, on in (
                ("offline_backlog", offline_backlog),
                ("clock_unsynced", clock_unsynced),
                ("fault", fault),
                ("disk_low", disk_low),
            )
            if on
        )
        if held == self._held:
            return
        with self._lock:
            self._held = held
            self._update()

    def _update(self) -> None:
        held = (self._held | {"starting"}) if self._starting else self._held
        chosen = choose_condition(held)
        if chosen is self._condition or self._closed:
            return
        self._condition = chosen
        if self._verdict is None:
            self._show_condition()

    def starting(self) -> None:
        """Amber steady while the kiosk starts (a fault still outranks it)."""
        with self._lock:
            self._starting = True
            self._update()

    def ready(self) -> None:
        """Starting is over: show the standing conditions (all dark when none holds)."""
        with self._lock:
            self._starting = False
            self._update()

    # -- lamp test ----------------------------------------------------------------------------

    def lamp_test(self, step_s: float = 0.4) -> list[LampCheck]:
        """Light each LED in turn, then sound the buzzer, ``step_s`` each; blocks ~4 x step_s.

        Each output's pin is read back while on and after off. Verdicts and conditions
        wait meanwhile; the condition is shown again at the end.
        """
        results = []
        with self._lock:
            self._verdict_ends = None
            self._verdict = None
            self._show(READY, sound=True)
            for name, led in self._leds.items():
                led.on()
                high = bool(led.pin.state)
                time.sleep(step_s)
                led.off()
                low = not led.pin.state
                results.append(_lamp(name, getattr(self.pins, name), high, low))
            self._sound.on()
            high = self._sound.is_sounding()
            time.sleep(step_s)
            self._sound.stop()
            low = not self._sound.is_sounding()
            kind = f"{self.pins.buzzer_kind} buzzer"
            results.append(_lamp(kind, self.pins.buzzer, high, low))
            self._announced = READY
            self._show_condition()
        return results

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every pattern and release the pins; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
            self._sound.stop()
            for device in (self.green, self.red, self.amber, self.buzzer):
                device.close()
        if self._resumer is not threading.current_thread():
            self._resumer.join()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def __enter__(self) -> Feedback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _lamp(name: str, gpio: int, high: bool, low: bool) -> LampCheck:
    if high and low:
        return LampCheck(name, gpio, True, f"GPIO {gpio} went high, then low")
    what = "did not read back high when on" if not high else "stayed high after off"
    return LampCheck(name, gpio, False, f"GPIO {gpio} {what}")
