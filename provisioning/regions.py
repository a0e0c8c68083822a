"""Which regional broker each kiosk is homed on: ``regions.toml`` beside the site.

Past one broker (``safecode aggregator broker-region``), every kiosk is homed on one
regional broker: its account and ACL live there and its ``[mqtt]`` table points there.
The site records the homes in one file, ``regions.toml``::

    [regions.north]
    host = "mqtt-north.example"
    port = 8883

    [kiosks]
    kiosk-1 = "north"

Provisioning writes it when it homes a kiosk (``home_kiosk``); anyone moving a
kiosk reads it to know which broker holds its account. Entries are only added or
changed, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from aggregator.broker_regions import check_region
from protocol.ids import check_kiosk_id
from support.config_file import read_toml
from support.private_files import write_private_text

FILE_NAME = "regions.toml"


class RegionError(ValueError):
    """A region map that cannot be read or a kiosk that cannot be homed."""


@dataclass(frozen=True)
class RegionBroker:
    """A regional broker kiosks connect to; ``admin_password`` makes their accounts there."""

    name: str
    host: str
    port: int
    admin_password: str | None = None

    def table(self) -> dict[str, Any]:
        """The ``[regions.NAME]`` table (no secrets)."""
        return {"host": self.host, "port": self.port}


@dataclass
class RegionMap:
    """Regions by name and kiosk ids by home region, as ``regions.toml`` holds them."""

    regions: dict[str, dict[str, Any]]
    kiosks: dict[str, str]

    def home(self, kiosk_id: str, region: RegionBroker) -> None:
        """Record ``kiosk_id`` as homed on ``region`` (added, or moved)."""
        self.regions[check_region(region.name)] = region.table()
        self.kiosks[check_kiosk_id(kiosk_id)] = region.name

    def region_of(self, kiosk_id: str) -> str:
        """The region a kiosk is homed on; RegionError if it has none."""
        try:
            return self.kiosks[kiosk_id]
        except KeyError as exc:
            raise RegionError(f"kiosk {kiosk_id} is homed on no region") from exc

    def to_dict(self) -> dict[str, Any]:
        return {"regions": self.regions, "kiosks": self.kiosks}


def read_region_map(path: Path) -> RegionMap:
    """The map in ``path`` (an empty one if there is no such file)."""
    if not path.exists():
        return RegionMap({}, {})
    data = read_toml(path)
    regions, kiosks = data.get("regions", {}), data.get("kiosks", {})
    if not isinstance(regions, dict) or not isinstance(kiosks, dict):
        raise RegionError(f"{path}: [regions] and [kiosks] must be tables")
    for name, region in kiosks.items():
        if region not in regions:
            raise RegionError(f"{path}: kiosk {name} is homed on unknown region {region!r}")
    return RegionMap(dict(regions), dict(kiosks))


def home_kiosk(path: Path, kiosk_id: str, region: RegionBroker) -> None:
    """Record in ``path`` that ``kiosk_id`` is homed on ``region``."""
    found = read_region_map(path)
    found.home(kiosk_id, region)
    write_private_text(path, tomli_w.dumps(found.to_dict()))
