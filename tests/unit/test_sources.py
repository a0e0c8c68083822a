"""Building the configured frame source (kiosk.sources): built-in and registered kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import source_registry
from kiosk.camera_opencv import V4L2FrameSource, VideoFrameSource
from kiosk.config import CameraSettings, ConfigError, check_camera_settings
from kiosk.frames import FrameSource, GeneratedFrameSource, Picamera2FrameSource, ReplayFrameSource
from kiosk.sources import frame_source, register_source

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An empty registry for this test; the real one comes back afterwards."""
    fresh: dict = {}
    monkeypatch.setattr(source_registry, "_registered", fresh)
    return fresh


def test_replay_with_a_path_is_a_replay_source(tmp_path: Path) -> None:
    source = frame_source(CameraSettings(kind="replay", path=str(tmp_path), fps=5.0))
    assert type(source) is ReplayFrameSource
    assert source.loop is True
    assert not source.is_open  # nothing is read until the kiosk opens it
    assert str(tmp_path) in repr(source)


def test_replay_without_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs camera.path"):
        frame_source(CameraSettings(kind="replay"))


def test_picamera2_is_built_but_not_opened() -> None:
    source = frame_source(CameraSettings(kind="picamera2", width=320, height=240))
    assert type(source) is Picamera2FrameSource
    assert source.size == (320, 240)
    assert not source.is_open
    assert source.geometry is None


def test_picamera2_is_the_default_kind() -> None:
    assert type(frame_source(CameraSettings())) is Picamera2FrameSource


def test_builtin_kinds_do_not_use_the_registry(clean_registry: dict, tmp_path: Path) -> None:
    assert type(frame_source(CameraSettings(kind="picamera2"))) is Picamera2FrameSource
    assert type(frame_source(CameraSettings(kind="replay", path=str(tmp_path)))) is (
        ReplayFrameSource
    )
    assert clean_registry == {}


@pytest.mark.parametrize("kind", ["simulated", "usb", ""])
def test_unregistered_kind_is_a_config_error(clean_registry: dict, kind: str) -> None:
    with pytest.raises(ConfigError, match="safecode kiosk run") as info:
        frame_source(CameraSettings(kind=kind, path="x"))
    assert repr(kind) in str(info.value)


def test_register_source_makes_a_kind_work(clean_registry: dict) -> None:
    built: list[CameraSettings] = []

    def factory(camera: CameraSettings) -> FrameSource:
        built.append(camera)
        return GeneratedFrameSource(lambda i: None, fps=camera.fps)

    camera = CameraSettings(kind="usb", path="/dev/video0", fps=7.0)
    with pytest.raises(ConfigError):
        frame_source(camera)
    register_source("usb", factory)
    assert clean_registry == {"usb": factory}
    source = frame_source(camera)
    assert type(source) is GeneratedFrameSource
    assert built == [camera]


def test_register_source_replaces_an_earlier_factory(clean_registry: dict) -> None:
    first = GeneratedFrameSource(lambda i: None)
    second = GeneratedFrameSource(lambda i: None)
    register_source("usb", lambda camera: first)
    register_source("usb", lambda camera: second)
    assert frame_source(CameraSettings(kind="usb")) is second


def test_registered_kind_cannot_shadow_a_builtin(clean_registry: dict) -> None:
    register_source("picamera2", lambda camera: GeneratedFrameSource(lambda i: None))
    assert type(frame_source(CameraSettings(kind="picamera2"))) is Picamera2FrameSource


def test_importing_the_safecode_command_registers_simulated() -> None:
    import safecode.cli  # noqa: F401  (the import is what registers it)
    from simulator.visitors import simulated_camera

    assert source_registry.registered_factory("simulated") is simulated_camera
    # The registered factory is used: without a crowd file it says so.
    with pytest.raises(ConfigError, match="crowd file"):
        frame_source(CameraSettings(kind="simulated"))


@pytest.mark.spawns
def test_firmware_alone_does_not_know_simulated() -> None:
    """In a fresh interpreter, only importing safecode.cli brings 'simulated' in."""
    script = (
        "import kiosk.firmware, kiosk.cli, kiosk.source_registry as s\n"
        "assert s.registered_factory('simulated') is None\n"
        "import sys\n"
        "assert 'simulator.visitors' not in sys.modules\n"
        "import safecode.cli\n"
        "assert 'simulator.visitors' not in sys.modules  # registered by its dotted path\n"
        "from simulator.visitors import simulated_camera\n"
        "assert s.registered_factory('simulated') is simulated_camera\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_v4l2_is_built_but_not_opened() -> None:
    camera = CameraSettings(kind="v4l2", device="/dev/video2", width=320, height=240, fps=30.0)
    source = frame_source(camera)
    assert type(source) is V4L2FrameSource
    assert (source.device, source.size, source.fps) == ("/dev/video2", (320, 240), 30.0)
    assert not source.is_open and source.geometry is None


def test_replay_of_a_video_file_is_a_video_source(tmp_path: Path) -> None:
    camera = CameraSettings(kind="replay", path=str(tmp_path / "walk-up.mp4"), loop=False)
    source = frame_source(camera)
    assert type(source) is VideoFrameSource
    assert source.loop is False


def test_picamera2_gets_fps_and_timeout() -> None:
    source = frame_source(CameraSettings(kind="picamera2", fps=24.0, frame_timeout=0.5))
    assert isinstance(source, Picamera2FrameSource)
    assert (source.fps, source.iter_timeout) == (24.0, 0.5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (CameraSettings(kind="webcam"), "or v4l2 for a USB camera"),
        (CameraSettings(kind="picamera2", width=641), "camera.width must be even for picamera2"),
        (CameraSettings(kind="picamera2", height=479), "camera.height must be even"),
        (CameraSettings(kind="v4l2", device=""), "camera.device"),
        (CameraSettings(kind="v4l2", device=-1), "camera.device"),
        (CameraSettings(kind="v4l2", device=1.5), "camera.device"),  # type: ignore[arg-type]
        (CameraSettings(kind="replay"), "needs camera.path"),
        (CameraSettings(frame_timeout=0), "camera.frame_timeout"),
        (CameraSettings(frame_timeout=float("nan")), "camera.frame_timeout"),
        (CameraSettings(frame_timeout="1"), "camera.frame_timeout"),  # type: ignore[arg-type]
        (CameraSettings(loop="yes"), "camera.loop"),  # type: ignore[arg-type]
        (CameraSettings(fps=float("inf")), "camera.fps"),
    ],
)
def test_camera_settings_are_checked(settings: CameraSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_camera_settings(settings)


@pytest.mark.parametrize(
    "settings",
    [
        CameraSettings(),
        CameraSettings(kind="v4l2", width=641, height=479),  # odd sizes are fine over USB
        CameraSettings(kind="v4l2", device=0),
        CameraSettings(kind="replay", path="frames/", loop=False, fps=120),
    ],
)
def test_good_camera_settings_pass(settings: CameraSettings) -> None:
    check_camera_settings(settings)
