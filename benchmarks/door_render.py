"""The door camera's renderer: a QR code on a phone screen (or a printed card) as a kiosk
camera photographs it. Shared by ``safecode bench qr-levels`` (benchmarks/qr_levels.py)
and the door frame set of ``safecode bench decoders --set door`` (benchmarks/door_frames.py).

:func:`render` takes a code's module matrix (:func:`encode`) and a :class:`Scene` (everything
random about one frame) and returns the grayscale frame:

* camera: ``size`` (default 640x480, ``kiosk.config.CameraSettings``), 62.2 degrees
  horizontal field of view (Raspberry Pi Camera Module 2), pinhole projection;
* the code with its 4-module quiet zone ``code_mm`` wide, on a screen (or paper) margin of
  ``margin_share`` of that width, inside a dark bezel ``bezel_mm`` wide (0 for a card),
  over a mid-grey scene with a light gradient; placed at ``distance_mm``, turned by
  ``roll_deg`` in its plane and tilted by ``tilt_deg`` about an in-plane axis;
* ``inverted`` draws light modules on a dark quiet zone (a dark-mode code);
  ``margin_level`` paints the margin around the quiet zone (a dark-mode page around a
  white code), default the quiet zone's own level;
* optics and sensor: supersampled 2x then area-averaged (pixel integration); moiré (two
  crossed sinusoids of ``moire`` relative amplitude and ``moire_period_px`` over the
  screen, the beat of the screen's pixel grid with the sensor's); a glare spot (a
  Gaussian highlight on the screen); linear motion blur of ``motion_px`` along
  ``motion_angle_deg``; Gaussian blur of ``blur_px`` (focus); Gaussian noise of std
  ``noise``; JPEG at ``jpeg_quality``.

The scene fields added for the door set (``inverted``, ``margin_level``, ``margin_share``,
``bezel_mm``, ``moire*``, ``motion*``) default to values that leave the frame exactly as
``qr-levels`` always drew it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import segno

from kiosk.config import CameraSettings

FRAME_SIZE = (CameraSettings.width, CameraSettings.height)
"""(width, height) of a kiosk frame: the camera settings' default, 640x480."""
HFOV_DEG = 62.2
"""Horizontal field of view of the Raspberry Pi Camera Module 2."""
CODE_MM = 50.0
QUIET_ZONE = 4
SUPERSAMPLE = 2
SOURCE_PX_PER_MODULE = 8
SCREEN_MARGIN = 0.10
"""White screen around the quiet zone, as a share of the code's width on each side."""
BEZEL_MM = 4.0
BEZEL_LEVEL = 18


@dataclass(frozen=True)
class Symbol:
    """A code's module matrix (1 = dark, no quiet zone) at one error-correction level."""

    level: str
    version: int
    matrix: np.ndarray

    @property
    def modules(self) -> int:
        return int(self.matrix.shape[0])


def encode(text: str, level: str, version: int | None = None) -> Symbol:
    """segno's QR (never Micro QR) for ``text`` at ``level``, level not boosted: the
    smallest version that holds it, or ``version`` if given (larger, or an error)."""
    qr = segno.make_qr(text, error=level.lower(), version=version, boost_error=False)
    if qr.error != level.upper():
        raise ValueError(f"segno made level {qr.error}, not {level}")
    return Symbol(level.upper(), int(qr.version), np.array(qr.matrix, dtype=np.uint8))


@dataclass(frozen=True)
class Scene:
    """Everything random about one frame."""

    distance_mm: float
    tilt_deg: float
    tilt_axis_deg: float
    roll_deg: float
    centre_share: tuple[float, float]
    blur_px: float
    glare: tuple[float, float, float, float] | None
    """(amplitude, sigma as a share of the code's width, u, v in the code's unit square)."""
    white: int
    dark: int
    background: int
    noise: float
    jpeg_quality: int
    inverted: bool = False
    margin_level: int | None = None
    margin_share: float = SCREEN_MARGIN
    bezel_mm: float = BEZEL_MM
    moire: float = 0.0
    moire_period_px: float = 6.0
    moire_angle_deg: float = 0.0
    motion_px: float = 0.0
    motion_angle_deg: float = 0.0


def _rotation(scene: Scene) -> np.ndarray:
    """Roll about the screen's normal, then tilt about an axis in the screen plane."""
    import cv2

    roll = math.radians(scene.roll_deg)
    rz = np.array(
        [[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]]
    )
    axis = math.radians(scene.tilt_axis_deg)
    vector = np.array([math.cos(axis), math.sin(axis), 0.0]) * math.radians(scene.tilt_deg)
    tilt, _ = cv2.Rodrigues(vector)
    return tilt @ rz


def focal_px(width: int = FRAME_SIZE[0], hfov_deg: float = HFOV_DEG) -> float:
    """The pinhole focal length in pixels of a ``width``-pixel frame."""
    return (width / 2) / math.tan(math.radians(hfov_deg) / 2)


def px_per_module(
    modules: int, distance_mm: float, *, code_mm: float = CODE_MM, width: int = FRAME_SIZE[0]
) -> float:
    """Frame pixels per module of a ``modules``-wide code seen face-on at ``distance_mm``."""
    return focal_px(width) * code_mm / (modules + 2 * QUIET_ZONE) / distance_mm


def motion_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """A normalised line kernel ``length_px`` long (at least 1) along ``angle_deg``."""
    import cv2

    size = max(1, int(math.ceil(length_px)) | 1)
    kernel = np.zeros((size, size), np.float32)
    centre = (size - 1) / 2
    dx = math.cos(math.radians(angle_deg)) * (length_px - 1) / 2
    dy = math.sin(math.radians(angle_deg)) * (length_px - 1) / 2
    shift = 4  # sub-pixel line ends
    cv2.line(
        kernel,
        (round((centre - dx) * 2**shift), round((centre - dy) * 2**shift)),
        (round((centre + dx) * 2**shift), round((centre + dy) * 2**shift)),
        1.0,
        thickness=1,
        lineType=cv2.LINE_AA,
        shift=shift,
    )
    total = float(kernel.sum())
    if total <= 0:
        kernel[int(centre), int(centre)] = 1.0
        total = 1.0
    return kernel / total


def render(
    symbol: Symbol,
    scene: Scene,
    rng: np.random.Generator,
    *,
    code_mm: float = CODE_MM,
    size: tuple[int, int] = FRAME_SIZE,
) -> np.ndarray:
    """The (height, width) uint8 frame a kiosk camera takes of ``symbol`` in ``scene``."""
    import cv2

    width, height = size
    s = SUPERSAMPLE
    # The phone: code + quiet zone, margin, dark bezel; in source pixels.
    px = SOURCE_PX_PER_MODULE
    quiet = symbol.modules + 2 * QUIET_ZONE
    mm_per_px = code_mm / (quiet * px)
    margin = int(round(scene.margin_share * quiet * px))
    bezel = int(round(scene.bezel_mm / mm_per_px))
    light, ink = (scene.dark, scene.white) if scene.inverted else (scene.white, scene.dark)
    levels = np.where(symbol.matrix == 1, ink, light).astype(np.uint8)
    code = np.repeat(np.repeat(levels, px, axis=0), px, axis=1)
    phone = np.pad(code, QUIET_ZONE * px, constant_values=light)
    margin_level = light if scene.margin_level is None else scene.margin_level
    phone = np.pad(phone, margin, constant_values=margin_level)
    if bezel > 0:
        phone = np.pad(phone, bezel, constant_values=BEZEL_LEVEL)
    side = phone.shape[0]

    # Where its corners land: a pinhole camera at the origin looking down +z.
    f = focal_px(width) * s
    half = side * mm_per_px / 2
    corners_mm = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]])
    rotated = corners_mm @ _rotation(scene).T
    depth = scene.distance_mm
    span_px = (quiet * px * mm_per_px) * focal_px(width) / depth  # code width in frame px
    room_x = max(0.0, (width - span_px * 1.2) / 2)
    room_y = max(0.0, (height - span_px * 1.2) / 2)
    centre_x = scene.centre_share[0] * room_x * depth / focal_px(width)
    centre_y = scene.centre_share[1] * room_y * depth / focal_px(width)
    points = rotated + np.array([centre_x, centre_y, depth])
    projected = np.stack(
        [
            f * points[:, 0] / points[:, 2] + width * s / 2,
            f * points[:, 1] / points[:, 2] + height * s / 2,
        ],
        axis=1,
    ).astype(np.float32)
    source = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float32)
    homography = cv2.getPerspectiveTransform(source, projected)

    big = np.full((height * s, width * s), scene.background, dtype=np.uint8)
    gradient = np.linspace(-20, 20, width * s, dtype=np.float32)[None, :]
    big = np.clip(big.astype(np.float32) + gradient, 0, 255).astype(np.uint8)
    cv2.warpPerspective(
        phone,
        homography,
        (width * s, height * s),
        dst=big,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    frame = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)

    if scene.moire > 0:
        frame *= 1.0 + scene.moire * _moire(scene, homography, side, bezel, size)
    if scene.glare is not None:
        amplitude, share, u, v = scene.glare
        start = bezel + margin
        stop = side - bezel - margin
        spot = np.array([[start + u * (stop - start), start + v * (stop - start)]], np.float32)
        centre = cv2.perspectiveTransform(spot[None], homography)[0, 0] / s
        sigma = max(1.0, share * span_px)
        ys, xs = np.ogrid[:height, :width]
        frame += amplitude * np.exp(
            -((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2)
        )
    if scene.motion_px > 1.0:
        frame = cv2.filter2D(frame, -1, motion_kernel(scene.motion_px, scene.motion_angle_deg))
    frame = cv2.GaussianBlur(frame, (0, 0), scene.blur_px)
    frame += rng.normal(0.0, scene.noise, frame.shape).astype(np.float32)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg_quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE))


def _moire(
    scene: Scene, homography: np.ndarray, side: int, bezel: int, size: tuple[int, int]
) -> np.ndarray:
    """Two crossed sinusoids (mean 0, peak 1) over the lit screen, 0 elsewhere."""
    import cv2

    width, height = size
    s = SUPERSAMPLE
    lit = np.zeros((side, side), np.uint8)
    lit[bezel : side - bezel, bezel : side - bezel] = 255
    mask = cv2.warpPerspective(lit, homography, (width * s, height * s), flags=cv2.INTER_LINEAR)
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    angle = math.radians(scene.moire_angle_deg)
    k = 2 * math.pi / scene.moire_period_px
    along = xs * math.cos(angle) + ys * math.sin(angle)
    across = -xs * math.sin(angle) + ys * math.cos(angle)
    wave = 0.5 * (np.cos(k * along) + np.cos(k * 1.13 * across))
    return wave * (mask / 255.0)
