"""Import boundaries: the cores never load paho, and protocol/ stays a package of formats.

Each check imports in a fresh interpreter (the venv's python), so what this test
process has already imported cannot hide or fake a dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import protocol

pytestmark = pytest.mark.spawns  # each check runs in a fresh interpreter

PAHO = "paho.mqtt.client"
CORE_MODULES = (
    "kiosk.firmware",
    "kiosk.selftest",
    "aggregator.ingest",
    "aggregator.sequencer",
    "aggregator.web",
    "aggregator.dynsec",
)
"""Modules that must import without paho: the adapters are loaded only where a link is built."""
NOT_FOR_PROTOCOL = ("paho", "flask", "peewee", "gpiozero", "asyncssh")
"""Top-level packages that no module under protocol/ may import, at any depth."""
PROTOCOL_DIR = Path(protocol.__file__).parent


def _run_python(code: str) -> str:
    """stdout of ``code`` run by this venv's python in a fresh process (fails on an error)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_load_paho(module: str) -> None:
    _run_python(f"import sys, {module}; assert {PAHO!r} not in sys.modules, 'paho loaded'")


def test_protocol_modules_load_no_transport_or_framework() -> None:
    """Import every module under protocol/ in turn; none may bring in a forbidden package."""
    code = f"""
import importlib, json, pkgutil, sys
import protocol
forbidden = {NOT_FOR_PROTOCOL!r}
loaded = {{}}
for info in pkgutil.walk_packages(protocol.__path__, "protocol."):
    importlib.import_module(info.name)
    found = sorted(n for n in forbidden if n in sys.modules)
    if found:
        loaded[info.name] = found
        break
print(json.dumps(loaded))
"""
    loaded = json.loads(_run_python(code))
    assert loaded == {}, f"first module that loads a forbidden package: {loaded}"


def _imported_roots(path: Path) -> set[str]:
    """Top-level names of every import statement in ``path`` (inside functions too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_protocol_sources_name_no_transport_or_framework() -> None:
    """Lazy imports count too: no statement under protocol/ imports a forbidden package."""
    offenders = {
        str(path.relative_to(PROTOCOL_DIR)): sorted(_imported_roots(path) & set(NOT_FOR_PROTOCOL))
        for path in sorted(PROTOCOL_DIR.rglob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}
