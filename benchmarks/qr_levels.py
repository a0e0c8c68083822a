"""Which QR error-correction level a door camera reads best: L, M or Q for a real code.

``python -m benchmarks.qr_levels --json`` (or ``safecode bench qr-levels``) encodes one
real presentation (a day credential signed by an issuer key, shown by its wallet key:
the ~297-character ``SC1:`` text of protocol/presentation.py, from fixed seeds) at each
level with segno (smallest version, ``boost_error=False``), draws it on a phone screen,
and photographs it the way a kiosk camera would at a door. Every frame goes through the
kiosk's real decoder cascade (``kiosk.decoders.default_decoder``); a frame counts as read
when the cascade returns the exact text.

The renderer is :mod:`benchmarks.door_render` (shared with the door frame set of
``safecode bench decoders --set door``). The door, per frame (seeded; the same scene for
every level, so levels are compared on identical frames):

* camera: 640x480 (``kiosk.config.CameraSettings``), 62.2 degrees horizontal field of
  view (Raspberry Pi Camera Module 2), pinhole projection;
* phone: the code with its 4-module quiet zone ``--code-mm`` wide (default 50 mm, a
  phone screen's width less margins) on a white screen area 10 % wider, inside a dark
  bezel, over a mid-grey scene; screen white 200-245, modules 20-60 (brightness, ambient);
* distance: the condition (10 to 40 cm from the lens); the code's centre anywhere that
  keeps it in view; turned any way in the screen plane; tilted 0-40 degrees about a
  random axis in that plane;
* optics and sensor: supersampled 2x then area-averaged (pixel integration), Gaussian
  blur of 0.3-1.5 px (focus, shake), on half the frames a glare spot (a Gaussian
  highlight of +60-200 grey levels over 8-25 % of the code's width) on the screen,
  Gaussian noise of std 2-8, then JPEG at quality 50-90.

Figures per level: version, modules, module size on the screen, read rate overall, by
distance, by tilt (0-20 / 20-40 degrees) and with or without glare, and the cascade's
milliseconds per frame (median and mean over all frames; a missed frame runs every pass).
The recommended level is the one that read the most frames (on a tie, the cheaper); ``paired``
gives, for each pair of levels, the frames only one of them read and the exact sign-test
p-value of that split, to tell a real difference from chance.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.decoders import Decoder, default_decoder
from protocol import keys
from protocol.credential import issue_credential
from protocol.presentation import present

from .door_render import (
    CODE_MM,
    FRAME_SIZE,
    HFOV_DEG,
    QUIET_ZONE,
    Scene,
    Symbol,
    encode,
    focal_px,
    render,
)
from .util import machine_info

__all__ = ["Scene", "Symbol", "encode", "measure", "render", "presentation_text"]

LEVELS = ("L", "M", "Q")
DISTANCES_CM = (10, 15, 20, 25, 30, 35, 40)
MAX_TILT_DEG = 40.0
GLARE_SHARE = 0.5

# A real presentation from fixed seeds: a day credential (Asia/Seoul midnight to midnight)
# shown ten hours into its day.
DAY_START = 1_764_514_800  # 2025-12-01 00:00 KST
_SHOWN_AT = DAY_START + 10 * 3600


def _seeded_key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def presentation_text() -> str:
    """The ``SC1:`` text of a real day-credential presentation (fixed seeds, 298 chars)."""
    issuer = _seeded_key("qr-levels issuer")
    wallet = _seeded_key("qr-levels wallet")
    credential = issue_credential(
        issuer,
        keys.public_bytes(wallet),
        not_before=DAY_START,
        not_after=DAY_START + 86_400,
        credential_id=hashlib.sha256(b"qr-levels credential").digest()[:8],
    )
    return present(wallet, credential, now=_SHOWN_AT).to_text()


def draw_scene(rng: np.random.Generator, distance_cm: float) -> Scene:
    """One door scene at ``distance_cm`` with the other conditions drawn from ``rng``."""
    glare = None
    if rng.random() < GLARE_SHARE:
        glare = (
            float(rng.uniform(60, 200)),
            float(rng.uniform(0.08, 0.25)),
            float(rng.uniform(0.1, 0.9)),
            float(rng.uniform(0.1, 0.9)),
        )
    return Scene(
        distance_mm=distance_cm * 10.0,
        tilt_deg=float(rng.uniform(0, MAX_TILT_DEG)),
        tilt_axis_deg=float(rng.uniform(0, 180)),
        roll_deg=float(rng.uniform(0, 360)),
        centre_share=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))),
        blur_px=float(rng.uniform(0.3, 1.2)),
        glare=glare,
        white=int(rng.integers(200, 246)),
        dark=int(rng.integers(20, 61)),
        background=int(rng.integers(90, 170)),
        noise=float(rng.uniform(2, 8)),
        jpeg_quality=int(rng.integers(50, 91)),
    )


@dataclass
class Tally:
    """Frames shown and read."""

    shown: int = 0
    read: int = 0

    def add(self, read: bool) -> None:
        self.shown += 1
        self.read += int(read)

    @property
    def rate(self) -> float:
        return round(self.read / self.shown, 3) if self.shown else 0.0


def measure(
    *,
    frames: int = 40,
    seed: int = 11,
    levels: Sequence[str] = LEVELS,
    distances_cm: Sequence[float] = DISTANCES_CM,
    code_mm: float = CODE_MM,
    text: str | None = None,
    decoder: Decoder | None = None,
    size: tuple[int, int] = FRAME_SIZE,
) -> dict[str, Any]:
    """Read rates and decode costs per level over ``frames`` seeded frames per distance."""
    text = presentation_text() if text is None else text
    decoder = decoder or default_decoder()
    symbols = [encode(text, level) for level in levels]
    tallies: dict[str, dict[str, Tally]] = {s.level: {} for s in symbols}
    costs: dict[str, list[float]] = {s.level: [] for s in symbols}
    reads: dict[str, list[bool]] = {s.level: [] for s in symbols}
    for distance in distances_cm:
        for index in range(frames):
            scene = draw_scene(np.random.default_rng([seed, int(distance * 10), index]), distance)
            keys_for = (
                "all",
                f"{distance:g}cm",
                "tilt 0-20" if scene.tilt_deg < 20 else "tilt 20-40",
                "glare" if scene.glare else "no glare",
            )
            for symbol in symbols:
                noise_rng = np.random.default_rng([seed, int(distance * 10), index, 1])
                frame = render(symbol, scene, noise_rng, code_mm=code_mm, size=size)
                start = time.perf_counter()
                found = decoder.decode(frame)
                costs[symbol.level].append((time.perf_counter() - start) * 1000.0)
                read = any(d.text == text for d in found)
                reads[symbol.level].append(read)
                for key in keys_for:
                    tallies[symbol.level].setdefault(key, Tally()).add(read)
    figures: dict[str, Any] = {}
    for symbol in symbols:
        tally = tallies[symbol.level]
        quiet = symbol.modules + 2 * QUIET_ZONE
        figures[symbol.level] = {
            "version": symbol.version,
            "modules": symbol.modules,
            "module_mm": round(code_mm / quiet, 3),
            "px_per_module": {
                f"{d:g}cm": round(focal_px(size[0]) * code_mm / quiet / (d * 10.0), 2)
                for d in distances_cm
            },
            "read_rate": tally["all"].rate,
            "read": tally["all"].read,
            "frames": tally["all"].shown,
            "by_distance": {f"{d:g}cm": tally[f"{d:g}cm"].rate for d in distances_cm},
            "by_tilt": {k: tally[k].rate for k in ("tilt 0-20", "tilt 20-40") if k in tally},
            "by_glare": {k: tally[k].rate for k in ("no glare", "glare") if k in tally},
            "decode_ms_median": round(statistics.median(costs[symbol.level]), 2),
            "decode_ms_mean": round(statistics.fmean(costs[symbol.level]), 2),
        }
    return {
        "text_chars": len(text),
        "frame": list(size),
        "hfov_deg": HFOV_DEG,
        "code_mm": code_mm,
        "frames_per_distance": frames,
        "seed": seed,
        "levels": figures,
        "paired": paired(reads),
        "recommended": recommend(figures),
        "machine": machine_info(),
    }


def recommend(figures: dict[str, dict[str, Any]]) -> str:
    """The level with the most frames read; on a tie, the cheaper to decode."""
    best = max(f["read"] for f in figures.values())
    tied = [level for level, f in figures.items() if f["read"] == best]
    return min(tied, key=lambda level: figures[level]["decode_ms_mean"])


def paired(reads: dict[str, list[bool]]) -> dict[str, dict[str, Any]]:
    """For each pair of levels, on the same scenes: frames only one of them read, and the
    exact two-sided sign-test (McNemar) p-value of that split."""
    out = {}
    levels = list(reads)
    for i, a in enumerate(levels):
        for b in levels[i + 1 :]:
            only_a = sum(x and not y for x, y in zip(reads[a], reads[b], strict=True))
            only_b = sum(y and not x for x, y in zip(reads[a], reads[b], strict=True))
            out[f"{a}_vs_{b}"] = {
                f"only_{a}": only_a,
                f"only_{b}": only_b,
                "p_value": round(sign_test(only_a, only_b), 4),
            }
    return out


def sign_test(a: int, b: int) -> float:
    """Two-sided exact binomial p-value of an ``a``:``b`` split under p = 1/2."""
    n = a + b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a, b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['text_chars']}-character presentation, {result['code_mm']} mm code, "
        f"{result['frames_per_distance']} frames per distance, seed {result['seed']}",
    ]
    distances = next(iter(result["levels"].values()))["by_distance"]
    lines.append("level version modules  read  " + " ".join(f"{d:>6}" for d in distances) + "  ms")
    for level, f in result["levels"].items():
        row = " ".join(f"{r:6.2f}" for r in f["by_distance"].values())
        lines.append(
            f"{level:5} {f['version']:7} {f['modules']:7} {f['read_rate']:5.2f}  {row}  "
            f"{f['decode_ms_mean']:.1f}"
        )
    lines.append(f"recommended: {result['recommended']}")
    return "\n".join(lines)


@click.command("qr-levels")
@click.option("--frames", default=40, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=11, show_default=True, type=int)
@click.option("--levels", default=",".join(LEVELS), show_default=True)
@click.option("--code-mm", default=CODE_MM, show_default=True, type=click.FloatRange(min=5))
@click.option(
    "--frame-size",
    default=f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}",
    show_default=True,
    help="Camera frame WIDTHxHEIGHT (same field of view).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON figures.")
def qr_levels_command(
    frames: int, seed: int, levels: str, code_mm: float, frame_size: str, as_json: bool
) -> None:
    """Door read rates of a real presentation's QR code at error-correction levels L, M, Q."""
    try:
        width, height = (int(part) for part in frame_size.lower().split("x"))
    except ValueError:
        raise click.BadParameter("WIDTHxHEIGHT, e.g. 640x480", param_hint="--frame-size") from None
    if not (64 <= width <= 4096 and 64 <= height <= 4096):
        raise click.BadParameter("each side 64 to 4096 pixels", param_hint="--frame-size")
    chosen = [level.strip().upper() for level in levels.split(",") if level.strip()]
    unknown = [level for level in chosen if level not in ("L", "M", "Q", "H")]
    if unknown or not chosen:
        raise click.BadParameter("levels are L, M, Q or H, comma-separated", param_hint="--levels")
    result = measure(frames=frames, seed=seed, levels=chosen, code_mm=code_mm, size=(width, height))
    click.echo(json.dumps(result) if as_json else _table(result))


if __name__ == "__main__":
    qr_levels_command()
