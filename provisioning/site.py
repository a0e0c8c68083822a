"""Lay out a complete site on one machine: aggregator, kiosks and simulated visitors.

Used by ``safecode demo`` and the end-to-end tests, and by anyone who wants a
working installation to try things on. Each kiosk makes its own device key in
its own state folder; only the public key is read from it, as enrolment over
SSH will do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from aggregator.db import open_database
from aggregator.registry import enrol_kiosk
from kiosk.identity import ensure_device_key
from protocol import keys
from protocol.note import NoteVerifier
from safecode.visitors import enrol_visitor, save_crowd

DEFAULT_ORIGIN = "safecode.localhost/ledger"


@dataclass(frozen=True)
class Site:
    """Where a laid-out site's files are."""

    root: Path
    aggregator_config: Path
    kiosk_configs: tuple[Path, ...]
    crowd_file: Path
    database_url: str
    ledger_vkey: str
    http_port: int | None


def init_site(
    root: Path,
    *,
    kiosks: int = 3,
    visitors: int = 25,
    mqtt_host: str = "127.0.0.1",
    mqtt_port: int = 1883,
    http_port: int | None = None,
    origin: str = DEFAULT_ORIGIN,
    venue_prefix: str = "venue",
    camera: str = "simulated",
) -> Site:
    """Create keys, configs, a kiosk registry and a crowd file under ``root``."""
    root = Path(root).resolve()
    agg_dir = root / "aggregator"
    agg_dir.mkdir(parents=True, exist_ok=True)
    ledger_key, _ = keys.load_or_create_private(agg_dir / "ledger.key")
    issuer_key, _ = keys.load_or_create_private(agg_dir / "issuer.key")
    db_path = agg_dir / "ledger.sqlite"
    database_url = f"sqlite:///{db_path}"
    mqtt = {"host": mqtt_host, "port": mqtt_port}
    aggregator: dict[str, object] = {
        "origin": origin,
        "database_url": database_url,
        "ledger_key": "ledger.key",
        "issuer_key": "issuer.key",
    }
    if http_port:
        aggregator["http_port"] = http_port
    agg_config = agg_dir / "aggregator.toml"
    agg_config.write_text(tomli_w.dumps({"aggregator": aggregator, "mqtt": mqtt}))

    crowd_file = root / "visitors.crowd"
    save_crowd(crowd_file, [enrol_visitor(issuer_key, time.time()) for _ in range(visitors)])

    db = open_database(database_url)
    configs = []
    for number in range(1, kiosks + 1):
        kiosk_id = f"kiosk-{number}"
        venue_id = f"{venue_prefix}-{(number + 1) // 2}"
        kiosk_dir = root / "kiosks" / kiosk_id
        device_key, _ = ensure_device_key(kiosk_dir / "state" / "device.key")
        enrol_kiosk(kiosk_id, venue_id, keys.public_bytes(device_key))
        config = kiosk_dir / "kiosk.toml"
        config.write_text(
            tomli_w.dumps(
                {
                    "kiosk": {
                        "id": kiosk_id,
                        "venue": venue_id,
                        "state_dir": "state",
                        "door": "entrance",
                    },
                    "trust": {
                        "issuer_keys": [keys.did_key(issuer_key)],
                        "ledger_key": keys.did_key(ledger_key),
                    },
                    "mqtt": mqtt,
                    "camera": {
                        "kind": camera,
                        "path": str(crowd_file),
                        "fps": 10.0,
                        "visitor_share": [number - 1, kiosks],
                    },
                }
            )
        )
        configs.append(config)
    db.close()
    vkey = NoteVerifier.from_public_key(origin, ledger_key.public_key()).to_string()
    return Site(root, agg_config, tuple(configs), crowd_file, database_url, vkey, http_port)
