"""``provision retire``'s steps: drain the outbox first (or refuse), then wipe the state."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner

import provisioning.retire as retire
from protocol import keys
from provisioning.drain import (
    UNKNOWN,
    abandoned_or_refuse,
    parse_queue_depth,
    wait_drained,
    wipe_state,
)
from provisioning.errors import StepFailed
from provisioning.layout import DeviceLayout, KioskSettings, render_config
from provisioning.remote import Completed

LAYOUT = DeviceLayout("/srv/door")
KIOSK = "k-door"


def status(depth: int | None, stderr: str = "") -> Completed:
    out = "" if depth is None else json.dumps({"queue_depth": depth, "kiosk": KIOSK}) + "\n"
    return Completed(exit_status=0 if depth is not None else 1, stdout=out, stderr=stderr)


def test_queue_depth_is_read_from_kiosk_status_json() -> None:
    assert parse_queue_depth(status(3)) == 3
    assert parse_queue_depth(status(0)) == 0
    assert parse_queue_depth(status(None, "no outbox database at /x")) == 0
    assert parse_queue_depth(status(None, "Traceback ...")) == UNKNOWN
    assert parse_queue_depth(Completed(0, '{"queue_depth": "many"}', "")) == UNKNOWN
    assert parse_queue_depth(Completed(0, '{"queue_depth": -4}', "")) == UNKNOWN


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def drain(depths: list[int], timeout: float) -> tuple[int, float, int]:
    """(last depth, seconds waited, reads) for a queue reporting ``depths`` in turn."""
    time, reads = FakeTime(), []

    async def read() -> int:
        reads.append(1)
        return depths[min(len(reads), len(depths)) - 1]

    last = asyncio.run(wait_drained(read, timeout, clock=time.clock, sleep=time.sleep))
    return last, time.now, len(reads)


def test_waits_until_the_queue_is_empty_and_no_longer() -> None:
    assert drain([0], 60) == (0, 0.0, 1)
    assert drain([3, 2, 0], 60) == (0, 2.0, 3)


def test_gives_up_at_the_timeout_with_what_is_left() -> None:
    last, waited, _ = drain([5, 4], 3.5)
    assert (last, waited) == (4, 3.5)
    assert drain([UNKNOWN], 2)[0] == UNKNOWN
    assert drain([7], 0) == (7, 0.0, 1)  # no wait asked: one look


def test_a_queue_left_refuses_unless_forced() -> None:
    assert abandoned_or_refuse(KIOSK, 0, 60, force=False) == 0
    with pytest.raises(StepFailed) as refused:
        abandoned_or_refuse(KIOSK, 4, 60, force=False)
    assert refused.value.step == "drain"
    assert "4 check-ins" in refused.value.message and "--force" in refused.value.message
    assert "nothing was changed" in refused.value.message
    with pytest.raises(StepFailed, match="unknown number"):
        abandoned_or_refuse(KIOSK, UNKNOWN, 60, force=False)
    assert abandoned_or_refuse(KIOSK, 4, 60, force=True) == 4
    assert abandoned_or_refuse(KIOSK, UNKNOWN, 60, force=True) == UNKNOWN


class FakeDevice:
    """Records commands; answers ``kiosk status`` with the next queue depth."""

    def __init__(self, depths: list[int]) -> None:
        self.depths = depths
        self.commands: list[list[str]] = []
        did = keys.did_key(keys.generate())
        settings = KioskSettings(KIOSK, "cafe-1", "entrance", (did,), did, {}, {})
        self.config = render_config(LAYOUT, settings)

    @classmethod
    def opener(cls, device: FakeDevice) -> Any:
        async def open_(target: object) -> FakeDevice:
            return device

        return open_

    async def __aenter__(self) -> FakeDevice:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read_file(self, path: str, step: str) -> bytes | None:
        return self.config if path == LAYOUT.config else None

    async def run(self, argv: list[str], step: str, **kw: Any) -> Completed:
        self.commands.append(list(argv))
        if argv[1:3] == ["kiosk", "status"]:
            depth = self.depths.pop(0) if len(self.depths) > 1 else self.depths[0]
            return status(depth)
        return Completed(0, "", "")

    def ran(self, word: str) -> bool:
        return any(word in argv for argv in self.commands)


class FakeClient:
    def __init__(self) -> None:
        self.retired: list[str] = []

    def retire(self, kiosk_id: str) -> None:
        self.retired.append(kiosk_id)


def run_retire(
    monkeypatch: pytest.MonkeyPatch, depths: list[int], **kw: Any
) -> tuple[FakeDevice, FakeClient, retire.Retired | StepFailed]:
    device, client = FakeDevice(depths), FakeClient()
    monkeypatch.setattr(retire.Device, "open", FakeDevice.opener(device))

    async def identity(*args: object) -> str:
        return "did:key:z"

    monkeypatch.setattr(retire, "check_identity", identity)
    try:
        done: retire.Retired | StepFailed = asyncio.run(
            retire.retire_device(
                None,  # type: ignore[arg-type]
                LAYOUT,
                client,  # type: ignore[arg-type]
                ["systemctl"],
                False,
                **kw,
            )
        )
    except StepFailed as exc:
        done = exc
    return device, client, done


def test_queued_checkins_stop_the_retirement_before_anything_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device, client, done = run_retire(monkeypatch, [2], drain_timeout=0)
    assert isinstance(done, StepFailed) and done.step == "drain" and "2 check-ins" in str(done)
    assert client.retired == []
    assert not device.ran("disable") and not device.ran("rm")


def test_a_drained_kiosk_is_retired_then_its_state_wiped(monkeypatch: pytest.MonkeyPatch) -> None:
    device, client, done = run_retire(monkeypatch, [0])
    assert done == retire.Retired(KIOSK, 0) and client.retired == [KIOSK]
    statuses = [i for i, a in enumerate(device.commands) if a[1:3] == ["kiosk", "status"]]
    disable = next(i for i, a in enumerate(device.commands) if "disable" in a)
    assert statuses and max(statuses) < disable  # drained while the kiosk ran
    removed = {path for argv in device.commands if argv[0] == "rm" for path in argv}
    outbox = LAYOUT.outbox
    wanted = {LAYOUT.device_key, LAYOUT.config, outbox, outbox + "-wal", outbox + "-shm"}
    assert wanted | {LAYOUT.state} <= removed


def test_forced_retirement_counts_what_it_abandons(monkeypatch: pytest.MonkeyPatch) -> None:
    _, client, done = run_retire(monkeypatch, [3], drain_timeout=0, force=True)
    assert done == retire.Retired(KIOSK, 3) and client.retired == [KIOSK]


def test_wipe_removes_files_then_the_state_folder() -> None:
    device = FakeDevice([0])
    asyncio.run(wipe_state(device, LAYOUT, "wipe"))  # type: ignore[arg-type]
    assert device.commands[-1] == ["rm", "-rf", "--", LAYOUT.state]


def test_the_cli_offers_drain_timeout_and_force() -> None:
    shown = CliRunner().invoke(retire.retire_command, ["--help"]).output
    assert "--drain-timeout" in shown and "--force" in shown


# -- a check-in between the last empty count and the stop ---------------------------------


class LateVisitorKiosk(FakeDevice):
    """A kiosk whose queue is empty when counted, and a visitor checks in right after.

    Running, it takes the visitors' check-ins (green light, queued) just after a count,
    and delivers one queued check-in per later count; stopped, its queue stays as it is.
    """

    def __init__(self, visitors: int = 1) -> None:
        super().__init__([0])
        self.queue, self.running, self.visitors = 0, True, visitors

    async def run(self, argv: list[str], step: str, **kw: Any) -> Completed:
        self.commands.append(list(argv))
        action = argv[1:2]
        if action == ["is-active"]:
            return Completed(0 if self.running else 3, "", "")
        if action == ["stop"] or argv[1:3] == ["disable", "--now"]:
            self.running = False
        elif action == ["start"]:
            self.running = True
        elif argv[1:3] == ["kiosk", "status"]:
            depth = self.queue
            if self.running and self.visitors:
                self.visitors -= 1
                self.queue += 1  # the visitor saw it accepted
            elif self.running and self.queue:
                self.queue -= 1  # delivered, acknowledged
            return status(depth)
        return Completed(0, "", "")


class WatchingClient(FakeClient):
    """Notes the device's queue and state at the moment the aggregator retires the kiosk."""

    def __init__(self, device: LateVisitorKiosk) -> None:
        super().__init__()
        self.device = device
        self.seen: list[tuple[int, bool]] = []

    def retire(self, kiosk_id: str) -> None:
        super().retire(kiosk_id)
        self.seen.append((self.device.queue, self.device.running))


def retire_late_visitor(
    monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[LateVisitorKiosk, WatchingClient, retire.Retired | StepFailed]:
    from functools import partial

    from provisioning import drain

    device = LateVisitorKiosk()
    client = WatchingClient(device)
    time = FakeTime()
    monkeypatch.setattr(retire.Device, "open", FakeDevice.opener(device))
    monkeypatch.setattr(
        retire, "drain_and_stop", partial(drain.drain_and_stop, clock=time.clock, sleep=time.sleep)
    )

    async def identity(*args: object) -> str:
        return "did:key:z"

    monkeypatch.setattr(retire, "check_identity", identity)
    try:
        done: retire.Retired | StepFailed = asyncio.run(
            retire.retire_device(None, LAYOUT, client, ["systemctl"], False, **kw)  # type: ignore[arg-type]
        )
    except StepFailed as exc:
        done = exc
    return device, client, done


def test_a_checkin_after_the_last_empty_count_is_delivered_before_retiring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device, client, done = retire_late_visitor(monkeypatch, drain_timeout=60)
    assert done == retire.Retired(KIOSK, 0)
    assert client.seen == [(0, False)]  # retired stopped, its visitor's check-in delivered
    actions = [argv[1] for argv in device.commands if argv[0] == "systemctl"]
    assert actions[:4] == ["is-active", "stop", "start", "stop"]  # stopped, 1 left, restarted
    assert device.ran("rm")


def test_a_checkin_after_the_last_empty_count_refuses_when_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device, client, done = retire_late_visitor(monkeypatch, drain_timeout=0)
    assert isinstance(done, StepFailed) and done.step == "drain" and "1 check-ins" in str(done)
    assert client.retired == [] and not device.ran("rm") and not device.ran("disable")
    assert device.running and device.queue == 1  # restarted: it delivers the check-in later


def test_a_forced_retirement_counts_the_checkin_after_the_last_empty_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device, client, done = retire_late_visitor(monkeypatch, drain_timeout=0, force=True)
    assert done == retire.Retired(KIOSK, 1)  # "abandoned 1", not 0
    assert client.seen == [(1, False)] and device.ran("rm")


def test_drain_and_stop_is_bounded_by_the_timeout_when_visitors_keep_coming() -> None:
    from provisioning.drain import drain_and_stop

    device, time = LateVisitorKiosk(visitors=10**6), FakeTime()
    stopped = asyncio.run(
        drain_and_stop(
            device,  # type: ignore[arg-type]
            LAYOUT,
            ["systemctl"],
            "k.service",
            5.0,
            clock=time.clock,
            sleep=time.sleep,
        )
    )
    assert stopped.depth >= 1 and stopped.was_running and not device.running
    assert time.now == 5.0


def test_a_kiosk_that_was_not_running_is_not_started() -> None:
    from provisioning.drain import drain_and_stop

    device, time = LateVisitorKiosk(), FakeTime()
    device.running, device.queue = False, 2
    stopped = asyncio.run(
        drain_and_stop(
            device,  # type: ignore[arg-type]
            LAYOUT,
            ["systemctl"],
            "k.service",
            3.0,
            clock=time.clock,
            sleep=time.sleep,
        )
    )
    assert (stopped.depth, stopped.was_running) == (2, False) and not device.ran("start")
