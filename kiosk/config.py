"""Kiosk configuration, read from a TOML file written at enrolment."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol import keys
from protocol.errors import ProtocolError
from protocol.kiosk_toml import KioskToml, MissingKeyError
from support.config_file import ConfigError, load_config_file
from transport.settings import MqttSettings, mqtt_settings_from_table

CAMERA_KINDS = ("picamera2", "v4l2", "replay", "simulated")


@dataclass(frozen=True)
class CameraSettings:
    """Where frames come from (``[camera] kind``).

    * ``picamera2``: the Raspberry Pi camera; ``width`` and ``height`` must be even.
    * ``v4l2``: a USB camera or webcam through OpenCV; ``device`` is ``/dev/videoN`` or N.
    * ``replay``: ``path`` is a folder of images, one image, or a video file; ``loop``
      plays it again from the start.
    * ``simulated``: reads a crowd file at ``path``; ``visitor_share = [i, n]`` gives
      this kiosk every n-th visitor from the i-th, so no visitor is at two doors at once.

    ``fps`` is the frame rate asked of the camera (or the replay pace); ``frame_timeout``
    the seconds a read waits for a frame before reporting none.
    """

    kind: str = "picamera2"
    path: str | None = None
    visitor_share: tuple[int, int] = (0, 1)
    fps: float = 15.0
    width: int = 640
    height: int = 480
    device: str | int = "/dev/video0"
    loop: bool = True
    frame_timeout: float = 1.0


@dataclass(frozen=True)
class KioskConfig:
    """Everything a kiosk needs to run; secrets stay in ``state_dir``."""

    kiosk_id: str
    venue_id: str
    state_dir: Path
    issuer_keys: tuple[str, ...]
    ledger_key: str
    door: str = "entrance"
    window_s: int = 30
    skew_s: int = 5
    repeat_minutes: float = 10.0
    #: Minutes before this kiosk accepts the same printed card again (kiosk.verifier).
    card_gap_minutes: float = 5.0
    resend_after_s: float = 10.0
    max_in_flight: int = 100
    heartbeat_s: float = 15.0
    retention_hours: float = 24.0
    rejected_retention_days: float = 28.0
    disk_low_mb: float = 50.0
    disk_low_percent: float = 5.0
    disk_reserve_mb: float = 5.0
    camera_stall_s: float = 10.0
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    pins_file: Path | None = None

    @property
    def device_key_path(self) -> Path:
        """The device's private key, made on the device and never copied off it."""
        return self.state_dir / "device.key"

    @property
    def outbox_path(self) -> Path:
        """The SQLite outbox."""
        return self.state_dir / "outbox.sqlite"

    def issuer_public_keys(self) -> list[Any]:
        """The trusted issuers' public keys."""
        return [keys.load_public(keys.parse_did_key(k)) for k in self.issuer_keys]

    def ledger_public_key(self) -> Any:
        """The aggregator's ledger public key, which signs receipts."""
        return keys.load_public(keys.parse_did_key(self.ledger_key))


def load_config(path: Path) -> KioskConfig:
    """Read and check a kiosk config file; raise ConfigError naming what is wrong."""
    return load_config_file(path, parse_config)


def parse_config(data: dict[str, Any], *, base: Path) -> KioskConfig:
    """Build a KioskConfig from parsed TOML; relative paths are taken from ``base``."""
    try:
        document = KioskToml.from_dict(data)
    except MissingKeyError as exc:
        raise ConfigError(f"config lacks {exc.key!r}") from exc
    except ProtocolError as exc:
        raise ConfigError(f"config is invalid: {exc}") from exc
    try:
        config = KioskConfig(
            kiosk_id=document.kiosk_id,
            venue_id=document.venue,
            state_dir=base / document.state_dir,
            issuer_keys=document.issuer_keys,
            ledger_key=document.ledger_key,
            door=document.door,
            mqtt=mqtt_settings_from_table(document.mqtt, base),
            camera=CameraSettings(**document.camera),
            pins_file=(base / document.pins_file) if document.pins_file else None,
            **document.settings,
        )
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config is invalid: {exc}") from exc
    check_camera_settings(config.camera)
    for name in NUMBERS:
        value = getattr(config, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(f"kiosk.{name} must be a finite non-negative number")
    if config.max_in_flight < 1:
        raise ConfigError("kiosk.max_in_flight must be at least 1")
    for name in ("heartbeat_s", "camera_stall_s"):
        if getattr(config, name) < 1:
            raise ConfigError(f"kiosk.{name} must be at least 1 (seconds)")
    if config.disk_low_percent > 100:
        raise ConfigError("kiosk.disk_low_percent must be at most 100")
    return config


NUMBERS = (
    "window_s",
    "skew_s",
    "repeat_minutes",
    "card_gap_minutes",
    "resend_after_s",
    "max_in_flight",
    "heartbeat_s",
    "retention_hours",
    "rejected_retention_days",
    "disk_low_mb",
    "disk_low_percent",
    "disk_reserve_mb",
    "camera_stall_s",
)
"""Kiosk settings that must be finite, non-negative numbers."""


def check_camera_settings(camera: CameraSettings) -> None:
    """Raise ConfigError if the ``[camera]`` settings do not fit their ``kind``."""
    kind = camera.kind
    if kind not in CAMERA_KINDS:
        raise ConfigError(
            f"camera.kind must be picamera2, replay or simulated, or v4l2 for a USB camera "
            f"(got {kind!r})"
        )
    if kind in ("replay", "simulated") and (not isinstance(camera.path, str) or not camera.path):
        raise ConfigError(f"camera.kind = {kind!r} needs camera.path")
    fps = camera.fps
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 120:
        raise ConfigError("camera.fps must be a number above 0 and at most 120")
    timeout = camera.frame_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigError("camera.frame_timeout must be a number of seconds above 0, at most 60")
    for name in ("width", "height"):
        value = getattr(camera, name)
        if type(value) is not int or not 16 <= value <= 4096:
            raise ConfigError(f"camera.{name} must be an integer from 16 to 4096")
        if kind == "picamera2" and value % 2:
            raise ConfigError(f"camera.{name} must be even for picamera2 (got {value})")
    device = camera.device
    if kind == "v4l2" and not (
        (type(device) is int and device >= 0) or (isinstance(device, str) and device.strip())
    ):
        raise ConfigError("camera.device must be a device path such as /dev/video0 or an index")
    if type(camera.loop) is not bool:
        raise ConfigError("camera.loop must be true or false")
    share = camera.visitor_share
    if (
        not isinstance(share, list | tuple)
        or len(share) != 2
        or any(type(v) is not int for v in share)
        or not 0 <= share[0] < share[1]
    ):
        raise ConfigError("camera.visitor_share must be [index, count] with 0 <= index < count")
