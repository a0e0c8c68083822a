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
