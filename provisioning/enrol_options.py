"""What one enrolment is asked to do (the device's address aside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EnrolOptions:
    """Everything about one enrolment except the device's address."""

    venue: str
    wheel: Path
    kiosk_id: str | None = None
    door: str = "entrance"
    prefix: str = "/"
    constraints: Path | None = None
    wheelhouse: Path | None = None
    dev_site_packages: str | None = None
    device_python: str = "python3"
    units: tuple[Path, ...] = ()
    pins: Path | None = None
    dropins: tuple[Path, ...] = ()
    service_user: str = "safecode"
    systemctl: str = "systemctl"
    min_free_mb: int = 400
    camera: dict[str, Any] = field(default_factory=lambda: {"kind": "picamera2"})
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_ca: Path | None = None
    #: The regional broker to home the kiosk on (the aggregator's ``[regions]``); None: its own.
    region: str | None = None
    mock_pins: bool = False
    selftest_timeout: float = 10.0
    heartbeat_timeout: float = 60.0
    renew_credentials: bool = False
