"""What the kiosk's lights and buzzer do for each answer and standing condition.

Verdicts (accepted, already checked in, refused) are short and end by themselves.
Standing conditions (starting, fault, disk nearly full, offline with a backlog,
clock not synchronised) repeat until they clear; they are shown whenever no verdict
is, and when several hold the first in :data:`CONDITION_PRIORITY` is shown.

The same rhythm plays on an active buzzer and on a tonal one; a tonal buzzer adds
pitch (high for "come in", low for "no"). hardware/README.md carries the table
:func:`markdown_table` makes, and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

FOREVER = None
"""``Blink.n`` for a pattern that repeats until replaced."""


@dataclass(frozen=True)
class Blink:
    """One LED: ``on_s`` lit, ``off_s`` dark, ``n`` times (None: until changed).

    ``off_s == 0`` with ``n == FOREVER`` means steady on.
    """

    led: str
    on_s: float
    off_s: float = 0.0
    n: int | None = 1

    @property
    def steady(self) -> bool:
        """Lit without a break until replaced."""
        return self.n is FOREVER and self.off_s == 0

    @property
    def seconds(self) -> float | None:
        """How long the blink lasts, or None if it repeats until replaced."""
        if self.n is FOREVER:
            return None
        return self.n * self.on_s + (self.n - 1) * self.off_s

    def describe(self) -> str:
        if self.steady:
            return f"{self.led} steady"
        if self.n is FOREVER:
            return f"{self.led} {_ms(self.on_s)} on / {_ms(self.off_s)} off, repeating"
        if self.n == 1:
            return f"{self.led} {_s(self.on_s)}"
        return f"{self.led} {self.n} x {_ms(self.on_s)} on / {_ms(self.off_s)} off"


@dataclass(frozen=True)
class Beeps:
    """The buzzer: ``n`` sounds of ``on_s`` with ``off_s`` between; ``tone`` for a tonal buzzer."""

    on_s: float
    off_s: float
    n: int
    tone: str

    @property
    def seconds(self) -> float:
        return self.n * self.on_s + (self.n - 1) * self.off_s

    def describe(self) -> str:
        what = "beep" if self.n == 1 else "beeps"
        gap = f", {_ms(self.off_s)} apart" if self.n > 1 else ""
        return f"{self.n} x {_ms(self.on_s)} {what}{gap} (tonal: {self.tone})"


@dataclass(frozen=True)
class Pattern:
    """A named pattern: what each LED and the buzzer do, and what it means."""

    name: str
    lights: tuple[Blink, ...]
    sound: Beeps | None
    meaning: str
    verdict: bool = False

    @property
    def seconds(self) -> float:
        """How long a verdict shows (its longest part); 0 for a standing condition."""
        if not self.verdict:
            return 0.0
        parts = [blink.seconds or 0.0 for blink in self.lights]
        if self.sound is not None:
            parts.append(self.sound.seconds)
        return max(parts, default=0.0)

    def describe_lights(self) -> str:
        return "; ".join(b.describe() for b in self.lights) or "all dark"

    def describe_sound(self) -> str:
        return self.sound.describe() if self.sound else "silent"


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)} ms"


def _s(seconds: float) -> str:
    return f"{seconds:g} s"


BEEP_S = 0.08

ACCEPTED = Pattern(
    "accepted",
    (Blink("green", 1.0),),
    Beeps(BEEP_S, 0.0, 1, "E6"),
    "check-in stored: come in",
    verdict=True,
)
ALREADY_CHECKED_IN = Pattern(
    "already_checked_in",
    (Blink("green", 0.2, 0.2, 2),),
    Beeps(BEEP_S, 0.0, 1, "C6"),
    "this visitor checked in here minutes ago: come in, nothing new recorded",
    verdict=True,
)
REFUSED = Pattern(
    "refused",
    (Blink("red", 1.5),),
    Beeps(BEEP_S, BEEP_S, 3, "A4"),
    "code not accepted (expired, forged, wrong type, unreadable, or storage failed): "
    "show a fresh code or ask staff",
    verdict=True,
)

READY = Pattern("ready", (), None, "scanning, all well")
STARTING = Pattern("starting", (Blink("amber", 1.0, 0.0, FOREVER),), None, "starting up")
CLOCK_UNSYNCED = Pattern(
    "clock_unsynced",
    (Blink("amber", 0.1, 1.9, FOREVER),),
    None,
    "clock not synchronised: still scanning, records are marked (check NTP)",
)
OFFLINE_BACKLOG = Pattern(
    "offline_backlog",
    (Blink("amber", 1.0, 1.0, FOREVER),),
    None,
    "cannot reach the aggregator and check-ins are waiting: still scanning, "
    "nothing is lost (check the network)",
)
DISK_LOW = Pattern(
    "disk_low",
    (Blink("amber", 0.2, 0.2, FOREVER),),
    None,
    "disk nearly full: still scanning, nothing is dropped (free space or call a technician)",
)
FAULT = Pattern(
    "fault",
    (Blink("red", 0.2, 0.2, FOREVER),),
    Beeps(0.5, 0.0, 1, "A3"),
    "fault (camera, storage or software): one long low beep when it starts; call a technician",
)

VERDICTS = (ACCEPTED, ALREADY_CHECKED_IN, REFUSED)
CONDITION_PRIORITY = (FAULT, STARTING, DISK_LOW, OFFLINE_BACKLOG, CLOCK_UNSYNCED, READY)
"""Standing conditions, most important first; READY when none holds."""
PATTERNS = {p.name: p for p in (*VERDICTS, *CONDITION_PRIORITY)}


def choose_condition(held: set[str] | frozenset[str]) -> Pattern:
    """The standing condition to show when the named ones hold."""
    for pattern in CONDITION_PRIORITY:
        if pattern.name in held:
            return pattern
    return READY


def markdown_table() -> str:
    """The pattern table for hardware/README.md."""
    rows = [
        "| pattern | lights | buzzer | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for pattern in (*VERDICTS, *CONDITION_PRIORITY):
        kind = "verdict" if pattern.verdict else "condition"
        rows.append(
            f"| `{pattern.name}` ({kind}) | {pattern.describe_lights()} | "
            f"{pattern.describe_sound()} | {pattern.meaning} |"
        )
    return "\n".join(rows)
