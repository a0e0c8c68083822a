"""The demo's outside checks: a witness cosigns the ledger, and the fleet view is read.

A witness is another party (a health authority, a province, an auditor) holding its own
key: it follows the aggregator's checkpoints, checks each is consistent with the last
one it cosigned, and posts a C2SP cosignature back. The demo runs one witness once, at
the end, through the same ``safecode ledger witness`` command a real one would use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from protocol.cosignature import CosignatureVerifier, Cosigner, open_cosigned
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier
from provisioning.site import Site
from support.private_files import private_dir, write_private_text

WITNESS_NAME = "witness.demo.localhost/w1"


@dataclass(frozen=True)
class DemoWitness:
    """A witness's key file, public key and state folder."""

    key_path: Path
    vkey: str
    state_dir: Path


def add_witness(site: Site, folder: Path) -> DemoWitness:
    """Make a witness key under ``folder`` and list it in the aggregator's ``[web]`` table."""
    private_dir(folder)
    cosigner = Cosigner.generate(WITNESS_NAME)
    key_path = folder / "witness.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(cosigner.to_string() + "\n")
    vkey = cosigner.verifier().to_string()
    config = tomllib.loads(site.aggregator_config.read_text(encoding="utf-8"))
    config.setdefault("web", {})["witnesses"] = [vkey]
    write_private_text(site.aggregator_config, tomli_w.dumps(config))  # it holds passwords
    return DemoWitness(key_path, vkey, folder / "state")


def _get(url: str, token: str | None = None) -> bytes | None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=5
        ) as response:
            return response.read()
    except (urllib.error.URLError, OSError):
        return None


def cosign_once(site: Site, witness: DemoWitness, echo: Callable[[str], None]) -> bool:
    """Run the witness once against the read API; True if a cosigned checkpoint verifies."""
    base = f"http://127.0.0.1:{site.http_port}"
    command = [
        sys.executable,
        "-m",
        "safecode",
        "ledger",
        "witness",
        "--url",
        base,
        "--vkey",
        site.ledger_vkey,
        "--key",
        str(witness.key_path),
        "--state",
        str(witness.state_dir),
        "--once",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    for line in (done.stdout + done.stderr).strip().splitlines():
        echo(line if line.startswith("witness") else f"witness: {line}")
    if done.returncode != 0:
        return False
    note = _get(f"{base}/v1/checkpoint/cosigned?min=1")
    if note is None:
        echo("witness: the aggregator serves no cosigned checkpoint")
        return False
    try:
        cosigned = open_cosigned(
            note,
            NoteVerifier.from_string(site.ledger_vkey),
            [CosignatureVerifier.from_string(witness.vkey)],
            quorum=1,
        )
    except ProtocolError as exc:
        echo(f"witness: cosigned checkpoint does not verify: {exc}")
        return False
    echo(
        f"witness: checkpoint of tree size {cosigned.checkpoint.size} cosigned by "
        f"{', '.join(sorted(cosigned.witnesses))}"
    )
    return True


def show_fleet(site: Site, token: str, echo: Callable[[str], None]) -> dict[str, Any] | None:
    """Print the fleet view (from the kiosks' heartbeats; operators only) and return it."""
    body = _get(f"http://127.0.0.1:{site.http_port}/v1/kiosks/status", token)
    if body is None:
        return None
    fleet = json.loads(body)
    for kiosk in fleet.get("kiosks", []):
        state = "online" if kiosk.get("online") else "offline"
        clock = "clock synchronised" if kiosk.get("clock_synced") else "clock NOT synchronised"
        echo(
            f"fleet: {kiosk.get('kiosk_id')} {state}, queue {kiosk.get('queue')}, "
            f"firmware {kiosk.get('firmware')}, {clock}"
        )
    return fleet
