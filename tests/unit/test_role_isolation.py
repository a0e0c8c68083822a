"""Separate trust roles import nothing of the others: the auditor and the health authority.

The auditor runs with nothing but the ledger's public key; the health authority's
private key never meets an aggregator, kiosk or provisioning process. Each role's
modules are imported in a fresh interpreter and what got loaded is checked.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.spawns  # each check runs in a fresh interpreter

ROLES = {
    "auditor": (
        {"auditor.cli", "auditor.log_client", "auditor.witness"},
        ("aggregator", "kiosk", "provisioning"),
    ),
    "authority": (
        {"authority.cli", "authority.key_file"},
        ("aggregator", "kiosk", "provisioning", "simulator", "transport", "auditor"),
    ),
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_modules_import_only_protocol_support_and_libraries(role: str) -> None:
    expected, forbidden = ROLES[role]
    package = importlib.import_module(role)
    modules = [f"{role}.{info.name}" for info in pkgutil.iter_modules(package.__path__)]
    assert expected <= set(modules)
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "protocol" in loaded
    assert [m for m in loaded if m.split(".")[0] in forbidden] == []
