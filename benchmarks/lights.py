"""How long the scan loop spends in a verdict call, against the bare gpiozero floor.

Run: ``.venv/bin/python -m benchmarks.lights [--n 1000]``; prints one JSON line.
The floor is what any verdict must do at least: one background LED blink and one
background beep straight on gpiozero devices. Both run on MockFactory pins in the
same process, alternating, so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

from gpiozero import LED, Buzzer

from kiosk.lights import Feedback, PinMap, mock_pin_factory

PINS = PinMap(green=17, red=27, amber=22, buzzer=18)


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p95_us": round(ordered[int(0.95 * (len(ordered) - 1))] * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="verdict calls per variant")
    args = parser.parse_args()
    floor_factory, factory = mock_pin_factory(), mock_pin_factory()
    led = LED(PINS.green, pin_factory=floor_factory)
    buzzer = Buzzer(PINS.buzzer, pin_factory=floor_factory)
    feedback = Feedback(PINS, pin_factory=factory)
    feedback.set_conditions(offline_backlog=True)  # a condition to hide and bring back
    floor, verdict, unchanged = [], [], []
    for i in range(args.n):
        start = time.perf_counter()
        led.blink(on_time=1.0, off_time=0.0, n=1)
        buzzer.beep(on_time=0.08, off_time=0.0, n=1)
        floor.append(time.perf_counter() - start)
        start = time.perf_counter()
        (feedback.accepted if i % 2 else feedback.refused)()
        verdict.append(time.perf_counter() - start)
        start = time.perf_counter()
        feedback.set_conditions(offline_backlog=True)
        unchanged.append(time.perf_counter() - start)
        time.sleep(0.002)
    feedback.close()
    led.close()
    buzzer.close()
    result = {
        "n": args.n,
        "floor_blink_and_beep": _stats(floor),
        "verdict_call": _stats(verdict),
        "ratio_median": round(statistics.median(verdict) / statistics.median(floor), 2),
        "set_conditions_unchanged": _stats(unchanged),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load1": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
        },
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
