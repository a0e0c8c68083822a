"""The health authority is a separate trust role: nothing of the aggregator, kiosk or others."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import authority

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aggregator", "kiosk", "provisioning", "simulator", "transport", "auditor")

pytestmark = pytest.mark.spawns  # the check runs in a fresh interpreter


def test_authority_modules_import_only_protocol_support_and_libraries() -> None:
    modules = [f"authority.{info.name}" for info in pkgutil.iter_modules(authority.__path__)]
    assert {"authority.cli", "authority.key_file"} <= set(modules)
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
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
