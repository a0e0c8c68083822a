"""OpenCV frame sources: video replay and the V4L2 camera source, with real OpenCV."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kiosk.camera_opencv import (
    OPENCV_MISSING,
    V4L2FrameSource,
    VideoFrameSource,
    device_arg,
    is_video,
)
from kiosk.decoders import default_decoder
from kiosk.frames import FrameSourceError
from simulator.render import render_code_frame

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the 'usb' extra) is needed")

LEVELS = [20, 90, 160, 230, 50]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write grayscale frames with OpenCV (Motion JPEG in AVI: no extra codec needed)."""
    height, width = frames[0].shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


@pytest.fixture
def levels_video(tmp_path: Path) -> Path:
    """Five 64x48 frames, each one flat grey level."""
    return write_video(tmp_path / "levels.avi", [np.full((48, 64), v, np.uint8) for v in LEVELS])


def levels(frames: list) -> list[int]:
    return [int(round(float(f.image.mean()))) for f in frames]


def test_video_replays_its_frames_in_order_as_grayscale(levels_video: Path) -> None:
    with VideoFrameSource(levels_video) as source:
        frames = list(source)
        assert source.exhausted
        assert source.read(timeout=0) is None
    assert len(frames) == len(LEVELS)
    for got, want in zip(levels(frames), LEVELS, strict=True):
        assert abs(got - want) <= 3  # Motion JPEG is lossy
    for frame in frames:
        assert frame.image.dtype == np.uint8 and frame.image.ndim == 2
        assert frame.image.flags.c_contiguous
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]


def test_video_loops(levels_video: Path) -> None:
    with VideoFrameSource(levels_video, loop=True) as source:
        frames = [source.read() for _ in range(12)]
        assert not source.exhausted
    assert all(f is not None for f in frames)
    got = levels(frames)
    assert [abs(a - b) <= 3 for a, b in zip(got, (LEVELS * 3)[:12], strict=True)] == [True] * 12


def test_video_fps_pacing(levels_video: Path) -> None:
    fps = 40.0
    with VideoFrameSource(levels_video, fps=fps) as source:
        start = time.monotonic()
        assert len(list(source)) == 5
        elapsed = time.monotonic() - start
    assert 4 / fps * 0.95 <= elapsed < 4 / fps + 0.5


def test_video_with_a_code_decodes(tmp_path: Path) -> None:
    text = "SC1:VIDEO-REPLAY-TEST"
    frames = [render_code_frame(text, rng=np.random.default_rng(i)) for i in range(3)]
    video = write_video(tmp_path / "code.avi", frames)
    decoder = default_decoder()
    with VideoFrameSource(video) as source:
        read = [[d.text for d in decoder.decode(f.image)] for f in source]
    assert read == [[text]] * 3


def test_video_missing_garbage_or_empty(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="no such video"):
        VideoFrameSource(tmp_path / "gone.mp4").open()
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"RIFF not really a video" * 10)
    with pytest.raises(FrameSourceError, match="garbage.avi"):
        source = VideoFrameSource(garbage, loop=True).open()
        source.read(timeout=0.1)


def test_opencv_missing_gives_a_helpful_error(
    monkeypatch: pytest.MonkeyPatch, levels_video: Path
) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    for source in (VideoFrameSource(levels_video), V4L2FrameSource("/dev/video0")):
        with pytest.raises(FrameSourceError) as err:
            source.open()
        assert str(err.value).startswith(OPENCV_MISSING)
        assert "safecode[usb]" in str(err.value) and "python3-opencv" in str(err.value)


def test_v4l2_source_reads_through_opencv(levels_video: Path) -> None:
    """No camera here: the same source reads a video with backend 'any' (same read path)."""
    with V4L2FrameSource(str(levels_video), backend="any", size=(64, 48), fps=10) as source:
        assert source.geometry == (64, 48)
        frames = [source.read(timeout=1.0) for _ in range(len(LEVELS))]
        assert source.read(timeout=0.1) is None  # the end of the file reads as a timeout
    assert all(f is not None for f in frames)
    assert all(abs(a - b) <= 3 for a, b in zip(levels(frames), LEVELS, strict=True))


def test_v4l2_missing_device_is_a_clear_error() -> None:
    with pytest.raises(FrameSourceError, match="cannot open camera '/dev/video97'"):
        V4L2FrameSource("/dev/video97").open()


def test_v4l2_bad_arguments() -> None:
    with pytest.raises(ValueError):
        V4L2FrameSource(backend="gstreamer")
    with pytest.raises(ValueError):
        V4L2FrameSource(fps=0)


@pytest.mark.parametrize(
    ("device", "arg"),
    [
        ("/dev/video0", 0),
        ("/dev/video12", 12),
        ("3", 3),
        (2, 2),
        ("/dev/v4l/by-id/x", "/dev/v4l/by-id/x"),
    ],
)
def test_device_names(device: str | int, arg: str | int) -> None:
    assert device_arg(device) == arg


def test_is_video() -> None:
    assert is_video("a.MP4") and is_video("/x/y.avi") and is_video("z.mkv")
    assert not is_video("frames") and not is_video("a.png")


def test_v4l2_open_sets_the_select_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV's V4L2 backend takes its frame wait from the environment, in whole seconds."""
    monkeypatch.delenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", raising=False)
    with pytest.raises(FrameSourceError):
        V4L2FrameSource("/dev/video97", frame_timeout=1.5).open()
    assert os.environ["OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"] == "2"
    monkeypatch.setenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", "7")  # the operator's choice wins
    with pytest.raises(FrameSourceError):
        V4L2FrameSource("/dev/video97", frame_timeout=0.2).open()
    assert os.environ["OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"] == "7"
