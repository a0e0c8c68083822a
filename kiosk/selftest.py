"""``safecode kiosk selftest``: one small check per part, each a PASS, WARN or FAIL row.

Every check is a function returning a detail line, or raising :class:`CheckFailed`
(or :class:`CheckWarning`). The errors a broken part is expected to raise (a missing
file, a refused connection, a camera that will not open, a busy GPIO) become FAIL
rows; anything else is a bug and keeps its traceback. Each check runs in a worker
thread with a deadline, so a hung camera or broker cannot hang the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import ssl
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.exc import BadPinFactory, GPIOZeroError

from protocol import keys
from protocol.errors import ProtocolError
from protocol.selftest_report import FAIL, PASS, WARN, CheckResult, SelftestReport
from support.config_file import ConfigError
from transport.session import SessionCallbacks, open_session

from .clock import KioskClock
from .config import KioskConfig
from .frames import FrameSourceError
from .instance_lock import is_running
from .lights import Feedback, PinMapError, load_pins
from .outbox_reader import OutboxReadError, read_outbox
from .status_report import nearest_existing

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Less free space than this on the outbox's disk fails the disk check."""
DEADLINE_SLACK_S = 10.0
"""How long past its own timeouts a check may run before its row says it hung."""
EARLIEST_PLAUSIBLE = 1_767_225_600  # 2026-01-01: a wall clock before it was never set
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    PinMapError,
    FrameSourceError,
    GPIOZeroError,
    OutboxReadError,
    ProtocolError,
    sqlite3.Error,
    ssl.SSLError,
    OSError,  # includes ConnectionRefusedError, TimeoutError, FileNotFoundError
    ValueError,  # a key file that is not PEM
)


class CheckFailed(Exception):
    """The part does not work; the message says how."""


class CheckWarning(Exception):
    """The part works but needs attention; the message says why."""


@dataclass
class SelftestOptions:
    """How the checks run: pin factory, timeouts, the clock to ask."""

    pin_factory: Any = None
    frame_timeout: float = 5.0
    broker_timeout: float = 5.0
    lamp_step_s: float = 0.4
    clock: KioskClock | None = None
    deadline_slack: float | None = None
    """Seconds each check may take beyond its own timeouts; None: DEADLINE_SLACK_S."""


def run_check(name: str, check: Callable[[], str], timeout: float) -> CheckResult:
    """Run one check in a worker thread; its row, FAIL if it raises an expected error or hangs."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["detail"] = check()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread below
            outcome["error"] = exc

    start = time.monotonic()
    worker = threading.Thread(target=work, name=f"selftest-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = time.monotonic() - start
    if worker.is_alive():
        return CheckResult(name, FAIL, f"no answer within {timeout:g} s", seconds)
    error = outcome.get("error")
    if error is None:
        return CheckResult(name, PASS, outcome["detail"], seconds)
    if isinstance(error, CheckWarning):
        return CheckResult(name, WARN, str(error), seconds)
    if isinstance(error, CheckFailed):
        return CheckResult(name, FAIL, str(error), seconds)
    if isinstance(error, EXPECTED_ERRORS):
        return CheckResult(name, FAIL, f"{type(error).__name__}: {error}", seconds)
    raise error


# -- the checks ---------------------------------------------------------------------------


def check_pins(config: KioskConfig, options: SelftestOptions) -> str:
    pins = load_pins(config.pins_file)
    return (
        f"green {pins.green}, red {pins.red}, amber {pins.amber}, "
        f"{pins.buzzer_kind} buzzer {pins.buzzer}"
    )


def check_lights(config: KioskConfig, options: SelftestOptions) -> str:
    pins = load_pins(config.pins_file)
    try:
        feedback = Feedback(pins, pin_factory=options.pin_factory)
    except BadPinFactory as exc:
        raise CheckFailed(
            f"no GPIO here ({exc}): on a Raspberry Pi install python3-lgpio; "
            "elsewhere use --mock-pins"
        ) from exc
    with feedback:
        lamps = feedback.lamp_test(step_s=options.lamp_step_s)
    bad = [f"{lamp.name}: {lamp.detail}" for lamp in lamps if not lamp.ok]
    if bad:
        raise CheckFailed("; ".join(bad))
    names = ", ".join(lamp.name for lamp in lamps)
    return f"lit and sounded in turn: {names} (look and listen)"


def check_camera(config: KioskConfig, options: SelftestOptions) -> str:
    from .sources import frame_source

    start = time.monotonic()
    with frame_source(config.camera) as source:
        frame = source.read(timeout=options.frame_timeout)
        if frame is None:
            raise CheckFailed(f"{source!r} gave no frame within {options.frame_timeout:g} s")
        took = time.monotonic() - start
        return f"{frame.width}x{frame.height} frame in {took * 1000:.0f} ms from {source!r}"


class _NotAuthorised(Exception):
    """The broker knew the login but refused this client id (a pinned account)."""


def _broker_login(
    config: KioskConfig, options: SelftestOptions, client_id: str, *, persistent: bool
) -> str:
    """Log in once with the kiosk's settings as ``client_id``, then leave; a detail line.

    A persistent login resumes the kiosk's own session without taking anything from
    it: nothing is subscribed and nothing acknowledged, so whatever is queued for the
    kiosk is sent to it again when it next connects.
    """
    settings = config.mqtt
    where = f"{settings.host}:{settings.port}{' (TLS)' if settings.tls else ''}"
    answer: dict[str, str | None] = {}
    connected = threading.Event()

    def on_connect(refused: str | None) -> None:
        answer["refused"] = refused
        connected.set()

    session = open_session(
        settings,
        client_id,
        SessionCallbacks(connected=on_connect),
        persistent=persistent,
        manual_ack=True,
        connect_timeout=options.broker_timeout,
    )
    start = time.monotonic()
    try:
        session.connect()
    except ConnectionRefusedError as exc:
        raise CheckFailed(f"{where}: connection refused (is the broker running?)") from exc
    except TimeoutError as exc:
        raise CheckFailed(f"{where}: no TCP answer within {options.broker_timeout:g} s") from exc
    except socket.gaierror as exc:
        raise CheckFailed(f"{where}: cannot resolve the host: {exc}") from exc
    try:
        if not connected.wait(options.broker_timeout):
            raise CheckFailed(f"{where}: no CONNACK within {options.broker_timeout:g} s")
        refused = answer["refused"]
        if refused is not None and "not authori" in refused.lower():
            raise _NotAuthorised(f"{where}: {refused}")
        if refused is not None:
            raise CheckFailed(f"{where}: broker refused the connection: {refused}")
        took = time.monotonic() - start
        return f"{where}: connected as {client_id} in {took * 1000:.0f} ms, then disconnected"
    finally:
        session.close()


def check_broker(config: KioskConfig, options: SelftestOptions) -> str:
    """Reach the broker with the kiosk's login, never taking over a running kiosk's session.

    No firmware running: log in as the kiosk itself (its client id and session, left as
    they were). Firmware running: log in as ``<kiosk-id>-selftest`` with a clean session;
    a broker that pins each kiosk to its own client id refuses that, and then the running
    kiosk's latest receipt says whether its link works.
    """
    if not is_running(config.state_dir):
        try:
            return _broker_login(config, options, config.kiosk_id, persistent=True)
        except _NotAuthorised as exc:
            raise CheckFailed(f"{exc}: the broker refuses this kiosk's own login") from exc
    try:
        return _broker_login(config, options, f"{config.kiosk_id}-selftest", persistent=False)
    except _NotAuthorised as exc:
        return _running_link(config, str(exc))


def _running_link(config: KioskConfig, refused: str) -> str:
    """The running firmware's link, from the heartbeats it notes in its outbox.

    The broker refused a second login (it pins this kiosk's client id, or the
    password is wrong: MQTT 3.1.1 says "not authorised" to both), so the firmware's
    own record decides: its latest heartbeat must have gone out with the link up.
    """
    snapshot = read_outbox(config.outbox_path)
    said = f"{refused}: a second login beside the running kiosk is refused"
    now_ms = time.time() * 1000
    up, down = snapshot.link_up_ms, snapshot.link_down_ms
    fresh_s = 3 * config.heartbeat_s + 10
    if up is not None and (down is None or up >= down) and now_ms - up <= fresh_s * 1000:
        return (
            f"{said}; the running kiosk's link is up (heartbeat {(now_ms - up) / 1000:.0f} s ago)"
        )
    if down is not None and (up is None or down > up):
        raise CheckFailed(
            f"{said}; the running kiosk's link was down at its last heartbeat, "
            f"{(now_ms - down) / 1000:.0f} s ago (check its log: password? broker?)"
        )
    raise CheckWarning(f"{said}; the running kiosk has noted no heartbeat in {fresh_s:.0f} s")


def check_outbox(config: KioskConfig, options: SelftestOptions) -> str:
    path = config.outbox_path
    if not path.exists():
        folder = nearest_existing(path.parent)
        if not _writable(folder):
            raise CheckFailed(f"{path} does not exist and {folder} is not writable")
        return f"{path} not created yet (the kiosk makes it on first run; {folder} is writable)"
    snapshot = read_outbox(path, integrity=True)
    if snapshot.integrity != "ok":
        raise CheckFailed(f"{path}: integrity check says {snapshot.integrity}")
    return (
        f"{path}: integrity ok, {snapshot.pending} waiting for a receipt, "
        f"{snapshot.refused} refused"
    )


def check_disk(config: KioskConfig, options: SelftestOptions) -> str:
    folder = nearest_existing(config.state_dir)
    usage = shutil.disk_usage(folder)
    text = f"{_size(usage.free)} free of {_size(usage.total)} at {folder}"
    if usage.free < MIN_FREE_BYTES:
        raise CheckFailed(f"only {text} (need {_size(MIN_FREE_BYTES)})")
    return text


def check_device_key(config: KioskConfig, options: SelftestOptions) -> str:
    path = config.device_key_path
    if not path.exists():
        raise CheckFailed(f"no device key at {path}: run 'safecode kiosk keygen'")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CheckFailed(f"{path} is readable by others (mode {mode:04o}); chmod 600 it")
    key = keys.load_private(path)
    did = keys.did_key(key)
    return f"{path} loads: {did[:20]}...{did[-6:]}"


def check_clock(config: KioskConfig, options: SelftestOptions) -> str:
    clock = options.clock or KioskClock()
    now = clock.now()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    if now < EARLIEST_PLAUSIBLE:
        raise CheckFailed(f"wall clock says {when}: it was never set (check NTP and the RTC)")
    if not clock.state().synced:
        raise CheckWarning(
            f"{when}, not synchronised: the kiosk scans and marks its records (check NTP)"
        )
    return f"{when}, synchronised"


CHECKS: tuple[tuple[str, Callable[[KioskConfig, SelftestOptions], str]], ...] = (
    ("pin map", check_pins),
    ("lights and buzzer", check_lights),
    ("camera", check_camera),
    ("broker", check_broker),
    ("outbox", check_outbox),
    ("disk", check_disk),
    ("device key", check_device_key),
    ("clock", check_clock),
)


def run_selftest(
    config: KioskConfig,
    options: SelftestOptions | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check in turn; the rows in order (``on_result`` sees each as it lands)."""
    options = options or SelftestOptions()
    budgets = {
        "lights and buzzer": 5 * options.lamp_step_s,
        "camera": options.frame_timeout,
        "broker": 2 * options.broker_timeout,
    }
    slack = DEADLINE_SLACK_S if options.deadline_slack is None else options.deadline_slack
    results = []
    for name, check in CHECKS:
        timeout = budgets.get(name, 0.0) + slack
        result = run_check(name, lambda check=check: check(config, options), timeout)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def passed(results: list[CheckResult]) -> bool:
    """True when no row failed (warnings pass)."""
    return all(r.status != FAIL for r in results)


def format_table(results: list[CheckResult]) -> str:
    """A plain-text table: check, result, detail."""
    width = max([len("check"), *(len(r.name) for r in results)])
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    for r in results:
        lines.append(f"{r.name:<{width}}  {r.status:<6}  {r.detail}")
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    verdict = "all checks passed" if not failed else f"{failed} check(s) FAILED"
    if warned:
        verdict += f", {warned} warning(s)"
    lines.append(verdict)
    return "\n".join(lines)


def report(kiosk_id: str, results: list[CheckResult]) -> SelftestReport:
    """The report ``--json`` prints (protocol.selftest_report), which provisioning reads."""
    return SelftestReport(kiosk_id, tuple(results))


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
