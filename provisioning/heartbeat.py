"""Waiting for a kiosk's heartbeat at the aggregator (enrol and rekey)."""

from __future__ import annotations

import asyncio
import time

from .errors import StepFailed
from .operator_client import OperatorClient


async def last_seen(client: OperatorClient, kiosk_id: str) -> int:
    """The aggregator's own time (ms) of the kiosk's last heartbeat; 0 if never."""
    mine = await asyncio.to_thread(client.kiosk_status, kiosk_id)
    return int((mine or {}).get("last_seen_ms") or 0)


async def wait_heartbeat(
    client: OperatorClient, kiosk_id: str, timeout: float, since_ms: int | None, unit: str
) -> None:
    """Wait until ``kiosk_id`` is online with a heartbeat newer than ``since_ms`` (if given)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = await asyncio.to_thread(client.kiosk_status, kiosk_id)
        if (
            mine is not None
            and mine.get("online")
            and (since_ms is None or (mine.get("last_seen_ms") or 0) > since_ms)
        ):
            return
        if time.monotonic() > deadline:
            seen = "never" if mine is None else f"state {mine.get('state')}"
            raise StepFailed(
                "heartbeat",
                f"no heartbeat from {kiosk_id} in {timeout:g} s (last: {seen}); the kiosk is "
                f"enrolled: check 'journalctl -u {unit}' on the device and re-run",
            )
        await asyncio.sleep(0.5)
