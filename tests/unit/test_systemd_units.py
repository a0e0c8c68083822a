"""The unit files in systemd/: systemd itself checks them, and rates their exposure.

* ``systemd-analyze verify`` reads each unit inside a throwaway root directory that holds
  this machine's own systemd units (targets the units name) and an executable where the
  install puts ``/opt/safecode/venv/bin/safecode``: verify then checks syntax, every key,
  the referenced units and that ExecStart is executable. Any warning fails the test.
* That the ExecStart command lines are real ``safecode`` commands with real options is
  checked separately, by parsing them with the ``safecode`` command itself.
* ``systemd-analyze security --offline=yes`` (systemd 250 or later) rates each unit file;
  every unit must be "OK": an exposure of 3.0 or lower.

Nothing here starts a unit: that needs systemd as PID 1, which a test machine or
container rarely has. The kiosk's system call filter is checked against the calls its
clock reading needs (``kiosk/clock.py``) by expanding systemd's own syscall sets.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from safecode.cli import cli

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(UNIT_DIR.glob("*.service"))
AGGREGATOR_UNITS = [u for u in UNITS if u.name.startswith("safecode-aggregator")]
TIMERS = sorted(UNIT_DIR.glob("*.timer"))
KIOSK = UNIT_DIR / "safecode-kiosk.service"
DROP_IN = UNIT_DIR / "systemd-time-wait-sync.service.d" / "safecode.conf"
INSTALLED_SAFECODE = "/opt/safecode/venv/bin/safecode"
MAX_EXPOSURE = 3.0
HOST_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.spawns  # systemd-analyze

needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


def systemd_version() -> int:
    """The major version of the installed systemd (0 when there is none)."""
    if ANALYZE is None:
        return 0
    out = subprocess.run([ANALYZE, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"systemd (\d+)", out.stdout)
    return int(match.group(1)) if match else 0


def directives(unit: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (keys may repeat)."""
    section = ""
    found = []
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{unit.name}: not an assignment: {raw!r}"
        found.append((section, key.strip(), value.strip()))
    return found


def values(unit: Path, key: str, section: str = "Service") -> list[str]:
    """Every value assigned to ``key`` in ``section``."""
    return [v for s, k, v in directives(unit) if s == section and k == key]


def one(unit: Path, key: str, section: str = "Service") -> str:
    """The single value of ``key``; fails when it is missing or repeated."""
    found = values(unit, key, section)
    assert len(found) == 1, f"{unit.name}: {section}.{key} set {len(found)} times"
    return found[0]


def test_the_expected_units_are_there() -> None:
    assert [u.name for u in UNITS] == [
        "safecode-aggregator-ingest.service",
        "safecode-aggregator-issuer.service",
        "safecode-aggregator-retention.service",
        "safecode-aggregator-sequence.service",
        "safecode-aggregator-trace.service",
        "safecode-aggregator-web.service",
        "safecode-aggregator.service",
        "safecode-kiosk.service",
    ]
    assert [t.name for t in TIMERS] == ["safecode-aggregator-retention.timer"]


# -- systemd-analyze verify ----------------------------------------------------------------


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root directory: the host's systemd units, ours, and a stand-in safecode executable."""
    host_units = next((d for d in HOST_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if host_units is None:
        pytest.skip("this machine has no systemd unit directory with sysinit.target")
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    ours = root / "etc/systemd/system"
    ours.mkdir(parents=True)
    for unit in [*UNITS, *TIMERS]:
        shutil.copy(unit, ours / unit.name)
    shutil.copytree(UNIT_DIR / DROP_IN.parent.name, ours / DROP_IN.parent.name)
    executable = root / INSTALLED_SAFECODE.lstrip("/")
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\nexit 0\n")
    executable.chmod(0o755)
    yield root


@needs_analyze
@pytest.mark.parametrize("unit", [*UNITS, *TIMERS], ids=lambda u: u.name)
def test_systemd_verify_accepts_the_unit(unit: Path, verify_root: Path) -> None:
    run = subprocess.run(
        [ANALYZE, "verify", f"--root={verify_root}", unit.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0 and not run.stderr.strip() and not run.stdout.strip(), (
        run.stdout + run.stderr
    )


@needs_analyze
def test_systemd_verify_is_not_blind(verify_root: Path) -> None:
    """The same check reports a misspelt key and a missing executable."""
    units = verify_root / "etc/systemd/system"
    text = KIOSK.read_text()
    (units / "typo.service").write_text(text.replace("ProtectHome=", "ProtectHomme=", 1))
    (units / "nobin.service").write_text(text.replace(INSTALLED_SAFECODE, "/opt/none/safecode"))
    for name, complaint in (("typo", "Unknown key"), ("nobin", "not executable")):
        run = subprocess.run(
            [ANALYZE, "verify", f"--root={verify_root}", f"{name}.service"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert complaint in run.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exec_start_is_a_real_safecode_command(unit: Path) -> None:
    """The command line parses as a ``safecode`` command: subcommands and options exist."""
    argv = shlex.split(one(unit, "ExecStart"))
    assert argv[0] == INSTALLED_SAFECODE
    result = CliRunner().invoke(cli, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "--config" in argv and argv[argv.index("--config") + 1].startswith("/etc/safecode/")


# -- systemd-analyze security --------------------------------------------------------------

EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)")


@needs_analyze
@pytest.mark.skipif(
    0 < systemd_version() < 250 or systemd_version() == 0,
    reason=f"systemd-analyze security --offline needs systemd 250 or later "
    f"(this machine has {systemd_version() or 'none'})",
)
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_is_ok(unit: Path) -> None:
    run = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    match = EXPOSURE.search(run.stdout)
    assert match, run.stdout + run.stderr
    exposure, rating = float(match.group(1)), match.group(2)
    assert exposure <= MAX_EXPOSURE and rating == "OK", run.stdout


# -- what the kiosk needs, kept ------------------------------------------------------------


def test_kiosk_is_a_notify_service_with_a_watchdog() -> None:
    assert one(KIOSK, "Type") == "notify"
    assert one(KIOSK, "NotifyAccess") == "main"
    assert 5 <= int(one(KIOSK, "WatchdogSec")) <= 120
    assert one(KIOSK, "Restart") == "always"


def test_kiosk_reaches_camera_and_gpio_but_no_other_devices() -> None:
    assert values(KIOSK, "PrivateDevices") == []
    assert one(KIOSK, "DevicePolicy") == "closed"
    allowed = {v.split()[0] for v in values(KIOSK, "DeviceAllow")}
    assert allowed == {
        "char-video4linux",
        "char-media",
        "char-dma_heap",
        "char-vchiq",
        "char-gpiochip",
    }
    assert set(one(KIOSK, "SupplementaryGroups").split()) == {"video", "gpio"}


def test_kiosk_working_directory_is_writable_for_lgpio() -> None:
    """lgpio writes pipe files in its working directory (or $LG_WD): a state directory."""
    assert one(KIOSK, "ProtectSystem") == "strict"
    state = {f"/var/lib/{d}" for v in values(KIOSK, "StateDirectory") for d in v.split()}
    workdir = one(KIOSK, "WorkingDirectory")
    assert workdir in state
    assert f"LG_WD={workdir}" in values(KIOSK, "Environment")
    assert one(KIOSK, "User") not in ("", "root", "0")


def syscall_set(name: str) -> set[str]:
    """A syscall group expanded by systemd-analyze (nested groups included)."""
    out = subprocess.run(
        [ANALYZE, "syscall-filter", name], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= syscall_set(word) if word.startswith("@") else {word}
    return calls


def allowed_syscalls(unit: Path) -> set[str]:
    """The allow list SystemCallFilter= lines build, applied in order as systemd does."""
    allowed: set[str] = set()
    for value in values(unit, "SystemCallFilter"):
        deny = value.startswith("~")
        for word in value.lstrip("~").split():
            calls = syscall_set(word) if word.startswith("@") else {word}
            allowed = allowed - calls if deny else allowed | calls
    return allowed


@needs_analyze
def test_kiosk_may_read_the_clock_state_but_not_set_the_clock() -> None:
    """kiosk/clock.py calls adjtimex(2) with modes = 0; glibc turns it into clock_adjtime.

    Those calls must pass the filter (a blocked one would fail or kill the firmware).
    Setting the clock needs CAP_SYS_TIME, which the empty bounding set removes.
    """
    allowed = allowed_syscalls(KIOSK)
    assert {"adjtimex", "clock_adjtime", "clock_adjtime64"} <= allowed
    assert not {"clock_settime", "settimeofday", "reboot", "mount"} & allowed
    assert one(KIOSK, "CapabilityBoundingSet") == ""
    assert values(KIOSK, "ProtectClock") == []


def hardening(unit: Path) -> list[tuple[str, str, str]]:
    """The unit's assignments from User= on (the shared hardening block)."""
    found = directives(unit)
    start = found.index(("Service", "User", "safecode"))
    return [d for d in found[start:] if d[0] == "Service"]


def test_aggregator_units_share_one_hardening() -> None:
    reference = hardening(AGGREGATOR_UNITS[0])
    assert ("Service", "ProtectSystem", "strict") in reference
    assert ("Service", "PrivateDevices", "yes") in reference
    for unit in AGGREGATOR_UNITS[1:]:
        assert hardening(unit) == reference, unit.name


def test_time_sync_wait_is_bounded(verify_root: Path) -> None:
    """The kiosk waits for time-sync.target; the drop-in stops that wait from being endless."""
    assert "time-sync.target" in one(KIOSK, "After", "Unit").split()
    timeout = one(DROP_IN, "TimeoutStartSec")
    assert re.fullmatch(r"\d+s", timeout) and 10 <= int(timeout[:-1]) <= 300
    if ANALYZE is None:
        return
    unit = verify_root / "usr/lib/systemd/system/systemd-time-wait-sync.service"
    if not unit.exists():
        pytest.skip("this machine's systemd has no systemd-time-wait-sync.service")
    tool = shlex.split(one(unit, "ExecStart"))[0]
    if not Path(tool).exists():
        pytest.skip(f"{tool} is not installed here")
    stand_in = verify_root / tool.lstrip("/")
    stand_in.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tool, stand_in)
    run = subprocess.run(
        [ANALYZE, "verify", f"--root={verify_root}", unit.name],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


#: The key folders each aggregator unit must not see (aggregator/key_files.py, README).
KEYS = "/var/lib/safecode/keys"
HIDDEN_KEYS = {
    "safecode-aggregator.service": {"issuer"},
    "safecode-aggregator-ingest.service": {"issuer"},
    "safecode-aggregator-sequence.service": {"issuer", "data"},
    "safecode-aggregator-web.service": {"ledger", "issuer", "data"},
    "safecode-aggregator-issuer.service": {"ledger", "data"},
    "safecode-aggregator-trace.service": {"ledger", "issuer/issuer.key"},
    "safecode-aggregator-retention.service": {"ledger", "issuer", "data"},
}


@pytest.mark.parametrize("unit", AGGREGATOR_UNITS, ids=lambda u: u.name)
def test_each_aggregator_unit_sees_only_the_keys_its_role_opens(unit: Path) -> None:
    hidden = {p for line in values(unit, "InaccessiblePaths") for p in line.split()}
    assert hidden == {f"-{KEYS}/{name}" for name in HIDDEN_KEYS[unit.name]}
    assert f"-{KEYS}/public" not in hidden  # the public files stay readable
