"""Decoder figures on a folder of labelled QR images, and on frames holding no code.

``decoder_figures(paths)`` times every candidate decoder on the same images in the same
loop (so machine load hits them alike), ``repeats`` times each, and reports for each: the
read rate (the expected text among the texts read), the mean and median over images of the
per-image median milliseconds, the median milliseconds on empty 640x480 frames, and the
ratios of the cascade's costs to zxing-cpp alone measured in that same run.

A labelled image is ``N.png`` (or .jpg .jpeg .gif .bmp .pgm) with its expected text in
``N.bin`` (ISO-8859-1) or else ``N.txt`` (UTF-8), the layout of zxing's blackbox tests.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.decoders import (
    CascadeDecoder,
    Decoder,
    PyzbarDecoder,
    SeenFallbackCascade,
    ZxingDecoder,
    default_decoder,
)
from kiosk.frames import load_gray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".pgm")
EMPTY_SIZE = (640, 480)


def shared_data_dir() -> Path:
    """``$SAFECODE_SHARED_DATA``, else ``shared/data`` beside the checkout."""
    env = os.environ.get("SAFECODE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def dataset_dir(name: str) -> Path:
    """A named set under ``<shared data>/qr`` (e.g. ``zxing-blackbox``), or a folder path."""
    candidate = Path(name)
    if candidate.is_dir():
        return candidate
    return shared_data_dir() / "qr" / name


@dataclass(frozen=True)
class Case:
    """One labelled image."""

    path: Path
    expected: str


def labelled_images(root: Path) -> list[Case]:
    """Every labelled image under ``root`` (recursively), sorted by path."""
    cases = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        binary, text = path.with_suffix(".bin"), path.with_suffix(".txt")
        if binary.exists():
            cases.append(Case(path, binary.read_bytes().decode("iso-8859-1")))
        elif text.exists():
            # Bytes, not read_text: universal newlines would turn \r\n into \n.
            cases.append(Case(path, text.read_bytes().decode("utf-8")))
    return cases


def candidates() -> dict[str, Decoder]:
    """The decoders compared: each alone, the cascades considered, and the default."""
    return {
        # zxing-cpp alone: the library's defaults (QR only, plain text, no error reports).
        "zxing": ZxingDecoder(return_errors=False),
        "pyzbar": PyzbarDecoder(),
        "zxing-global": ZxingDecoder(binarizer="global"),
        "zxing-no-invert": ZxingDecoder(try_invert=False),
        "zxing+pyzbar": CascadeDecoder([ZxingDecoder(), PyzbarDecoder()], name="zxing+pyzbar"),
        "zxing+zxing-global": SeenFallbackCascade(
            [ZxingDecoder(), ZxingDecoder(binarizer="global")], None, name="zxing+zxing-global"
        ),
        "zxing+pyzbar-if-seen": SeenFallbackCascade(
            [ZxingDecoder()], PyzbarDecoder(), name="zxing+pyzbar-if-seen"
        ),
        "zxing+zxing-global+pyzbar-if-seen": SeenFallbackCascade(
            [ZxingDecoder(), ZxingDecoder(binarizer="global")],
            PyzbarDecoder(),
            name="zxing+zxing-global+pyzbar-if-seen",
        ),
        "cascade": default_decoder(),
    }


def empty_frames(count: int, size: tuple[int, int] = EMPTY_SIZE) -> list[np.ndarray]:
    """Frames with nobody in view: a grey, noisy scene with a light gradient and edges."""
    width, height = size
    frames = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        ramp = np.linspace(70, 170, width)[None, :] + np.linspace(-20, 20, height)[:, None]
        scene = ramp + rng.normal(0, 6, (height, width))
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        scene[y0 : y0 + height // 3, x0 : x0 + width // 4] -= 50  # a door frame, a coat
        frames.append(np.clip(scene, 0, 255).astype(np.uint8))
    return frames


def _timed(decoder: Decoder, image: np.ndarray) -> tuple[list[str], float]:
    start = time.perf_counter()
    texts = [d.text for d in decoder.decode(image)]
    return texts, (time.perf_counter() - start) * 1000.0


def decoder_figures(
    paths: Iterable[Path | str],
    repeats: int = 3,
    *,
    empty: int = 5,
    decoders: Mapping[str, Decoder] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Read rate and cost of each decoder on the labelled images found under ``paths``.

    ``paths`` are folders (searched recursively) or labelled image files. Every decoder
    decodes every image ``repeats`` times; each image's cost is its median. ``empty``
    frames with no code are timed likewise. The dict holds, per decoder: ``read``,
    ``read_rate``, ``mean_ms``, ``median_ms``, ``empty_median_ms``; plus
    ``cascade_vs_zxing_mean_cost`` and ``cascade_vs_zxing_empty_cost`` (ratios in this run).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    cases = _cases_under(paths)
    decoders = dict(decoders) if decoders is not None else candidates()
    if "zxing" not in decoders or "cascade" not in decoders:
        raise ValueError("decoders must include 'zxing' and 'cascade' for the ratios")
    images = [load_gray(case.path) for case in cases]
    blanks = empty_frames(empty)
    costs: dict[str, list[list[float]]] = {name: [[] for _ in cases] for name in decoders}
    empty_costs: dict[str, list[float]] = {name: [] for name in decoders}
    read: dict[str, set[int]] = {name: set() for name in decoders}
    for rep in range(repeats):
        if progress:
            progress(f"pass {rep + 1} of {repeats}")
        for i, (case, image) in enumerate(zip(cases, images, strict=True)):
            for name, decoder in decoders.items():
                texts, ms = _timed(decoder, image)
                costs[name][i].append(ms)
                if case.expected in texts:
                    read[name].add(i)
        for blank in blanks:
            for name, decoder in decoders.items():
                texts, ms = _timed(decoder, blank)
                empty_costs[name].append(ms)
    per_decoder = {
        name: _decoder_figures(costs[name], empty_costs[name], read[name], len(cases))
        for name in decoders
    }
    zxing, cascade = per_decoder["zxing"], per_decoder["cascade"]
    return {
        "images": len(cases),
        "repeats": repeats,
        "empty_frames": len(blanks),
        "empty_frame_size": list(EMPTY_SIZE),
        "decoders": per_decoder,
        "default": repr(decoders["cascade"]),
        "cascade_read_rate": cascade["read_rate"],
        "zxing_read_rate": zxing["read_rate"],
        "cascade_vs_zxing_mean_cost": round(cascade["mean_ms"] / zxing["mean_ms"], 3),
        "cascade_vs_zxing_empty_cost": round(
            cascade["empty_median_ms"] / zxing["empty_median_ms"], 3
        ),
        "missed_by_cascade": [
            str(cases[i].path) for i in range(len(cases)) if i not in read["cascade"]
        ],
        "machine": machine_info(),
    }


def _cases_under(paths: Iterable[Path | str]) -> list[Case]:
    """The labelled images in the folders (recursively) and files of ``paths``."""
    cases: list[Case] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            cases.extend(labelled_images(path))
        elif path.is_file():
            cases.extend(c for c in labelled_images(path.parent) if c.path == path)
        else:
            raise FileNotFoundError(f"no such folder or image: {path}")
    if not cases:
        raise ValueError("no labelled images (N.png with N.txt or N.bin) found")
    return cases


def _decoder_figures(
    costs: list[list[float]], empty_costs: list[float], read: set[int], images: int
) -> dict[str, Any]:
    """One decoder's read rate and costs; each image's cost is the median of its repeats."""
    per_image = [statistics.median(c) for c in costs]
    return {
        "read": len(read),
        "read_rate": round(len(read) / images, 4),
        "mean_ms": round(statistics.mean(per_image), 3),
        "median_ms": round(statistics.median(per_image), 3),
        "empty_median_ms": round(statistics.median(empty_costs), 3),
    }


def machine_info() -> dict[str, Any]:
    """Where the figures were measured."""
    import zxingcpp

    return {
        "machine": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "zxing_cpp": getattr(zxingcpp, "__version__", _version("zxing-cpp")),
        "pyzbar": _version("pyzbar"),
    }


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
