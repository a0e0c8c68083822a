"""Read rates and costs on the door frame set (``safecode bench decoders --set door``).

The set (benchmarks/door_frames.py): ``visits`` visits of ``frames`` consecutive frames of
one real code each (phone ``CHECKIN`` presentations at the wallet's level, printed
``CARD`` presentations at the desk's), and ``empty`` frames with no code, at the kiosk's
640x480. Every decoder decodes every frame once, in the same loop (the order of the
decoders alternates from frame to frame, so machine load hits them alike).

Figures per decoder:

* ``frame_read_rate``: the share of code frames whose exact label is among the texts read;
* ``visit_read_rate``: the share of visits with at least one frame read (a visitor
  holding the phone up for ``frames`` frames is let in);
* ``misreads``: texts read that are not the frame's label (any text on an empty frame
  counts); must be 0;
* ``code_median_ms``, ``empty_median_ms`` (and ``empty_mean_ms``): milliseconds per frame
  (a code frame is decoded once; an empty frame ``repeats`` times, interleaved, and its
  cost is the median of those, as the image-set bench does: at 1-2 ms a frame, one
  timing on a loaded machine is mostly scheduling noise);
* for zxing-cpp and the cascade, rates by condition, distance and tilt.

Then the cascade against zxing-cpp alone measured in the same run: the gain in per-frame
points, the code frames only one of them read (``paired``), and the cost ratios on empty
and on code frames. ``levels`` re-renders the phone
visits (the same scenes and noise) at other error-correction levels, each at its smallest
QR version, and reports both decoders' rates per level, and the level that read best.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.decoders import (
    Decoder,
    EnlargedCrop,
    FilteredPass,
    GatedCascade,
    GlobalPass,
    InvertedPass,
    PyzbarOnCrop,
    Stage,
    ZxingDecoder,
    default_decoder,
    previous_default,
)

from . import door_frames
from .door_render import FRAME_SIZE, encode
from .util import machine_info

CONDITIONS = ("glare", "moire", "dark_mode", "inverted", "low_light")
LEVELS = ("L", "M", "Q")


@dataclass
class Tally:
    """Code frames shown and read, visits shown and read, misreads, costs."""

    frames: int = 0
    read: int = 0
    visits: int = 0
    visits_read: int = 0
    misreads: int = 0
    code_ms: list[float] = field(default_factory=list)
    empty_ms: list[float] = field(default_factory=list)
    groups: dict[str, list[int]] = field(default_factory=dict)
    empty_kinds: dict[str, list[float]] = field(default_factory=dict)

    def group(self, key: str, read: bool) -> None:
        shown_read = self.groups.setdefault(key, [0, 0])
        shown_read[0] += 1
        shown_read[1] += int(read)

    def figures(self, detail: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frames_read": self.read,
            "frame_read_rate": _rate(self.read, self.frames),
            "visits_read": self.visits_read,
            "visit_read_rate": _rate(self.visits_read, self.visits),
            "misreads": self.misreads,
            "code_median_ms": _median(self.code_ms),
            "empty_median_ms": _median(self.empty_ms),
            "empty_mean_ms": round(statistics.fmean(self.empty_ms), 3) if self.empty_ms else None,
        }
        if detail:
            out["by"] = {
                key: {"frames": shown, "read_rate": _rate(read, shown)}
                for key, (shown, read) in sorted(self.groups.items())
            }
            out["empty_by_kind"] = {
                kind: {"frames": len(ms), "median_ms": _median(ms)}
                for kind, ms in sorted(self.empty_kinds.items())
            }
        return out


def _rate(read: int, shown: int) -> float:
    return round(read / shown, 4) if shown else 0.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _groups(facts: Mapping[str, Any]) -> list[str]:
    distance = float(facts["distance_cm"])
    band = "10-20" if distance < 20 else "20-30" if distance < 30 else "30-40"
    keys = [f"kind {facts['kind']}", f"distance {band} cm"]
    keys.append("tilt 0-20" if float(facts["tilt_deg"]) < 20 else "tilt 20-40")
    keys.extend(name for name in CONDITIONS if facts[name])
    if not any(facts[name] for name in CONDITIONS):
        keys.append("plain")
    return keys


def _timed(decoder: Decoder, image: np.ndarray) -> tuple[list[str], float]:
    start = time.perf_counter()
    texts = [d.text for d in decoder.decode(image)]
    return texts, (time.perf_counter() - start) * 1000.0


def door_decoders() -> dict[str, Decoder]:
    """zxing-cpp alone (the library's defaults, as on the image sets) and the cascade."""
    return {"zxing": ZxingDecoder(return_errors=False), "cascade": default_decoder()}


def candidate_decoders() -> dict[str, Decoder]:
    """The cascade's variants measured to choose it (``--candidates``): without each stage,
    without the gate, the enlargement changed, and candidate stages added at the end
    (behind the gate, after the default stages): median filter, Gaussian blur (against
    moiré), CLAHE, half-size frame."""
    import cv2
    from PIL import Image, ImageFilter

    def pillow(filter_: ImageFilter.Filter) -> Callable[[np.ndarray], np.ndarray]:
        return lambda image: np.asarray(Image.fromarray(image).filter(filter_))

    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def stages(*extra: Stage, enlarged: EnlargedCrop | None = None) -> list[Stage]:
        return [InvertedPass(), enlarged or EnlargedCrop(), GlobalPass(), PyzbarOnCrop(), *extra]

    return {
        **door_decoders(),
        "previous-cascade": previous_default(),
        "no-gate": GatedCascade(stages(), gate=None, name="no-gate"),
        "without-inverted": GatedCascade(
            [EnlargedCrop(), GlobalPass(), PyzbarOnCrop()], name="without-inverted"
        ),
        "without-enlarged": GatedCascade(
            [InvertedPass(), GlobalPass(), PyzbarOnCrop()], name="without-enlarged"
        ),
        "without-global-pyzbar": GatedCascade(
            [InvertedPass(), EnlargedCrop()], name="without-global-pyzbar"
        ),
        "enlarge-unsharpened": GatedCascade(
            stages(enlarged=EnlargedCrop(percent=0)), name="enlarge-unsharpened"
        ),
        "enlarge-2x": GatedCascade(stages(enlarged=EnlargedCrop(factor=2.0)), name="enlarge-2x"),
        "plus-median": GatedCascade(
            stages(FilteredPass("median3", pillow(ImageFilter.MedianFilter(3)))),
            name="plus-median",
        ),
        "plus-blur": GatedCascade(
            stages(FilteredPass("blur1", pillow(ImageFilter.GaussianBlur(1.0)))), name="plus-blur"
        ),
        "plus-clahe": GatedCascade(stages(FilteredPass("clahe", clahe.apply)), name="plus-clahe"),
        "plus-half": GatedCascade(stages(FilteredPass("half", _half)), name="plus-half"),
    }


def door_figures(
    *,
    visits: int = 60,
    empty: int = 300,
    seed: int = 17,
    frames: int = door_frames.FRAMES_PER_VISIT,
    levels: Sequence[str] = LEVELS,
    size: tuple[int, int] = FRAME_SIZE,
    repeats: int = 5,
    decoders: Mapping[str, Decoder] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The door set's figures (see the module docs)."""
    if visits < 1 or empty < 1 or frames < 1 or repeats < 1:
        raise ValueError("visits, empty, frames and repeats must be at least 1")
    unknown = [level for level in levels if level not in ("L", "M", "Q", "H")]
    if unknown:
        raise ValueError(f"levels are L, M, Q or H, not {unknown}")
    decoders = dict(decoders) if decoders is not None else door_decoders()
    if "zxing" not in decoders or "cascade" not in decoders:
        raise ValueError("decoders must include 'zxing' and 'cascade' for the ratios")
    load_before = os.getloadavg()
    tallies = {name: Tally() for name in decoders}
    per_level = {level: {name: Tally() for name in ("zxing", "cascade")} for level in levels}
    turn = 0
    frame_reads: dict[str, list[bool]] = {name: [] for name in decoders}
    plans = [door_frames.plan_visit(seed, v, frames=frames, size=size) for v in range(visits)]
    for number, visit in enumerate(plans):
        if progress and number % 10 == 0:
            progress(f"visit {number + 1} of {visits}")
        seen = {name: False for name in decoders}
        same_level = visit.kind == "checkin" and visit.level in per_level
        for index, image in enumerate(door_frames.visit_frames(visit, size=size)):
            facts = door_frames.frame_facts(visit, index)
            turn += 1
            for name, decoder in _in_turn(decoders, turn):
                texts, ms = _timed(decoder, image)
                tally = tallies[name]
                ok = visit.text in texts
                tally.frames += 1
                tally.read += int(ok)
                tally.misreads += sum(text != visit.text for text in texts)
                tally.code_ms.append(ms)
                frame_reads[name].append(ok)
                seen[name] = seen[name] or ok
                for key in _groups(facts):
                    tally.group(key, ok)
                if same_level and name in per_level[visit.level]:
                    same = per_level[visit.level][name]
                    same.frames += 1
                    same.read += int(ok)
                    same.misreads += sum(text != visit.text for text in texts)
        for name in decoders:
            tallies[name].visits += 1
            tallies[name].visits_read += int(seen[name])
            if same_level and name in per_level[visit.level]:
                per_level[visit.level][name].visits += 1
                per_level[visit.level][name].visits_read += int(seen[name])
    for index in range(empty):
        image, kind = door_frames.empty_frame(seed, index, size=size)
        times: dict[str, list[float]] = {name: [] for name in decoders}
        for _ in range(repeats):
            turn += 1
            for name, decoder in _in_turn(decoders, turn):
                texts, ms = _timed(decoder, image)
                tallies[name].misreads += len(texts)
                times[name].append(ms)
        for name, spent in times.items():
            ms = statistics.median(spent)
            tallies[name].empty_ms.append(ms)
            tallies[name].empty_kinds.setdefault(kind, []).append(ms)
    phone = [v for v in plans if v.kind == "checkin"]
    for level in levels:
        if level == door_frames.PHONE_LEVEL:
            continue  # measured in the main pass
        if progress:
            progress(f"level {level}")
        _level_tallies(phone, level, size, decoders, per_level[level])
    figures = {
        name: tally.figures(detail=name in ("zxing", "cascade")) for name, tally in tallies.items()
    }
    zxing, cascade = figures["zxing"], figures["cascade"]
    level_figures = {
        level: {
            "version": encode(phone[0].text, level).version if phone else None,
            "modules": encode(phone[0].text, level).modules if phone else None,
            **{
                name: {
                    "frame_read_rate": _rate(t.read, t.frames),
                    "visit_read_rate": _rate(t.visits_read, t.visits),
                    "misreads": t.misreads,
                }
                for name, t in per_level[level].items()
            },
        }
        for level in levels
    }
    return {
        "set": "door",
        "seed": seed,
        "visits": visits,
        "visit_kinds": {kind: sum(v.kind == kind for v in plans) for kind in ("checkin", "card")},
        "frames_per_visit": frames,
        "code_frames": tallies["zxing"].frames,
        "empty_frames": empty,
        "empty_repeats": repeats,
        "frame_size": list(size),
        "decoders": figures,
        "default": repr(decoders["cascade"]),
        "zxing_frame_read_rate": zxing["frame_read_rate"],
        "cascade_frame_read_rate": cascade["frame_read_rate"],
        "cascade_gain_points": round(
            100 * (cascade["frame_read_rate"] - zxing["frame_read_rate"]), 2
        ),
        "zxing_visit_read_rate": zxing["visit_read_rate"],
        "cascade_visit_read_rate": cascade["visit_read_rate"],
        "cascade_vs_zxing_empty_cost": _ratio(cascade["empty_median_ms"], zxing["empty_median_ms"]),
        "cascade_vs_zxing_empty_mean_cost": _ratio(
            cascade["empty_mean_ms"], zxing["empty_mean_ms"]
        ),
        "cascade_vs_zxing_code_cost": _ratio(cascade["code_median_ms"], zxing["code_median_ms"]),
        "misreads": {name: f["misreads"] for name, f in figures.items()},
        "paired": _paired(frame_reads["zxing"], frame_reads["cascade"]),
        "levels": level_figures,
        "best_level": _best_level(level_figures),
        "machine": {
            **machine_info(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
    }


def _paired(zxing: list[bool], cascade: list[bool]) -> dict[str, int]:
    """Code frames only zxing-cpp read, and only the cascade read."""
    pairs = list(zip(zxing, cascade, strict=True))
    return {
        "only_zxing": sum(z and not c for z, c in pairs),
        "only_cascade": sum(c and not z for z, c in pairs),
    }


def _half(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _level_tallies(
    phone: Sequence[door_frames.Visit],
    level: str,
    size: tuple[int, int],
    decoders: Mapping[str, Decoder],
    out: dict[str, Tally],
) -> None:
    """The phone visits re-rendered at ``level``, decoded by zxing-cpp and the cascade."""
    for visit in phone:
        seen = {name: False for name in out}
        frames = door_frames.visit_frames(visit, level=level, size=size)
        for image in frames:
            for name in out:
                texts = [d.text for d in decoders[name].decode(image)]
                ok = visit.text in texts
                out[name].frames += 1
                out[name].read += int(ok)
                out[name].misreads += sum(text != visit.text for text in texts)
                seen[name] = seen[name] or ok
        for name in out:
            out[name].visits += 1
            out[name].visits_read += int(seen[name])


def _in_turn(decoders: Mapping[str, Decoder], turn: int) -> list[tuple[str, Decoder]]:
    items = list(decoders.items())
    return items if turn % 2 else items[::-1]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _best_level(levels: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The level whose codes the cascade read on the most frames (ties: most visits)."""
    if not levels:
        return None
    return max(
        levels,
        key=lambda level: (
            levels[level]["cascade"]["frame_read_rate"],
            levels[level]["cascade"]["visit_read_rate"],
        ),
    )
