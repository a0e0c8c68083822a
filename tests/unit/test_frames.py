"""Frame sources: YUV420 conversion, replay, generated frames, the picamera2 wrapper."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import time
import types
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kiosk.frames import (
    PICAMERA2_MISSING,
    Frame,
    FrameSourceError,
    GeneratedFrameSource,
    Picamera2FrameSource,
    ReplayFrameSource,
    load_gray,
    yuv420_to_gray,
)

# -- yuv420_to_gray ------------------------------------------------------------------------


def recorded_yuv420(width: int, height: int, stride: int, seed: int = 0) -> tuple[Any, Any]:
    """A buffer laid out like picamera2's capture_array("lores") for YUV420, and its Y plane.

    Rows are ``stride`` bytes; bytes past ``width`` are padding (255s here); the chroma
    planes (height/2 rows) follow the Y plane.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 255, (height, width), dtype=np.uint8)  # never 255: padding is
    buffer = np.full((height * 3 // 2, stride), 255, dtype=np.uint8)
    buffer[:height, :width] = y
    buffer[height:, :width] = rng.integers(0, 256, (height // 2, width), dtype=np.uint8)
    return buffer, y


@pytest.mark.parametrize(("width", "stride"), [(640, 640), (500, 512), (320, 384)])
def test_yuv420_to_gray_takes_the_y_plane_without_padding(width: int, stride: int) -> None:
    height = 480
    buffer, y = recorded_yuv420(width, height, stride)
    gray = yuv420_to_gray(buffer, width, height, stride)
    assert gray.shape == (height, width)
    assert gray.dtype == np.uint8
    assert gray.flags.c_contiguous
    np.testing.assert_array_equal(gray, y)
    assert not (gray == 255).any()  # no padding byte came through


def test_yuv420_to_gray_is_a_view_when_there_is_no_padding() -> None:
    buffer, _ = recorded_yuv420(640, 480, 640)
    gray = yuv420_to_gray(buffer, 640, 480, 640)
    assert np.shares_memory(gray, buffer)
    padded, _ = recorded_yuv420(500, 480, 512)
    assert not np.shares_memory(yuv420_to_gray(padded, 500, 480, 512), padded)


@pytest.mark.parametrize(
    ("shape", "dtype", "geometry"),
    [
        ((720, 640), np.uint8, (640, 480, 512)),  # stride differs
        ((720, 512), np.uint8, (500, 480, 640)),  # stride differs the other way
        ((480, 640), np.uint8, (640, 480, 640)),  # Y plane only, no chroma rows
        ((720, 640), np.uint16, (640, 480, 640)),  # wrong dtype
        ((720, 640), np.uint8, (700, 480, 640)),  # width > stride
        ((720, 640), np.uint8, (0, 480, 640)),  # empty width
        ((720, 640), np.uint8, (640, 0, 640)),  # empty height
    ],
)
def test_yuv420_to_gray_rejects_mismatched_buffers(
    shape: tuple[int, int], dtype: Any, geometry: tuple[int, int, int]
) -> None:
    with pytest.raises(FrameSourceError):
        yuv420_to_gray(np.zeros(shape, dtype=dtype), *geometry)


def flat_yuv420(width: int, height: int, stride: int, seed: int = 0, tail: int = 0) -> tuple:
    """A 1-D buffer laid out like picamera2's capture_buffer("lores") for YUV420, and its Y.

    ``height`` Y rows of ``stride`` bytes (padding 255), then U and V planes of
    (height+1)//2 rows of stride//2 bytes, then ``tail`` alignment bytes.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 255, (height, width), dtype=np.uint8)
    luma = np.full((height, stride), 255, dtype=np.uint8)
    luma[:, :width] = y
    chroma = rng.integers(0, 256, 2 * (stride // 2) * ((height + 1) // 2), dtype=np.uint8)
    return np.concatenate([luma.ravel(), chroma, np.full(tail, 255, np.uint8)]), y


@pytest.mark.parametrize(
    ("width", "height", "stride", "tail"),
    [(640, 480, 640, 0), (500, 376, 512, 0), (501, 375, 512, 4096), (33, 17, 64, 0), (1, 1, 32, 0)],
)
def test_yuv420_flat_buffer_gives_the_y_plane(
    width: int, height: int, stride: int, tail: int
) -> None:
    """capture_buffer's 1-D buffers, odd sizes and trailing alignment bytes included."""
    buffer, y = flat_yuv420(width, height, stride, tail=tail)
    gray = yuv420_to_gray(buffer, width, height, stride)
    assert gray.shape == (height, width) and gray.flags.c_contiguous
    np.testing.assert_array_equal(gray, y)
    assert not (gray == 255).any()
    frame = Frame(gray, 0.0, 0)  # the kiosk's Frame accepts it as it is
    assert (frame.width, frame.height) == (width, height)


def test_yuv420_flat_buffer_too_short_or_colour_is_refused() -> None:
    buffer, _ = flat_yuv420(500, 376, 512)
    with pytest.raises(FrameSourceError, match="too short"):
        yuv420_to_gray(buffer[:-1], 500, 376, 512)
    with pytest.raises(FrameSourceError, match="too short"):
        yuv420_to_gray(np.zeros(640 * 480, dtype=np.uint8), 640, 480, 640)  # Y plane only
    with pytest.raises(FrameSourceError):
        yuv420_to_gray(np.zeros((720, 640, 3), dtype=np.uint8), 640, 480, 640)
    with pytest.raises(FrameSourceError):
        yuv420_to_gray(buffer.astype(np.int16), 500, 376, 512)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 80),
    height=st.integers(1, 60),
    pad=st.integers(0, 40),
    tail=st.integers(0, 64),
)
def test_yuv420_any_geometry_round_trips(width: int, height: int, pad: int, tail: int) -> None:
    buffer, y = flat_yuv420(width, height, width + pad, seed=width * height, tail=tail)
    np.testing.assert_array_equal(yuv420_to_gray(buffer, width, height, width + pad), y)


# -- Frame -----------------------------------------------------------------------------------


def test_frame_checks_its_image() -> None:
    frame = Frame(np.zeros((4, 6), np.uint8), 1.0, 0)
    assert (frame.width, frame.height) == (6, 4)
    with pytest.raises(ValueError):
        Frame(np.zeros((4, 6), np.float32), 1.0, 0)
    with pytest.raises(ValueError):
        Frame(np.zeros((4, 6, 3), np.uint8), 1.0, 0)
    with pytest.raises(ValueError):
        Frame(np.zeros((4, 6), np.uint8)[:, ::2], 1.0, 0)


# -- ReplayFrameSource -----------------------------------------------------------------------


def gray_png(path: Path, value: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    image = np.full((size[1], size[0]), value, dtype=np.uint8)
    image[0, 0] = 255 - value  # not uniform, so a transposition would show
    Image.fromarray(image).save(path)
    return image


@pytest.fixture
def replay_dir(tmp_path: Path) -> Path:
    """2.png, 10.png (natural order puts 2 first), an RGB BMP, a PGM, a JPEG, a README."""
    gray_png(tmp_path / "10.png", 100)
    gray_png(tmp_path / "2.png", 20)
    Image.new("RGB", (8, 6), (255, 0, 0)).save(tmp_path / "30.bmp")
    gray_png(tmp_path / "40.pgm", 40)
    Image.fromarray(np.full((6, 8), 128, np.uint8)).save(tmp_path / "50.JPG", quality=95)
    (tmp_path / "README.txt").write_text("not an image")
    return tmp_path


def test_replay_reads_a_folder_in_natural_order_as_grayscale(replay_dir: Path) -> None:
    with ReplayFrameSource(replay_dir) as source:
        frames = list(source)
        assert source.exhausted
        assert source.read(timeout=0) is None
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [int(f.image[1, 1]) for f in frames[:2]] == [20, 100]
    assert int(frames[0].image[0, 0]) == 235
    red = int(round(255 * 0.299))  # Pillow's "L" conversion is ITU-R 601-2 luma
    assert abs(int(frames[2].image[1, 1]) - red) <= 1
    assert int(frames[3].image[1, 1]) == 40
    assert abs(int(frames[4].image[3, 3]) - 128) <= 2  # JPEG is lossy
    for f in frames:
        assert f.image.shape == (6, 8) and f.image.dtype == np.uint8
        assert f.image.flags.c_contiguous
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)


def test_replay_an_explicit_list_keeps_its_order(replay_dir: Path) -> None:
    paths = [replay_dir / "10.png", replay_dir / "2.png", replay_dir / "10.png"]
    with ReplayFrameSource(paths) as source:
        assert [int(f.image[1, 1]) for f in source] == [100, 20, 100]


def test_replay_one_file(replay_dir: Path) -> None:
    with ReplayFrameSource(str(replay_dir / "40.pgm")) as source:
        assert len(list(source)) == 1


def test_replay_loops(replay_dir: Path) -> None:
    paths = [replay_dir / "2.png", replay_dir / "10.png"]
    with ReplayFrameSource(paths, loop=True) as source:
        frames = [source.read() for _ in range(5)]
        assert not source.exhausted
    assert all(f is not None for f in frames)
    assert [int(f.image[1, 1]) for f in frames if f] == [20, 100, 20, 100, 20]
    assert [f.index for f in frames if f] == [0, 1, 2, 3, 4]


def test_replay_unreadable_image_raises_naming_the_path(replay_dir: Path) -> None:
    broken = replay_dir / "20.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with ReplayFrameSource(replay_dir) as source:
        assert source.read() is not None  # 2.png
        assert source.read() is not None  # 10.png
        with pytest.raises(FrameSourceError, match="20.png"):
            source.read()


def test_replay_truncated_image_raises(tmp_path: Path) -> None:
    gray_png(tmp_path / "1.png", 10, size=(64, 64))
    data = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameSourceError, match="1.png"):
        load_gray(tmp_path / "1.png")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_images_over_the_pixel_budget_are_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    from tests.unit.hostile_png import write_png

    wide = write_png(tmp_path / "wide.png", 70_000, 1)  # 149 bytes, wider than any decoder
    huge = write_png(tmp_path / "huge.png", 13_370, 13_370)  # 22 kB; 1.3 GB once decoded
    fine = write_png(tmp_path / "fine.png", 640, 480)
    loaded: list[str] = []
    real_load = ImageFile.ImageFile.load

    def load(image: Any) -> Any:
        loaded.append(str(image.size))
        assert image.size == (640, 480), "decoded an image over the budget"
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    with pytest.raises(FrameSourceError, match=r"refused image .*wide.png: 70000x1"):
        load_gray(wide)
    with pytest.raises(FrameSourceError, match=r"refused image .*huge.png: 13370x13370"):
        load_gray(huge)
    with pytest.raises(FrameSourceError, match="over the budget of 1000 pixels"):
        load_gray(fine, max_pixels=1000)
    assert loaded == []
    assert load_gray(fine).shape == (480, 640)
    with ReplayFrameSource([wide, huge, fine], skip_bad=True) as source:  # the replay camera
        assert [f.image.shape for f in source] == [(480, 640)]
    with (
        ReplayFrameSource([fine], max_pixels=1000) as source,
        pytest.raises(FrameSourceError, match="over the budget"),
    ):
        source.read()


def test_replay_missing_file_in_a_list_raises_naming_it(replay_dir: Path) -> None:
    with ReplayFrameSource([replay_dir / "2.png", replay_dir / "gone.png"]) as source:
        assert source.read() is not None
        with pytest.raises(FrameSourceError, match="gone.png"):
            source.read()


def test_replay_skip_bad_logs_and_goes_on(
    replay_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (replay_dir / "20.png").write_bytes(b"garbage")
    paths = [replay_dir / "2.png", replay_dir / "20.png", replay_dir / "missing.png"]
    paths.append(replay_dir / "10.png")
    with (
        caplog.at_level(logging.WARNING, logger="kiosk.frames"),
        ReplayFrameSource(paths, skip_bad=True) as source,
    ):
        values = [int(f.image[1, 1]) for f in source]
    assert values == [20, 100]
    assert "20.png" in caplog.text and "missing.png" in caplog.text


def test_replay_loop_over_only_bad_images_raises(tmp_path: Path) -> None:
    (tmp_path / "1.png").write_bytes(b"garbage")
    source = ReplayFrameSource(tmp_path, loop=True, skip_bad=True)
    with source, pytest.raises(FrameSourceError, match="could be read"):
        source.read()


def test_replay_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="no such"):
        ReplayFrameSource(tmp_path / "nowhere").open()
    with pytest.raises(FrameSourceError, match="no images"):
        ReplayFrameSource(tmp_path).open()


def test_replay_fps_pacing(replay_dir: Path) -> None:
    fps = 40.0
    with ReplayFrameSource(replay_dir, fps=fps, loop=True) as source:
        start = time.monotonic()
        frames = [source.read(timeout=1.0) for _ in range(9)]
        elapsed = time.monotonic() - start
    assert all(f is not None for f in frames)
    assert elapsed >= 8 / fps * 0.95  # the first frame is due at once
    assert elapsed < 8 / fps + 0.5
    gaps = np.diff([f.timestamp for f in frames if f])
    assert gaps.min() >= 1 / fps * 0.8


def test_replay_read_times_out_before_the_next_frame_is_due(replay_dir: Path) -> None:
    with ReplayFrameSource(replay_dir, fps=2.0) as source:
        assert source.read(timeout=0.0) is not None
        start = time.monotonic()
        assert source.read(timeout=0.05) is None  # next frame is due in 0.5 s
        assert 0.04 <= time.monotonic() - start < 0.4
        assert not source.exhausted


def test_context_manager_closes_and_state_is_enforced(replay_dir: Path) -> None:
    source = ReplayFrameSource(replay_dir)
    with pytest.raises(FrameSourceError, match="not open"):
        source.read()
    with source as opened:
        assert opened is source and source.is_open
    assert source.closed and not source.is_open
    with pytest.raises(FrameSourceError):
        source.read()
    with pytest.raises(FrameSourceError, match="closed"):
        source.open()
    source.close()  # idempotent
    assert list(source) == []


def test_context_manager_closes_on_error(replay_dir: Path) -> None:
    source = ReplayFrameSource(replay_dir)
    with pytest.raises(RuntimeError), source:
        raise RuntimeError("boom")
    assert source.closed


# -- GeneratedFrameSource --------------------------------------------------------------------


def test_generated_limit_and_index() -> None:
    calls: list[int] = []

    def make(i: int) -> np.ndarray:
        calls.append(i)
        return np.full((4, 5), i, dtype=np.uint8)

    with GeneratedFrameSource(make, limit=3) as source:
        frames = list(source)
    assert [int(f.image[0, 0]) for f in frames] == [0, 1, 2]
    assert [f.index for f in frames] == [0, 1, 2]
    assert calls == [0, 1, 2]


def test_generated_none_ends_the_stream() -> None:
    def make(i: int) -> np.ndarray | None:
        return np.zeros((2, 2), np.uint8) if i < 2 else None

    with GeneratedFrameSource(make) as source:
        assert len(list(source)) == 2
        assert source.exhausted


def test_generated_makes_images_contiguous_and_rejects_bad_ones() -> None:
    wide = np.arange(48, dtype=np.uint8).reshape(4, 12)
    with GeneratedFrameSource(lambda i: wide[:, ::2], limit=1) as source:
        frame = source.read()
        assert frame is not None and frame.image.flags.c_contiguous
        np.testing.assert_array_equal(frame.image, wide[:, ::2])
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8), "x"):
        source = GeneratedFrameSource(lambda i, bad=bad: bad)  # type: ignore[misc]
        with source, pytest.raises(FrameSourceError, match="frame 0"):
            source.read()


def test_generated_fps_pacing() -> None:
    with GeneratedFrameSource(lambda i: np.zeros((2, 2), np.uint8), fps=50, limit=6) as src:
        start = time.monotonic()
        assert len(list(src)) == 6
        elapsed = time.monotonic() - start
    assert 5 / 50 * 0.95 <= elapsed < 5 / 50 + 0.5


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        GeneratedFrameSource(lambda i: None, fps=0)
    with pytest.raises(ValueError):
        GeneratedFrameSource(lambda i: None, limit=-1)
    with pytest.raises(ValueError):
        ReplayFrameSource(".", fps=-5)


# -- Picamera2FrameSource (with a stand-in picamera2 module) -------------------------------


class FakeJob:
    def __init__(self) -> None:
        self.cancelled = False


class FakePicamera2:
    """Mimics the picamera2 calls the source makes (signatures as in raspberrypi/picamera2).

    configure() checks what picamera2's check_camera_config checks (even sizes, lores no
    bigger than main and YUV); capture_buffer("lores") jobs give 1-D YUV420 buffers whose
    rows are ``stride`` bytes, plus trailing alignment bytes.
    """

    instances: list[FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.calls: list[str] = []
        self.config: dict[str, Any] = {}
        self.frames_ready = 0
        self.jobs: list[FakeJob] = []
        self.stride = 512
        FakePicamera2.instances.append(self)

    def create_video_configuration(
        self, main: dict | None = None, lores: dict | None = None, controls: dict | None = None
    ) -> dict:
        self.calls.append("create_video_configuration")
        return {"main": dict(main or {}), "lores": dict(lores or {}), "controls": controls}

    def configure(self, config: dict) -> None:
        self.calls.append("configure")
        for stream in ("main", "lores"):
            width, height = config[stream]["size"]
            if width % 2 or height % 2:
                raise RuntimeError("width and height should be even")
        lores_w, lores_h = config["lores"]["size"]
        if lores_w > config["main"]["size"][0] or lores_h > config["main"]["size"][1]:
            raise RuntimeError("lores stream dimensions may not exceed main stream")
        if config["lores"]["format"] not in ("YUV420", "YVU420"):
            raise RuntimeError("lores stream must be YUV")
        self.config = config
        self.config["lores"]["stride"] = self.stride

    def start(self) -> None:
        self.calls.append("start")

    def stream_configuration(self, name: str) -> dict:
        return self.config[name]

    def capture_buffer(self, name: str = "main", wait: Any = None) -> FakeJob:
        assert name == "lores" and wait is False
        self.calls.append("capture_buffer")
        job = FakeJob()
        self.jobs.append(job)
        return job

    def wait(self, job: FakeJob, timeout: float | None = None) -> np.ndarray:
        if job.cancelled:
            raise CancelledError()
        if self.frames_ready == 0:
            raise TimeoutError()
        self.frames_ready -= 1
        width, height = self.config["lores"]["size"]
        luma = np.full((height, self.stride), 255, np.uint8)
        luma[:, :width] = len(self.calls) % 200
        chroma = np.full(self.stride * (height // 2) + 1024, 128, np.uint8)
        return np.concatenate([luma.ravel(), chroma])

    def cancel_all_and_flush(self) -> None:
        self.calls.append("cancel_all_and_flush")
        for job in self.jobs:
            job.cancelled = True

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    FakePicamera2.instances = []
    return FakePicamera2


def test_picamera2_missing_gives_a_helpful_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes the import fail
    with pytest.raises(FrameSourceError) as err:
        Picamera2FrameSource().open()
    assert str(err.value).startswith(PICAMERA2_MISSING + " (")
    assert "picamera2" in str(err.value).removeprefix(PICAMERA2_MISSING)  # the ImportError
    assert "python3-picamera2" in str(err.value) and "--system-site-packages" in str(err.value)
    assert isinstance(err.value.__cause__, ImportError)


class _BrokenPicamera2Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a "picamera2" whose module code raises, like apt's picamera2 under a newer numpy."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname == "picamera2":
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ValueError(
            "numpy.dtype size changed, may indicate binary incompatibility. "
            "Expected 96 from C header, got 88 from PyObject"
        ),
        RuntimeError("module compiled against ABI version 0x1000009 but this is 0x2000000"),
        OSError("libcamera.so.0.3: cannot open shared object file"),
    ],
)
def test_picamera2_that_fails_to_load_gives_a_helpful_error(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenPicamera2Finder(error), *sys.meta_path])
    with pytest.raises(FrameSourceError) as err:
        Picamera2FrameSource().open()
    message = str(err.value)
    assert message.startswith(f"{PICAMERA2_MISSING} ({error})")
    assert "system numpy" in message and "./dev" in message
    assert err.value.__cause__ is error
    assert "picamera2" not in sys.modules  # the failed import left nothing behind


def test_picamera2_configures_once_and_crops_the_stride(
    fake_picamera2: type[FakePicamera2],
) -> None:
    with Picamera2FrameSource(size=(500, 376), frame_timeout=0.01, fps=20) as source:
        camera = fake_picamera2.instances[0]
        assert camera.config["lores"] == {"size": (500, 376), "format": "YUV420", "stride": 512}
        assert camera.config["main"] == {"size": (500, 376), "format": "YUV420"}
        assert camera.config["controls"] == {"FrameDurationLimits": (50_000, 50_000)}
        assert source.geometry == (500, 376, 512)
        camera.frames_ready = 3
        frames = [source.read(timeout=0.01) for _ in range(3)]
        assert source.read(timeout=0.01) is None  # timed out
        assert source.read(timeout=0.01) is None
        camera.frames_ready = 1
        assert source.read(timeout=0.01) is not None
    for frame in frames:
        assert frame is not None
        assert frame.image.shape == (376, 500) and frame.image.flags.c_contiguous
        assert not (frame.image == 255).any()
    assert [f.index for f in frames if f] == [0, 1, 2]
    assert camera.calls.count("configure") == 1 and camera.calls.count("start") == 1
    # 4 frames delivered; the job that timed out twice was waited on again, not re-queued
    assert camera.calls.count("capture_buffer") == 4
    assert camera.calls[-2:] == ["stop", "close"]
    assert "cancel_all_and_flush" not in camera.calls


def test_picamera2_close_flushes_a_pending_job(fake_picamera2: type[FakePicamera2]) -> None:
    source = Picamera2FrameSource().open()
    assert source.read(timeout=0.0) is None
    source.close()
    camera = fake_picamera2.instances[0]
    assert camera.calls[-3:] == ["cancel_all_and_flush", "stop", "close"]


def test_picamera2_start_failure_closes_the_camera(
    fake_picamera2: type[FakePicamera2], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_start(self: FakePicamera2) -> None:
        raise RuntimeError("Camera(s) not found")

    monkeypatch.setattr(FakePicamera2, "start", broken_start)
    with pytest.raises(FrameSourceError, match="not found"):
        Picamera2FrameSource().open()
    assert fake_picamera2.instances[0].calls[-1] == "close"


def test_picamera2_odd_size_is_refused_by_the_camera(fake_picamera2: type[FakePicamera2]) -> None:
    """picamera2 refuses odd sizes; the config check catches it earlier (test_sources)."""
    with pytest.raises(FrameSourceError, match="even"):
        Picamera2FrameSource(size=(501, 375)).open()
    assert fake_picamera2.instances[0].calls[-1] == "close"


def test_picamera2_bad_arguments() -> None:
    for kwargs in ({"fps": 0}, {"frame_timeout": 0}, {"size": (0, 480)}):
        with pytest.raises(ValueError):
            Picamera2FrameSource(**kwargs)  # type: ignore[arg-type]


# -- hostile formats -------------------------------------------------------------------------


@pytest.mark.parametrize("make", ["crashing_tiff", "crashing_dds"])
def test_other_formats_named_png_are_refused_not_crashing(tmp_path: Path, make: str) -> None:
    from tests.unit import hostile_formats

    hostile = hostile_formats.write(tmp_path / "1.png", getattr(hostile_formats, make)())
    with pytest.raises(FrameSourceError, match=r"cannot read image .*1\.png"):
        load_gray(hostile)
    good = tmp_path / "2.png"
    gray_png(good, 50)
    with ReplayFrameSource([hostile, good], skip_bad=True) as source:  # the replay camera
        assert [int(f.image[1, 1]) for f in source] == [50]


def test_a_genuine_tiff_is_not_decoded_whatever_its_name(tmp_path: Path) -> None:
    from tests.unit.hostile_formats import encoded, write

    for name in ("frame.png", "frame.tif"):
        with pytest.raises(FrameSourceError, match="cannot identify image file"):
            load_gray(write(tmp_path / name, encoded("TIFF")))


def test_every_replay_suffix_is_a_decoded_format(tmp_path: Path) -> None:
    from kiosk.frames import IMAGE_FORMATS, IMAGE_SUFFIXES

    Image.init()
    assert {Image.registered_extensions()[suffix] for suffix in IMAGE_SUFFIXES} == set(
        IMAGE_FORMATS
    )
    for suffix in sorted(IMAGE_SUFFIXES):
        path = tmp_path / f"frame{suffix}"
        gray_png(path, 60, size=(64, 48))
        assert load_gray(path).shape == (48, 64)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_byte_flipped_images_give_only_frame_source_errors(tmp_path: Path) -> None:
    from tests.unit.hostile_formats import byte_flips

    # 300 flips of each of PNG, JPEG, BMP, PGM, TIFF and DDS; with seed 7 the old
    # load_gray let a TypeError (TIFF) and a NotImplementedError (DDS) through.
    path = tmp_path / "flipped.png"
    decoded = 0
    for fmt, data in byte_flips(300, seed=7):
        path.write_bytes(data)
        try:
            image = load_gray(path)
        except FrameSourceError:
            continue
        except Exception as exc:  # noqa: BLE001 - the assertion is that nothing else escapes
            pytest.fail(f"a byte-flipped {fmt} raised {exc!r}")
        assert image.dtype == np.uint8 and image.ndim == 2 and image.flags.c_contiguous, fmt
        decoded += 1
    assert decoded > 0  # some flips land in pixel data: those images still decode
