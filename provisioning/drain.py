"""The device's outbox before a kiosk is retired: count it, wait for it to drain, wipe it.

A check-in still queued when the kiosk's key is retired is refused by the aggregator
(``retired_kiosk``), and the outbox holds visitor codes. So ``provision retire`` waits
(the kiosk running on) until the aggregator has acknowledged every queued check-in, then
stops the kiosk and counts again: a visitor who checked in after the last empty count
saw it accepted, so the kiosk is started again to deliver it (:func:`drain_and_stop`).
Only a stopped kiosk with an empty outbox is retired (or, forced, the stopped kiosk's
count is reported as abandoned); after retiring, the key, config, outbox and state
folder are removed from the device.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import StepFailed
from .layout import DeviceLayout
from .remote import Completed, Device

UNKNOWN = -1  # the queue depth could not be read


def parse_queue_depth(status: Completed) -> int:
    """Check-ins awaiting a receipt, from ``safecode kiosk status --json``; UNKNOWN if unread."""
    try:
        depth = int(json.loads(status.stdout.strip().splitlines()[-1])["queue_depth"])
    except (ValueError, KeyError, IndexError, TypeError):
        return 0 if "no outbox database" in status.stderr else UNKNOWN
    return depth if depth >= 0 else UNKNOWN


async def queue_depth(device: Device, layout: DeviceLayout, step: str) -> int:
    """How many check-ins the device's outbox holds unacknowledged (UNKNOWN if unread)."""
    status = await device.run(
        [layout.safecode, "kiosk", "status", "--json", "--config", layout.config],
        step,
        check=False,
    )
    return parse_queue_depth(status)


async def wait_drained(
    read_depth: Callable[[], Awaitable[int]],
    timeout: float,
    *,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Read the queue depth until it is 0 or ``timeout`` passes; the last depth read."""
    deadline = clock() + timeout
    depth = await read_depth()
    while depth != 0 and clock() < deadline:
        await sleep(min(poll_s, max(0.0, deadline - clock())))
        depth = await read_depth()
    return depth


@dataclass(frozen=True)
class Stopped:
    """The kiosk after :func:`drain_and_stop`: stopped, and what its outbox still holds."""

    depth: int
    """Check-ins the stopped kiosk's outbox holds unacknowledged (UNKNOWN if unread)."""
    was_running: bool
    """The unit was active before: start it again if the retirement does not go ahead."""


async def is_active(device: Device, systemctl: list[str], unit: str, step: str) -> bool:
    """True if ``systemctl is-active unit`` says the kiosk runs."""
    answer = await device.run([*systemctl, "is-active", unit], step, check=False)
    return answer.exit_status == 0


async def drain_and_stop(
    device: Device,
    layout: DeviceLayout,
    systemctl: list[str],
    unit: str,
    timeout: float,
    *,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Stopped:
    """Let the running kiosk deliver its queue, stop it, and count its outbox again.

    A visitor may check in between the last empty count and the stop: that check-in is
    queued, so the outbox is counted once more with the kiosk stopped. If it is not empty
    the kiosk is started again and waited on, within ``timeout`` seconds in all. On
    return the kiosk is stopped and ``depth`` is a count no running kiosk can change.
    """
    deadline = clock() + timeout
    was_running = await is_active(device, systemctl, unit, "drain")

    def read() -> Awaitable[int]:
        return queue_depth(device, layout, "drain")

    while True:
        left = max(0.0, deadline - clock())
        await wait_drained(read, left, poll_s=poll_s, clock=clock, sleep=sleep)
        # A running kiosk that cannot be stopped fails the step (StepFailed, nothing
        # changed); stopping one that was not running (or has no unit) is only tidy-up.
        await device.run([*systemctl, "stop", unit], "stop", check=was_running)
        depth = await read()
        if depth == 0 or not was_running or clock() >= deadline:
            return Stopped(depth, was_running)
        await device.run([*systemctl, "start", unit], "drain", check=False)
        await sleep(min(poll_s, deadline - clock()))  # let it reconnect before counting


def abandoned_or_refuse(kiosk_id: str, depth: int, timeout: float, force: bool) -> int:
    """How many check-ins a retirement abandons; StepFailed unless drained or forced."""
    if depth == 0:
        return 0
    held = "an unknown number of" if depth == UNKNOWN else str(depth)
    if not force:
        raise StepFailed(
            "drain",
            f"{kiosk_id} still holds {held} check-ins the aggregator has not acknowledged "
            f"after {timeout:g} s: they would be refused as retired_kiosk. Let the kiosk "
            "deliver them (is it running and online?) and retry, or give --force to abandon "
            "them; nothing was changed",
        )
    return depth


async def wipe_state(device: Device, layout: DeviceLayout, step: str) -> None:
    """Remove the device key, config, outbox (with -wal and -shm) and the state folder."""
    outbox = layout.outbox
    files = [layout.device_key, layout.config, outbox, outbox + "-wal", outbox + "-shm"]
    await device.run(["rm", "-f", "--", *files], step)
    await device.run(["rm", "-rf", "--", layout.state], step)
