"""Frame sources: where the kiosk's grayscale camera frames come from.

Every source hands out :class:`Frame` objects holding a 2-D ``uint8`` grayscale image
(height x width, C-contiguous), the ``time.monotonic()`` of delivery and a running index.

* :class:`Picamera2FrameSource` - the Raspberry Pi camera (the Y plane of the lores stream).
* :class:`ReplayFrameSource` - image files from disk (recorded frames, test images).
* :class:`GeneratedFrameSource` - frames made by a callable (the demo's simulated visitors).

USB cameras (V4L2) and video files go through OpenCV in :mod:`kiosk.camera_opencv`;
:func:`kiosk.sources.frame_source` builds whichever the kiosk config names.

Sources are used from one thread: ``open`` (or ``with``), then ``read`` or iterate, then
``close``. ``read(timeout)`` returns ``None`` when no frame came within ``timeout`` seconds;
iteration yields frames until the source is exhausted or closed.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
from PIL import Image

from .image_budget import MAX_IMAGE_PIXELS, over_budget

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm"})
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "PPM")
"""The Pillow formats of :data:`IMAGE_SUFFIXES` (PPM reads .pgm): the only decoders
:func:`load_gray` lets Pillow pick, whatever a file's content claims to be."""

PICAMERA2_MISSING = (
    "picamera2 is not installed: on Raspberry Pi OS install python3-picamera2 and create "
    "the venv with --system-site-packages"
)


class FrameSourceError(Exception):
    """A frame source cannot deliver: missing device or file, bad image, wrong state."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One grayscale camera frame.

    ``eq=False`` keeps identity equality and hashing: comparing numpy arrays with ``==``
    is element-wise and cannot answer a plain ``bool``.
    """

    image: np.ndarray
    """2-D ``uint8`` grayscale, shape (height, width), C-contiguous."""
    timestamp: float
    """``time.monotonic()`` when the frame was delivered."""
    index: int
    """0 for the first frame a source delivers, then 1, 2, ..."""

    def __post_init__(self) -> None:
        image = self.image
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
            raise ValueError("Frame.image must be a 2-D uint8 numpy array")
        if not image.flags.c_contiguous:
            raise ValueError("Frame.image must be C-contiguous")

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])


def _as_gray_image(image: Any, what: str) -> np.ndarray:
    """Check that ``image`` is a non-empty 2-D uint8 array; return it C-contiguous."""
    if not isinstance(image, np.ndarray):
        raise FrameSourceError(f"{what}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 2 or image.size == 0:
        raise FrameSourceError(
            f"{what}: expected a non-empty 2-D uint8 array, got dtype {image.dtype} "
            f"shape {image.shape}"
        )
    return np.ascontiguousarray(image)


class FrameSource(abc.ABC):
    """A context-managed supply of grayscale frames.

    Subclasses implement ``_open``, ``_close`` and ``_read``; this class keeps the state
    (new, open, closed), numbers the frames and stamps them.
    """

    iter_timeout: float = 1.0
    """The timeout ``__iter__`` passes to ``read``."""

    def __init__(self) -> None:
        self._state = "new"
        self._next_index = 0
        self._exhausted = False

    # -- life cycle ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between a successful ``open`` and ``close``."""
        return self._state == "open"

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called."""
        return self._state == "closed"

    @property
    def exhausted(self) -> bool:
        """True once the source has no more frames to give (never for a camera)."""
        return self._exhausted

    def open(self) -> Self:
        """Acquire the device or files; idempotent while open. A closed source stays closed."""
        if self._state == "closed":
            raise FrameSourceError(f"{self!r} is closed and cannot be reopened")
        if self._state == "new":
            self._open()
            self._state = "open"
        return self

    def close(self) -> None:
        """Release the device or files; idempotent."""
        if self._state == "open":
            try:
                self._close()
            finally:
                self._state = "closed"
        else:
            self._state = "closed"

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- frames ---------------------------------------------------------------------------

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The next frame, or ``None`` if none came within ``timeout`` seconds.

        An exhausted source waits out ``timeout`` and returns ``None`` (so a caller's
        polling loop does not spin); check ``exhausted`` to tell the two apart.
        """
        if self._state != "open":
            raise FrameSourceError(f"{self!r} is not open (state: {self._state})")
        timeout = max(0.0, float(timeout))
        if self._exhausted:
            time.sleep(timeout)
            return None
        return self._read(timeout)

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames until the source is exhausted or closed; timeouts are skipped."""
        while self.is_open and not self._exhausted:
            frame = self.read(self.iter_timeout)
            if frame is not None:
                yield frame

    def _make_frame(self, image: np.ndarray) -> Frame:
        """Number and stamp a checked image."""
        frame = Frame(image=image, timestamp=time.monotonic(), index=self._next_index)
        self._next_index += 1
        return frame

    def _mark_exhausted(self) -> None:
        self._exhausted = True

    @abc.abstractmethod
    def _open(self) -> None:
        """Acquire resources; raise FrameSourceError on failure."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release resources."""

    @abc.abstractmethod
    def _read(self, timeout: float) -> Frame | None:
        """Deliver one frame or ``None``; call ``_mark_exhausted`` at the end of the supply."""


class _Pacer:
    """Spaces frames ``1/fps`` apart on the monotonic clock, without catch-up bursts."""

    def __init__(self, fps: float | None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.period = None if fps is None else 1.0 / fps
        self._due = 0.0

    def reset(self) -> None:
        self._due = time.monotonic()

    def wait(self, timeout: float) -> bool:
        """Sleep until the next frame is due; False (after ``timeout``) if that is later."""
        if self.period is None:
            return True
        delay = self._due - time.monotonic()
        if delay > timeout:
            time.sleep(timeout)
            return False
        if delay > 0:
            time.sleep(delay)
        return True

    def delivered(self) -> None:
        """A frame went out: the next one is due one period after the later of due and now."""
        if self.period is not None:
            self._due = max(self._due, time.monotonic()) + self.period


# -- replay ------------------------------------------------------------------------------


def _natural_key(path: Path) -> list[Any]:
    """Sort key: names compared with digit runs as numbers (2.png before 10.png)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def load_gray(path: str | os.PathLike[str], *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as a C-contiguous 2-D uint8 grayscale array (ITU-R 601 luma).

    Only :data:`IMAGE_FORMATS` are decoded, whatever the file's name. An image larger
    than ``max_pixels`` (or with a side over ``MAX_IMAGE_SIDE``) is refused from its
    header, before it is decoded (:mod:`kiosk.image_budget`). Whatever goes wrong reading
    the file comes out as :class:`FrameSourceError` naming the path.
    """
    path = Path(path)
    try:
        array = _decode_gray(path, max_pixels)
    except FrameSourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders fed hostile bytes raise
        # more than OSError/ValueError/SyntaxError (TypeError, NotImplementedError, ...
        # found by fuzzing): one unreadable file must not stop a decode or replay loop.
        raise FrameSourceError(f"cannot read image {path}: {exc}") from exc
    if array.ndim != 2 or array.size == 0:
        raise FrameSourceError(f"cannot read image {path}: empty or not 2-D ({array.shape})")
    return np.ascontiguousarray(array)


def _decode_gray(path: Path, max_pixels: int) -> np.ndarray:
    """Open ``path`` as one of :data:`IMAGE_FORMATS`, check its size, decode it to gray."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        refused = over_budget(*im.size, max_pixels)
        if refused is not None:
            raise FrameSourceError(f"refused image {path}: {refused}")
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            # 16-bit grayscale: keep the top byte (convert("L") would clip at 255).
            return (np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)
        return np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.uint8)


class ReplayFrameSource(FrameSource):
    """Replays image files as frames.

    ``paths_or_dir`` is a folder (its .png/.jpg/.jpeg/.bmp/.pgm files, sorted by name
    with numbers compared numerically), one image file, or an iterable of image paths
    (kept in the given order). Images are converted to grayscale with Pillow.

    With ``fps`` frames are spaced ``1/fps`` seconds apart; with ``loop`` the files play
    again from the start. A missing or unreadable image, or one over ``max_pixels``
    (:func:`load_gray`), raises :class:`FrameSourceError` naming the path, or, with
    ``skip_bad=True``, is skipped with a logged warning.
    """

    def __init__(
        self,
        paths_or_dir: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        fps: float | None = None,
        loop: bool = False,
        skip_bad: bool = False,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        super().__init__()
        self._spec = paths_or_dir
        self.max_pixels = max_pixels
        self._pacer = _Pacer(fps)
        self.loop = loop
        self.skip_bad = skip_bad
        self.paths: list[Path] = []
        self._pos = 0
        self._good_this_pass = 0

    def __repr__(self) -> str:
        spec = self._spec if isinstance(self._spec, str | os.PathLike) else "[...]"
        return f"ReplayFrameSource({str(spec)!r})"

    def _resolve(self) -> list[Path]:
        spec = self._spec
        if isinstance(spec, str | os.PathLike):
            root = Path(spec)
            if root.is_dir():
                files = [
                    p
                    for p in root.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                ]
                if not files:
                    raise FrameSourceError(f"no images (.png .jpg .jpeg .bmp .pgm) in {root}")
                return sorted(files, key=_natural_key)
            if not root.exists():
                raise FrameSourceError(f"no such image file or folder: {root}")
            return [root]
        paths = [Path(p) for p in spec]
        if not paths:
            raise FrameSourceError("ReplayFrameSource was given an empty list of images")
        return paths

    def _open(self) -> None:
        self.paths = self._resolve()
        self._pos = 0
        self._good_this_pass = 0
        self._pacer.reset()

    def _close(self) -> None:
        pass

    def _next_image(self) -> np.ndarray | None:
        """Load the next readable image, honouring loop and skip_bad; None at the end."""
        while True:
            if self._pos >= len(self.paths):
                if not self.loop:
                    return None
                if self._good_this_pass == 0:
                    raise FrameSourceError(
                        f"none of the {len(self.paths)} images in {self!r} could be read"
                    )
                self._pos = 0
                self._good_this_pass = 0
            path = self.paths[self._pos]
            self._pos += 1
            try:
                image = load_gray(path, max_pixels=self.max_pixels)
            except FrameSourceError as exc:
                if not self.skip_bad:
                    raise
                log.warning("replay: skipping %s", exc)
                continue
            self._good_this_pass += 1
            return image

    def _read(self, timeout: float) -> Frame | None:
        if not self._pacer.wait(timeout):
            return None
        image = self._next_image()
        if image is None:
            self._mark_exhausted()
            return None
        self._pacer.delivered()
        return self._make_frame(image)


# -- generated ---------------------------------------------------------------------------


class GeneratedFrameSource(FrameSource):
    """Frames made by ``make_frame(i)`` for i = 0, 1, 2, ...

    ``make_frame`` returns a 2-D uint8 grayscale array, or ``None`` to end the stream.
    ``limit`` caps the number of frames; ``fps`` spaces them ``1/fps`` seconds apart.
    """

    def __init__(
        self,
        make_frame: Callable[[int], np.ndarray | None],
        *,
        fps: float | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit!r}")
        self._make = make_frame
        self._pacer = _Pacer(fps)
        self.limit = limit
        self._calls = 0

    def __repr__(self) -> str:
        name = getattr(self._make, "__name__", type(self._make).__name__)
        return f"GeneratedFrameSource({name})"

    def _open(self) -> None:
        self._pacer.reset()

    def _close(self) -> None:
        pass

    def _read(self, timeout: float) -> Frame | None:
        if self.limit is not None and self._calls >= self.limit:
            self._mark_exhausted()
            return None
        if not self._pacer.wait(timeout):
            return None
        i = self._calls
        self._calls += 1
        made = self._make(i)
        if made is None:
            self._mark_exhausted()
            return None
        image = _as_gray_image(made, f"{self!r} frame {i}")
        self._pacer.delivered()
        return self._make_frame(image)


# -- Raspberry Pi camera -----------------------------------------------------------------


def yuv420_to_gray(buffer: np.ndarray, width: int, height: int, stride: int) -> np.ndarray:
    """The Y (luma) plane of a picamera2 YUV420 buffer, without the stride padding.

    ``buffer`` is either what ``Picamera2.capture_buffer("lores")`` returns, a 1-D uint8
    array holding the whole frame (``height`` Y rows of ``stride`` bytes, then the U and V
    planes at half resolution, possibly followed by alignment bytes), or what
    ``capture_array("lores")`` returns, the same bytes reshaped by picamera2's
    ``Helpers.make_array`` to ``(height * 3 // 2, stride)`` with the row padding left in.
    The first ``height`` rows of ``stride`` bytes are the Y plane. Returns a C-contiguous
    view when ``stride == width``, else a C-contiguous copy of the ``width`` leftmost
    columns.
    """
    if not isinstance(buffer, np.ndarray):
        raise FrameSourceError(f"YUV420 buffer must be a numpy array, not {type(buffer).__name__}")
    if buffer.dtype != np.uint8 or buffer.ndim not in (1, 2):
        raise FrameSourceError(
            f"YUV420 buffer must be a 1-D or 2-D uint8 array, got dtype {buffer.dtype} "
            f"shape {buffer.shape}"
        )
    if width <= 0 or height <= 0 or stride < width:
        raise FrameSourceError(
            f"bad YUV420 geometry: width {width}, height {height}, stride {stride}"
        )
    chroma_rows = (height + 1) // 2  # U and V: (height+1)//2 rows of stride//2 bytes each
    if buffer.ndim == 1:
        needed = stride * height + 2 * (stride // 2) * chroma_rows
        if buffer.size < needed:
            raise FrameSourceError(
                f"YUV420 buffer of {buffer.size} bytes is too short for {width}x{height} "
                f"stride {stride} (needs {needed})"
            )
        plane = buffer[: stride * height].reshape(height, stride)
    else:
        expected = (height * 3 // 2, stride)
        if buffer.shape != expected:
            raise FrameSourceError(
                f"YUV420 buffer shape {buffer.shape} does not match {width}x{height} "
                f"stride {stride} (expected {expected})"
            )
        plane = buffer[:height]
    return np.ascontiguousarray(plane[:, :width])


class Picamera2FrameSource(FrameSource):
    """Frames from the Raspberry Pi camera: the Y plane of a YUV420 ``lores`` stream.

    The camera is configured and started once in ``open`` and never reconfigured; each
    ``read`` takes one lores buffer (``capture_buffer("lores")``) and hands its Y plane,
    stride padding removed, to the decoder. ``size`` is (width, height) and must be even
    (picamera2 refuses odd sizes); the main stream is YUV420 of the same size, so the ISP
    makes no RGB frames nobody reads. ``fps`` fixes the frame rate through the
    ``FrameDurationLimits`` control. ``frame_timeout`` is the wait used when iterating.
    picamera2 is imported only in ``open``: it exists on Raspberry Pi OS
    (python3-picamera2), not on PyPI-only machines.
    """

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        frame_timeout: float = 1.0,
        *,
        fps: float = 15.0,
        camera_num: int = 0,
    ) -> None:
        super().__init__()
        width, height = size
        if width <= 0 or height <= 0:
            raise ValueError(f"bad camera size {size!r}")
        if not fps > 0 or not frame_timeout > 0:
            raise ValueError("fps and frame_timeout must be positive")
        self.size = (int(width), int(height))
        self.fps = float(fps)
        self.iter_timeout = float(frame_timeout)
        self.camera_num = camera_num
        self._camera: Any = None
        self._job: Any = None
        self._geometry: tuple[int, int, int] | None = None  # width, height, stride

    def __repr__(self) -> str:
        return f"Picamera2FrameSource(camera {self.camera_num}, {self.size[0]}x{self.size[1]})"

    @property
    def geometry(self) -> tuple[int, int, int] | None:
        """(width, height, stride) of the lores stream as configured, once open."""
        return self._geometry

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise FrameSourceError(f"{PICAMERA2_MISSING} ({exc})") from exc
        except (ValueError, RuntimeError, OSError) as exc:
            # Installed but broken, typically "numpy.dtype size changed, may indicate
            # binary incompatibility": apt's picamera2 and simplejpeg are built against
            # Raspberry Pi OS's numpy and the venv brought a newer one.
            raise FrameSourceError(
                f"{PICAMERA2_MISSING} ({exc}); if picamera2 is installed, the venv must use "
                "the system numpy (python3-numpy): run ./dev setup, which pins numpy to the "
                "system version when python3-picamera2 is installed"
            ) from exc
        camera = None
        try:
            camera = Picamera2(self.camera_num)
            period_us = int(round(1_000_000 / self.fps))
            config = camera.create_video_configuration(
                main={"size": self.size, "format": "YUV420"},
                lores={"size": self.size, "format": "YUV420"},
                controls={"FrameDurationLimits": (period_us, period_us)},
            )
            camera.configure(config)
            camera.start()
            lores = camera.stream_configuration("lores")
            width, height = (int(v) for v in lores["size"])
            stride = int(lores["stride"])
        except Exception as exc:
            if camera is not None:
                _quietly(camera.close)
            raise FrameSourceError(f"cannot start the camera: {exc}") from exc
        if (width, height) != self.size:
            log.warning("camera: lores stream is %dx%d, asked for %s", width, height, self.size)
        self._camera = camera
        self._geometry = (width, height, stride)

    def _read(self, timeout: float) -> Frame | None:
        # picamera2 (raspberrypi/picamera2, picamera2/picamera2.py): capture_buffer(name,
        # wait=None, signal_function=None) goes through dispatch_functions, where wait=False
        # returns a Job at once and Picamera2.wait(job, timeout) returns job.get_result(
        # timeout), a concurrent.futures Future result: it raises TimeoutError when no frame
        # completed in time. A timed-out job stays queued in the camera's job list
        # (Job.cancel does not unschedule it), so we keep it and wait on it again next read
        # rather than queueing one more job per timeout.
        camera = self._camera
        assert camera is not None and self._geometry is not None
        try:
            if self._job is None:
                self._job = camera.capture_buffer("lores", wait=False)
            buffer = camera.wait(self._job, timeout=timeout)
        except TimeoutError:
            return None
        except CancelledError:
            self._job = None
            return None
        except Exception as exc:
            self._job = None
            raise FrameSourceError(f"camera capture failed: {exc}") from exc
        self._job = None
        width, height, stride = self._geometry
        return self._make_frame(yuv420_to_gray(np.asarray(buffer), width, height, stride))

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        if self._job is not None:
            # Picamera2.cancel_all_and_flush(): cancels and clears pending jobs, "intended
            # for tidying up after an operation has unexpectedly timed out".
            _quietly(camera.cancel_all_and_flush)
            self._job = None
        _quietly(camera.stop)
        _quietly(camera.close)


def _quietly(action: Callable[[], object]) -> None:
    """Run a tidy-up call; log (do not raise) what it throws."""
    try:
        action()
    except Exception:  # noqa: BLE001 - tidy-up must not mask the original error
        log.warning("camera: %s failed during tidy-up", action, exc_info=True)
