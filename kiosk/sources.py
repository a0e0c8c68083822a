"""Build the frame source a kiosk config names.

``picamera2`` and ``replay`` are built in. Other kinds are registered by whoever
provides them: the ``safecode`` command registers ``simulated`` (visitors made
up for the demo), so the firmware itself never holds simulation code.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import CameraSettings, ConfigError
from .frames import FrameSource, Picamera2FrameSource, ReplayFrameSource

SourceFactory = Callable[[CameraSettings], FrameSource]
_registered: dict[str, SourceFactory] = {}


def register_source(kind: str, factory: SourceFactory) -> None:
    """Make ``camera.kind = kind`` build its frame source with ``factory``."""
    _registered[kind] = factory


def frame_source(camera: CameraSettings) -> FrameSource:
    """The configured camera: picamera2 on a Pi, a replayed folder, or a registered kind."""
    if camera.kind == "picamera2":
        return Picamera2FrameSource(size=(camera.width, camera.height))
    if camera.kind == "replay":
        if not camera.path:
            raise ConfigError("camera.kind = 'replay' needs camera.path")
        return ReplayFrameSource(camera.path, fps=camera.fps, loop=True)
    factory = _registered.get(camera.kind)
    if factory is None:
        raise ConfigError(
            f"camera.kind = {camera.kind!r} is not available here "
            "('simulated' comes with the safecode command: run 'safecode kiosk run')"
        )
    return factory(camera)
