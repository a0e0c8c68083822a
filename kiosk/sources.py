"""Build the frame source a kiosk config names.

``picamera2``, ``v4l2`` and ``replay`` are built in. Other kinds are registered by
whoever provides them: the ``safecode`` command registers ``simulated`` (visitors made
up for the demo, by the dotted path of its factory: kiosk/source_registry.py), so the
firmware itself never holds simulation code.
"""

from __future__ import annotations

from .camera_opencv import V4L2FrameSource, VideoFrameSource, is_video
from .config import CameraSettings, ConfigError
from .frames import FrameSource, Picamera2FrameSource, ReplayFrameSource
from .source_registry import SourceFactory, register_source, registered_factory

__all__ = ["SourceFactory", "frame_source", "register_source", "replay_source"]


def replay_source(path: str, *, fps: float | None, loop: bool) -> FrameSource:
    """A video file (by its suffix: .mp4 .avi .mkv ...) or a folder / file of images."""
    if is_video(path):
        return VideoFrameSource(path, fps=fps, loop=loop)
    return ReplayFrameSource(path, fps=fps, loop=loop)


def frame_source(camera: CameraSettings) -> FrameSource:
    """The configured camera, built but not opened (nothing is touched until ``open``)."""
    size = (camera.width, camera.height)
    if camera.kind == "picamera2":
        return Picamera2FrameSource(size=size, frame_timeout=camera.frame_timeout, fps=camera.fps)
    if camera.kind == "v4l2":
        return V4L2FrameSource(
            camera.device, size=size, fps=camera.fps, frame_timeout=camera.frame_timeout
        )
    if camera.kind == "replay":
        if not camera.path:
            raise ConfigError("camera.kind = 'replay' needs camera.path")
        return replay_source(camera.path, fps=camera.fps, loop=camera.loop)
    factory = registered_factory(camera.kind)
    if factory is None:
        raise ConfigError(
            f"camera.kind = {camera.kind!r} is not available here "
            "('simulated' comes with the safecode command: run 'safecode kiosk run')"
        )
    return factory(camera)
