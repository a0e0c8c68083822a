"""Running a JavaScript folder's ``node --test`` suite from pytest (wallet/, explorer/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def node_skip_reason(needs: Path | None = None) -> str | None:
    """Why the JavaScript tests cannot run here (None if they can).

    ``needs``: a folder the tests import from (an npm package ``npm ci`` installs).
    """
    if shutil.which("node") is None:
        return "node is not installed (./dev setup installs Debian's nodejs)"
    if needs is not None and not needs.is_dir():
        return f"{needs} is missing (./dev setup runs npm ci)"
    return None


def run_node_tests(folder: Path) -> None:
    """``node --test test/`` in ``folder``; fails the calling test unless all pass."""
    done = subprocess.run(
        ["node", "--test", "test/"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
