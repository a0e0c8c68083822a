"""Build the frame source a kiosk config names."""

from __future__ import annotations

from .config import CameraSettings, ConfigError
from .frames import FrameSource, GeneratedFrameSource, Picamera2FrameSource, ReplayFrameSource


def frame_source(camera: CameraSettings) -> FrameSource:
    """The configured camera: picamera2 on a Pi, a replayed folder, or simulated visitors."""
    size = (camera.width, camera.height)
    if camera.kind == "picamera2":
        return Picamera2FrameSource(size=size)
    if not camera.path:
        raise ConfigError(f"camera.kind = {camera.kind!r} needs camera.path")
    if camera.kind == "replay":
        return ReplayFrameSource(camera.path, fps=camera.fps, loop=True)
    if camera.kind == "simulated":
        from safecode.visitors import VisitorQueue, load_crowd

        first, step = camera.visitor_share
        crowd = VisitorQueue(load_crowd(camera.path)[first::step], size=size)
        return GeneratedFrameSource(crowd.next_frame, fps=camera.fps)
    raise ConfigError(f"unknown camera.kind {camera.kind!r}")
