"""``safecode provision batch``: several simulated devices in parallel, bad lines reported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.broker import free_port
from tests.integration.provision_rig import ProvisionRig, rig_fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, kiosk_wheel: Path) -> Iterator[ProvisionRig]:
    yield from rig_fixture(tmp_path_factory, "batch", kiosk_wheel)


def test_batch_enrols_in_parallel_and_reports_every_line(rig: ProvisionRig) -> None:
    prefixes = [rig.device(f"door-{n}") for n in range(1, 4)]
    port, pin = rig.sshd.port, rig.sshd.fingerprint
    closed = free_port()
    inventory = rig.root / "inventory.csv"
    inventory.write_text(
        "# three kiosks at two venues\n"
        "host,port,venue,host_key,prefix\n"
        f"127.0.0.1,{port},cafe-1,{pin},{prefixes[0]}\n"
        f"127.0.0.1,{port},cafe-1,{pin},{prefixes[1]}\n"
        f"127.0.0.1,{port},Bad Venue,{pin},{rig.root / 'devices/never'}\n"
        f"127.0.0.1,{port},bakery-2,{pin},{prefixes[2]}\n"
        f"127.0.0.1,{closed},bakery-2,{pin},{rig.root / 'devices/unplugged'}\n"
    )
    systemctl = f"{rig.systemctl(Path('/ROOT'))}"
    # Each device has its own prefix: {prefix} in --systemctl names it.
    args = [a for a in rig.enrol_args(prefixes[0])]
    for option in ("--prefix", "--systemctl", "--port"):
        at = args.index(option)
        del args[at : at + 2]
    done = rig.safecode(
        "provision",
        "batch",
        str(inventory),
        "--jobs",
        "4",
        "--retries",
        "1",
        "--systemctl",
        systemctl.replace("/ROOT", "{prefix}"),
        *args,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "enrolling" in done.stderr  # the progress bar
    rows = {int(m[1]): m[0] for m in re.finditer(r"^(\d+) .*$", out, re.M)}
    assert set(rows) == {3, 4, 5, 6, 7}, out
    assert all("enrolled" in rows[n] for n in (3, 4, 6)), out
    assert "BAD LINE" in rows[5] and "venue 'Bad Venue'" in rows[5]
    assert "FAILED" in rows[7] and "(x2)" in rows[7] and "connect" in rows[7]
    assert "untouched" in rows[7]
    assert "3 of 5 enrolled" in out and "1 bad inventory lines" in out
    for prefix in prefixes:
        assert (prefix / "etc/safecode/kiosk.toml").exists()

    again = rig.safecode(
        "provision",
        "batch",
        str(inventory),
        "--retries",
        "0",
        "--json",
        "--systemctl",
        systemctl.replace("/ROOT", "{prefix}"),
        *args,
    )
    report = json.loads(again.stdout)
    unchanged = [d for d in report["devices"] if d["ok"]]
    assert len(unchanged) == 3 and all(d["changed"] == [] for d in unchanged)
    assert report["bad_lines"][0]["line"] == 5
