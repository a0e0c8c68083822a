"""The safecode command loads its subcommands lazily: help costs neither Flask nor asyncssh."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from safecode.cli import SUBCOMMANDS, cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("asyncssh", "flask")


def loaded_after(script: str) -> dict[str, bool]:
    """Run ``script`` in a fresh interpreter; which HEAVY modules ended up imported."""
    report = f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    probe = f"{script}\nimport json, sys\n{report}"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.spawns
def test_top_level_help_imports_neither_flask_nor_asyncssh() -> None:
    script = (
        "from click.testing import CliRunner\n"
        "from safecode.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
    )
    assert loaded_after(script) == dict.fromkeys(HEAVY, False)


@pytest.mark.spawns
def test_kiosk_run_imports_neither_flask_nor_asyncssh() -> None:
    """What 'safecode kiosk run' imports: its command and everything its body imports."""
    script = (
        "from click.testing import CliRunner\n"
        "from safecode.cli import cli\n"
        "result = CliRunner().invoke(cli, ['kiosk', 'run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "import kiosk.decoders, kiosk.firmware, kiosk.instance_lock, kiosk.lights\n"
        "import kiosk.link, kiosk.outbox, kiosk.sources, simulator.visitors\n"
    )
    assert loaded_after(script) == dict.fromkeys(HEAVY, False)


def test_top_level_help_lists_every_command_with_its_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for name, lazy in SUBCOMMANDS.items():
        line = next(row for row in result.output.splitlines() if row.split()[:1] == [name])
        shown = line.split(None, 1)[1].removesuffix("...")
        assert lazy.help.startswith(shown), (shown, lazy.help)
        assert len(shown) > 20


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_command_loads_and_keeps_its_help(name: str) -> None:
    """The help kept in the lazy map is the command's own first line."""
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None
    assert command.get_short_help_str(limit=200) == SUBCOMMANDS[name].help
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
