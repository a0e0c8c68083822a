"""Frame sources through OpenCV: USB cameras and laptop webcams (V4L2), and video files.

OpenCV (``cv2``) is imported when a source opens, never at import time: it comes from
``pip install 'safecode[usb]'`` (opencv-python-headless) or, on a Raspberry Pi, from
apt's ``python3-opencv`` in a venv made with ``--system-site-packages``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .frames import Frame, FrameSource, FrameSourceError, _Pacer

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg"})

OPENCV_MISSING = (
    "OpenCV is not installed: pip install 'safecode[usb]' (opencv-python-headless), or on "
    "Raspberry Pi OS apt install python3-opencv and create the venv with "
    "--system-site-packages"
)


def import_cv2() -> Any:
    """``cv2``, or FrameSourceError saying how to install it."""
    try:
        import cv2
    except ImportError as exc:
        raise FrameSourceError(f"{OPENCV_MISSING} ({exc})") from exc
    return cv2


def to_gray(cv2: Any, image: Any, what: str) -> np.ndarray:
    """A C-contiguous 2-D uint8 grayscale copy of an OpenCV BGR, BGRA or gray image."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        raise FrameSourceError(f"{what}: OpenCV gave no usable image")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY))
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    raise FrameSourceError(f"{what}: unexpected image shape {image.shape}")


def device_arg(device: str | int) -> int | str:
    """OpenCV's V4L2 backend opens cameras by index: /dev/video2 -> 2; other paths as is."""
    if isinstance(device, int):
        return device
    text = str(device)
    if text.isdigit():
        return int(text)
    name = Path(text).name
    if text.startswith("/dev/") and name.startswith("video") and name[5:].isdigit():
        return int(name[5:])
    return text


class V4L2FrameSource(FrameSource):
    """A USB camera or a laptop webcam through OpenCV's V4L2 backend (Linux).

    ``device`` is ``/dev/videoN``, an index, or (with ``backend="any"``) anything OpenCV
    can open, such as a video file. The size and rate are requested once in ``open``; the
    camera may pick others (logged, and reported by ``geometry``). The driver queue is kept
    to one buffer so frames are fresh. A failed read gives ``None``, like a timeout.

    ``frame_timeout``: OpenCV's V4L2 backend ignores ``CAP_PROP_READ_TIMEOUT_MSEC`` (FFmpeg
    and GStreamer only) and waits ``OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT`` whole seconds
    (default 10) for a frame, read once per process. ``open`` sets that variable to
    ``frame_timeout`` rounded up to a second, unless the operator already set it.
    """

    def __init__(
        self,
        device: str | int = "/dev/video0",
        *,
        size: tuple[int, int] = (640, 480),
        fps: float = 15.0,
        frame_timeout: float = 1.0,
        backend: str = "v4l2",
    ) -> None:
        super().__init__()
        if backend not in ("v4l2", "any"):
            raise ValueError(f"backend must be 'v4l2' or 'any', not {backend!r}")
        if not fps > 0 or not frame_timeout > 0:
            raise ValueError("fps and frame_timeout must be positive")
        self.device = device
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.iter_timeout = float(frame_timeout)
        self.backend = backend
        self._cv2: Any = None
        self._capture: Any = None
        self._geometry: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"V4L2FrameSource({str(self.device)!r})"

    @property
    def geometry(self) -> tuple[int, int] | None:
        """(width, height) the camera delivers, once open."""
        return self._geometry

    def _open(self) -> None:
        if self.backend == "v4l2":
            seconds = str(max(1, math.ceil(self.iter_timeout)))
            os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", seconds)
        cv2 = import_cv2()
        api = cv2.CAP_V4L2 if self.backend == "v4l2" and sys.platform == "linux" else cv2.CAP_ANY
        capture = cv2.VideoCapture(device_arg(self.device), api)
        if not capture.isOpened():
            capture.release()
            raise FrameSourceError(
                f"cannot open camera {self.device!r} (is it plugged in, and is this user in "
                "the 'video' group?)"
            )
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (width, height) != self.size:
            log.warning(
                "camera %s delivers %dx%d, asked for %s", self.device, width, height, self.size
            )
        self._cv2, self._capture = cv2, capture
        self._geometry = (width, height)

    def _close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def _read(self, timeout: float) -> Frame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        return self._make_frame(to_gray(self._cv2, image, repr(self)))


class VideoFrameSource(FrameSource):
    """Replays a video file's frames as grayscale, through OpenCV.

    With ``fps`` frames are spaced ``1/fps`` seconds apart (else as fast as they decode);
    with ``loop`` the video plays again from the start. A video with no readable frame
    raises :class:`FrameSourceError` rather than looping on nothing.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float | None = None, loop: bool = False
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self._pacer = _Pacer(fps)
        self.loop = loop
        self._cv2: Any = None
        self._capture: Any = None
        self._frames_this_pass = 0

    def __repr__(self) -> str:
        return f"VideoFrameSource({str(self.path)!r})"

    def _open(self) -> None:
        cv2 = import_cv2()
        if not self.path.is_file():
            raise FrameSourceError(f"no such video file: {self.path}")
        self._cv2 = cv2
        self._capture = self._start()
        self._pacer.reset()

    def _start(self) -> Any:
        capture = self._cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise FrameSourceError(f"cannot read video {self.path}: OpenCV cannot open it")
        self._frames_this_pass = 0
        return capture

    def _close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def _next_image(self) -> Any:
        ok, image = self._capture.read()
        if ok and image is not None:
            return image
        if not self.loop:
            return None
        if self._frames_this_pass == 0:
            raise FrameSourceError(f"cannot read video {self.path}: it has no readable frame")
        self._capture.release()
        self._capture = self._start()
        return self._next_image()

    def _read(self, timeout: float) -> Frame | None:
        if not self._pacer.wait(timeout):
            return None
        image = self._next_image()
        if image is None:
            if self._frames_this_pass == 0:
                raise FrameSourceError(f"cannot read video {self.path}: it has no readable frame")
            self._mark_exhausted()
            return None
        self._frames_this_pass += 1
        self._pacer.delivered()
        return self._make_frame(to_gray(self._cv2, image, repr(self)))


def is_video(path: str | os.PathLike[str]) -> bool:
    """True for a file whose suffix names a video container."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
