"""A seeded, labelled set of door-camera frames made from the project's own codes.

A **visit** is ``frames`` consecutive frames (30: one second of a visitor holding up a
phone, as the issue puts it) of one real code, with correlated motion: the hand drifts
toward or away from the camera, sways and trembles, the screen turns and tilts a little,
all smooth from frame to frame. Each visit shows either

* a wallet's ``CHECKIN`` presentation (protocol/presentation.py: a day credential signed
  by a seeded issuer key, presented by a seeded wallet key) on a phone screen, at the
  wallet's error-correction level (``L``, wallet/src/app/qr.js: version 9), or
* a printed ``CARD`` presentation (28-day credential, one-off card key,
  ``protocol.presentation.make_card``) on paper, at the desk's level (``M``,
  aggregator/desk/printable.py) and the card's 62 mm code.

Per visit (seeded): distance 10-40 cm (the hand moves within it), tilt 0-40 degrees,
roll any way; focus blur that grows away from the focus distance (25 cm) and motion blur
from the frame-to-frame movement and the exposure time; and each with its own chance:
screen glare, moiré, dark mode (a dark page around the white code, or a light-on-dark
code), low light (a dim screen and scene, high sensor noise, long exposure); JPEG at
quality 50-90. Frames are ``size`` (the kiosk camera's 640x480 by default) and drawn by
:mod:`benchmarks.door_render`, the renderer ``qr-levels`` uses.

**Empty frames** hold no code: a door and wall, a person (clothes with stripes, checks or
plain, sometimes a phone with a blank screen), or a texture (tiles, bricks, random
blocks, foliage, printed text), through the same optics and sensor.

Everything is a pure function of ``(seed, visit, frame)`` or ``(seed, index)``: the same
seed gives the same frames and labels on any machine with the same OpenCV and numpy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys
from protocol.credential import issue_credential
from protocol.presentation import CodeType, make_card, present

from .door_render import FRAME_SIZE, QUIET_ZONE, Scene, Symbol, encode, focal_px, render

FRAMES_PER_VISIT = 30
VISIT_FPS = 30.0
"""The issue's "one second of a visitor holding the phone" is 30 frames; the kiosk's
camera asks for 15 fps (``CameraSettings.fps``), so at the kiosk 30 frames are 2 s."""
PHONE_LEVEL = "L"
"""wallet/src/app/qr.js ``ERROR_CORRECTION``."""
PHONE_CODE_MM = 50.0
CARD_LEVEL = "M"
"""aggregator/desk/printable.py ``QR_ERROR``."""
CARD_CODE_MM = 62.0
"""The card's SVG (code and quiet zone) is printed 62 mm wide."""
CARD_SHARE = 0.2
DISTANCE_MM = (100.0, 400.0)
MAX_TILT_DEG = 40.0
FOCUS_MM = 250.0
GLARE_SHARE = 0.4
MOIRE_SHARE = 0.4
DARK_SHARE = 0.3
INVERTED_SHARE_OF_DARK = 0.5
LOW_LIGHT_SHARE = 0.25
EMPTY_KINDS = ("door", "person", "texture")

DAY_START = 1_764_514_800  # 2025-12-01 00:00 KST


def seeded_key(label: str) -> Ed25519PrivateKey:
    """An Ed25519 key derived from ``label`` (benchmarks only)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def issuer_key(seed: int) -> Ed25519PrivateKey:
    """The issuer key that signed every credential of the set with ``seed``."""
    return seeded_key(f"door issuer {seed}")


def code_text(seed: int, visit: int, kind: str) -> str:
    """The ``SC1:`` text of visit ``visit``: a fresh ``checkin`` presentation or a ``card``."""
    issuer = issuer_key(seed)
    holder = seeded_key(f"door holder {seed} {visit}")
    credential_id = hashlib.sha256(f"door credential {seed} {visit}".encode()).digest()[:8]
    if kind == "checkin":
        credential = issue_credential(
            issuer,
            keys.public_bytes(holder),
            not_before=DAY_START,
            not_after=DAY_START + 86_400,
            credential_id=credential_id,
        )
        shown = DAY_START + 8 * 3600 + visit * 37
        return present(holder, credential, now=shown, code_type=CodeType.CHECKIN).to_text()
    if kind == "card":
        credential = issue_credential(
            issuer,
            keys.public_bytes(holder),
            not_before=DAY_START,
            not_after=DAY_START + 28 * 86_400,
            credential_id=credential_id,
        )
        return make_card(credential, holder, timestamp=DAY_START).to_text()
    raise ValueError(f"kind must be 'checkin' or 'card', not {kind!r}")


@dataclass(frozen=True)
class Visit:
    """One visit's code and its frames' scenes (render them with :func:`visit_frames`)."""

    seed: int
    visit: int
    kind: str
    text: str
    level: str
    code_mm: float
    scenes: tuple[Scene, ...]
    conditions: dict[str, bool]
    """``glare``, ``moire``, ``dark_mode``, ``inverted``, ``low_light`` for the whole visit."""

    def symbol(self, level: str | None = None) -> Symbol:
        """The visit's code at its own level, or at ``level``."""
        return encode(self.text, level or self.level)


def plan_visit(
    seed: int,
    visit: int,
    *,
    frames: int = FRAMES_PER_VISIT,
    size: tuple[int, int] = FRAME_SIZE,
    kind: str | None = None,
) -> Visit:
    """The code and the ``frames`` scenes of visit ``visit`` of the set with ``seed``."""
    rng = np.random.default_rng([seed, 1, visit])
    drawn_kind = "card" if rng.random() < CARD_SHARE else "checkin"
    kind = kind or drawn_kind
    card = kind == "card"
    code_mm = CARD_CODE_MM if card else PHONE_CODE_MM
    level = CARD_LEVEL if card else PHONE_LEVEL
    text = code_text(seed, visit, kind)

    low_light = bool(rng.random() < LOW_LIGHT_SHARE)
    dark_mode = (not card) and bool(rng.random() < DARK_SHARE)
    inverted = dark_mode and bool(rng.random() < INVERTED_SHARE_OF_DARK)
    glare_on = bool(rng.random() < (GLARE_SHARE if not card else GLARE_SHARE / 2))
    moire_on = (not card) and bool(rng.random() < MOIRE_SHARE)
    if low_light:
        white, dark = int(rng.integers(90, 161)), int(rng.integers(8, 31))
        background, noise = int(rng.integers(30, 81)), float(rng.uniform(8, 16))
        exposure = float(rng.uniform(0.7, 1.0))  # share of the frame interval
    else:
        white, dark = int(rng.integers(190, 246)), int(rng.integers(20, 61))
        background, noise = int(rng.integers(90, 171)), float(rng.uniform(2, 6))
        exposure = float(rng.uniform(0.15, 0.5))
    margin_level = int(rng.integers(10, 35)) if dark_mode and not inverted else None
    glare_amp = float(rng.uniform(30, 90) if card else rng.uniform(60, 200))
    glare_share = float(rng.uniform(0.3, 0.6) if card else rng.uniform(0.08, 0.25))
    glare_uv = rng.uniform(0.1, 0.9, 2)
    moire = float(rng.uniform(0.05, 0.25))
    moire_period = float(rng.uniform(3, 12))
    moire_angle = float(rng.uniform(0, 180))
    jpeg_quality = int(rng.integers(50, 91))
    focus_base = float(rng.uniform(0.3, 0.8))

    # Motion: depth drift and sway; lateral drift, sway and tremor (in frame pixels);
    # roll drift; tilt sway about a fixed axis.
    t = np.arange(frames) / VISIT_FPS
    d0 = float(rng.uniform(*DISTANCE_MM))
    depth = (
        d0
        + rng.normal(0, 60) * t
        + rng.uniform(0, 10)
        * np.sin(2 * math.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 2 * math.pi))
    )
    depth = _reflect(depth, *DISTANCE_MM)
    lateral = []
    for _axis in range(2):
        start = rng.uniform(-0.8, 0.8)
        drift = rng.normal(0, 40)  # px/s
        sway = rng.uniform(0, 15) * np.sin(
            2 * math.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 2 * math.pi)
        )
        tremor = rng.uniform(0, 3) * np.sin(
            2 * math.pi * rng.uniform(6, 12) * t + rng.uniform(0, 2 * math.pi)
        )
        lateral.append((start, drift * t + sway + tremor))
    roll = rng.uniform(0, 360) + rng.normal(0, 10) * t
    tilt0 = rng.uniform(0, MAX_TILT_DEG)
    tilt = _reflect(
        tilt0
        + rng.uniform(0, 4) * np.sin(2 * math.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 6)),
        0.0,
        MAX_TILT_DEG,
    )
    axis = rng.uniform(0, 180)

    width, height = size
    focal = focal_px(width)
    scenes = []
    previous: tuple[float, float] | None = None
    for i in range(frames):
        span = focal * code_mm / float(depth[i])
        room = (max(1.0, (width - 1.2 * span) / 2), max(1.0, (height - 1.2 * span) / 2))
        centre_px = [
            float(np.clip(start * room[k] + offset[i], -room[k], room[k]))
            for k, (start, offset) in enumerate(lateral)
        ]
        share = (centre_px[0] / room[0], centre_px[1] / room[1])
        if previous is None:  # the first frame: the hand's movement into the second
            step = (0.0, 0.0)
            if frames > 1:
                step = (
                    float(lateral[0][1][1] - lateral[0][1][0]),
                    float(lateral[1][1][1] - lateral[1][1][0]),
                )
        else:
            step = (centre_px[0] - previous[0], centre_px[1] - previous[1])
        previous = (centre_px[0], centre_px[1])
        motion = math.hypot(*step) * exposure
        glare = None
        if glare_on:
            u = float(np.clip(glare_uv[0] + 0.01 * (tilt[i] - tilt0), 0.05, 0.95))
            v = float(np.clip(glare_uv[1] + 0.002 * (roll[i] - roll[0]), 0.05, 0.95))
            glare = (glare_amp, glare_share, u, v)
        scenes.append(
            Scene(
                distance_mm=float(depth[i]),
                tilt_deg=float(tilt[i]),
                tilt_axis_deg=float(axis),
                roll_deg=float(roll[i] % 360),
                centre_share=share,
                blur_px=focus_base + 0.003 * abs(float(depth[i]) - FOCUS_MM),
                glare=glare,
                white=white,
                dark=dark,
                background=background,
                noise=noise,
                jpeg_quality=jpeg_quality,
                inverted=inverted,
                margin_level=margin_level,
                margin_share=0.3 if card else 0.10,
                bezel_mm=0.0 if card else 4.0,
                moire=moire if moire_on else 0.0,
                moire_period_px=moire_period,
                moire_angle_deg=moire_angle,
                motion_px=motion,
                motion_angle_deg=math.degrees(math.atan2(step[1], step[0])),
            )
        )
    return Visit(
        seed=seed,
        visit=visit,
        kind=kind,
        text=text,
        level=level,
        code_mm=code_mm,
        scenes=tuple(scenes),
        conditions={
            "glare": glare_on,
            "moire": moire_on,
            "dark_mode": dark_mode,
            "inverted": inverted,
            "low_light": low_light,
        },
    )


def _reflect(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` folded back into [low, high] at both ends (a hand bounces, not sticks)."""
    span = high - low
    folded = np.mod(values - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def visit_frames(
    visit: Visit, *, level: str | None = None, size: tuple[int, int] = FRAME_SIZE
) -> Iterator[np.ndarray]:
    """The visit's frames, at its own error-correction level or at ``level``."""
    symbol = visit.symbol(level)
    for index, scene in enumerate(visit.scenes):
        noise = np.random.default_rng([visit.seed, 2, visit.visit, index])
        yield render(symbol, scene, noise, code_mm=visit.code_mm, size=size)


def frame_facts(visit: Visit, index: int, level: str | None = None) -> dict[str, Any]:
    """The label and conditions of one frame, for tallies."""
    scene = visit.scenes[index]
    symbol = visit.symbol(level)
    quiet = symbol.modules + 2 * QUIET_ZONE
    return {
        "text": visit.text,
        "kind": visit.kind,
        "visit": visit.visit,
        "frame": index,
        "distance_cm": round(scene.distance_mm / 10, 1),
        "tilt_deg": round(scene.tilt_deg, 1),
        "px_per_module": round(focal_px() * visit.code_mm / quiet / scene.distance_mm, 2),
        "motion_px": round(scene.motion_px, 2),
        **visit.conditions,
    }


def clean_frame(visit: Visit, *, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The visit's code face-on at 12 cm in good light, no blur, glare or moiré."""
    scene = replace(
        visit.scenes[0],
        distance_mm=120.0,
        tilt_deg=0.0,
        centre_share=(0.0, 0.0),
        blur_px=0.4,
        glare=None,
        white=230,
        dark=30,
        background=130,
        noise=1.0,
        jpeg_quality=95,
        moire=0.0,
        motion_px=0.0,
    )
    return render(visit.symbol(), scene, np.random.default_rng(0), code_mm=visit.code_mm, size=size)


def empty_frame(
    seed: int, index: int, *, size: tuple[int, int] = FRAME_SIZE
) -> tuple[np.ndarray, str]:
    """Empty frame ``index`` of the set with ``seed`` and its kind (door, person, texture)."""
    import cv2

    rng = np.random.default_rng([seed, 3, index])
    kind = EMPTY_KINDS[index % len(EMPTY_KINDS)]
    low_light = bool(rng.random() < LOW_LIGHT_SHARE)
    canvas = _wall(rng, size)
    if kind in ("door", "person"):
        _door(rng, canvas)
    if kind == "person":
        _person(rng, canvas)
    if kind == "texture":
        canvas = _texture(rng, size)
    frame = canvas.astype(np.float32)
    if low_light:
        frame *= float(rng.uniform(0.25, 0.5))
    frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.5, 1.5)))
    noise = float(rng.uniform(8, 16) if low_light else rng.uniform(2, 6))
    frame += rng.normal(0.0, noise, frame.shape).astype(np.float32)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    quality = int(rng.integers(50, 91))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)), kind


def _wall(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    base = rng.uniform(90, 190)
    ramp = np.linspace(-25, 25, width)[None, :] * rng.choice([-1, 1])
    ramp = ramp + np.linspace(-15, 15, height)[:, None]
    return np.clip(base + ramp, 0, 255).astype(np.float32)


def _door(rng: np.random.Generator, canvas: np.ndarray) -> None:
    import cv2

    height, width = canvas.shape
    x0 = int(rng.integers(0, width // 2))
    x1 = x0 + int(rng.integers(width // 4, width // 2))
    y0 = int(rng.integers(-height // 4, height // 4))
    level = float(rng.uniform(40, 220))
    cv2.rectangle(canvas, (x0, y0), (x1, height + 10), level, -1)
    cv2.rectangle(canvas, (x0, y0), (x1, height + 10), level * 0.6, int(rng.integers(4, 14)))
    for _ in range(int(rng.integers(0, 4))):  # panels
        px0 = int(rng.integers(x0 + 10, max(x0 + 11, x1 - 40)))
        py0 = int(rng.integers(max(0, y0), height - 40))
        cv2.rectangle(canvas, (px0, py0), (px0 + 30, py0 + 40), level * 0.8, 2)
    handle = (int(x1 - 25), int(rng.integers(height // 3, 2 * height // 3)))
    cv2.circle(canvas, handle, int(rng.integers(5, 12)), float(rng.uniform(150, 250)), -1)
    if rng.random() < 0.5:  # a sign with text
        sx, sy = int(rng.integers(0, width - 160)), int(rng.integers(0, height - 60))
        cv2.rectangle(canvas, (sx, sy), (sx + 150, sy + 50), 235.0, -1)
        for line in range(2):
            words = "".join(chr(int(c)) for c in rng.integers(65, 91, 8))
            _write(canvas, words, (sx + 6, sy + 20 + 20 * line), 0.5, 20.0)
    floor = int(rng.integers(int(height * 0.75), height))
    canvas[floor:, :] *= float(rng.uniform(0.5, 0.9))


def _person(rng: np.random.Generator, canvas: np.ndarray) -> None:
    import cv2

    height, width = canvas.shape
    cx = int(rng.integers(width // 5, 4 * width // 5))
    head = int(rng.integers(40, 110))
    hy = int(rng.integers(head, height // 2))
    torso = np.zeros_like(canvas, dtype=np.uint8)
    cv2.ellipse(torso, (cx, hy + head * 3), (head * 2, head * 2), 0, 0, 360, 255, -1)
    cloth = _cloth(rng, canvas.shape)
    canvas[:] = np.where(torso > 0, cloth, canvas)
    cv2.ellipse(
        canvas, (cx, hy), (int(head * 0.8), head), 0, 0, 360, float(rng.uniform(90, 200)), -1
    )
    cv2.ellipse(
        canvas,
        (cx, hy - head // 2),
        (int(head * 0.85), head // 2),
        0,
        180,
        360,
        float(rng.uniform(10, 80)),
        -1,
    )  # hair
    if rng.random() < 0.4:  # a phone held up, screen lit but blank (or with a photo)
        pw = int(rng.integers(60, 160))
        px, py = int(rng.integers(0, width - pw)), int(rng.integers(0, height - 2 * pw))
        cv2.rectangle(canvas, (px, py), (px + pw, py + 2 * pw), 15.0, -1)
        inner = canvas[py + 6 : py + 2 * pw - 6, px + 6 : px + pw - 6]
        inner[:] = (
            rng.uniform(150, 250)
            + rng.normal(0, 25, (1, 1)) * np.linspace(-1, 1, inner.shape[1])[None, :]
        )


def _cloth(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    pattern = int(rng.integers(0, 4))
    a, b = float(rng.uniform(20, 120)), float(rng.uniform(120, 240))
    ys, xs = np.mgrid[:height, :width]
    period = int(rng.integers(6, 30))
    if pattern == 0:  # stripes
        cloth = np.where((ys // period) % 2 == 0, a, b)
    elif pattern == 1:  # checks (gingham)
        cloth = np.where(((ys // period) + (xs // period)) % 2 == 0, a, b)
    elif pattern == 2:  # plaid
        cloth = (a + b) / 2 + 30 * np.sin(xs / period) + 30 * np.sin(ys / (period * 1.7))
    else:
        cloth = np.full(shape, a)
    return cloth.astype(np.float32)


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    import cv2

    width, height = size
    pattern = int(rng.integers(0, 5))
    ys, xs = np.mgrid[:height, :width]
    lo, hi = float(rng.uniform(30, 110)), float(rng.uniform(140, 240))
    if pattern == 0:  # tiles
        cell = int(rng.integers(20, 80))
        grout = ((ys % cell) < 3) | ((xs % cell) < 3)
        out = np.where(grout, lo, hi)
    elif pattern == 1:  # bricks
        h = int(rng.integers(15, 40))
        w = h * 2
        row = ys // h
        mortar = ((ys % h) < 3) | (((xs + (row % 2) * (w // 2)) % w) < 3)
        out = np.where(mortar, hi, lo)
    elif pattern == 2:  # random blocks (a QR code's texture without its finder patterns)
        cell = int(rng.integers(3, 10))
        blocks = rng.random((height // cell + 1, width // cell + 1)) < 0.5
        out = np.where(np.kron(blocks, np.ones((cell, cell)))[:height, :width], lo, hi)
    elif pattern == 3:  # foliage
        out = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 4)
        out = lo + (hi - lo) * (out > 0)
    else:  # printed text
        out = np.full((height, width), hi, np.float32)
        for line in range(int(rng.integers(5, 20))):
            words = " ".join(
                "".join(chr(int(c)) for c in rng.integers(97, 123, int(rng.integers(2, 9))))
                for _ in range(6)
            )
            _write(
                out, words, (int(rng.integers(0, 40)), 30 + line * 24), rng.uniform(0.5, 0.9), lo
            )
    return np.asarray(out, np.float32)


def _write(
    canvas: np.ndarray, words: str, origin: tuple[int, int], scale: float, level: float
) -> None:
    """Print ``words`` in ``level`` on a float canvas (OpenCV draws text on uint8 only)."""
    import cv2

    ink = np.zeros(canvas.shape, np.uint8)
    cv2.putText(ink, words, origin, cv2.FONT_HERSHEY_SIMPLEX, float(scale), 255, 1, cv2.LINE_AA)
    alpha = ink.astype(np.float32) / 255.0
    canvas[:] = canvas * (1 - alpha) + level * alpha
