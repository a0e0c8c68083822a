"""``provision batch INVENTORY``: enrol many devices in parallel.

A progress bar while it runs; then a result table, one row per inventory line (bad
lines included), each saying what state the device is in. Failures in the connect and
heartbeat steps are retried (enrolment is idempotent, so a retry is safe); every other
failure is reported as it is. The exit status is 1 if any line did not end enrolled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import click

from .enrol import EnrolResult, enrol_device
from .inventory import BadLine, Device, InventoryError, read_inventory
from .operator_client import OperatorClient
from .options import (
    connection_options,
    enrol_options,
    enrol_options_with_wheel,
    operator_token,
    ssh_target,
)

RETRIED_STEPS = ("connect", "heartbeat")
INTERNAL = "internal error"
"""The failed step of a device whose enrolment raised an unforeseen error (logged)."""

log = logging.getLogger(__name__)


async def run_all(
    devices: list[Device],
    make: Any,
    jobs: int,
    retries: int,
    on_done: Any,
) -> list[EnrolResult]:
    """Enrol ``devices``, ``jobs`` at a time; a retried step gets ``retries`` more tries."""
    gate = asyncio.Semaphore(jobs)

    async def attempts(device: Device) -> EnrolResult:
        attempt = 0
        while True:
            attempt += 1
            target, options, client = make(device)
            result = await enrol_device(target, options, client)
            result.attempts = attempt
            if result.ok or result.failed_step not in RETRIED_STEPS or attempt > retries:
                return result
            await asyncio.sleep(min(2.0 * attempt, 10.0))

    async def one(device: Device) -> EnrolResult:
        async with gate:
            try:
                result = await attempts(device)
            except Exception as exc:  # noqa: BLE001 - last line of defence: one device fails, the batch goes on
                log.error("line %d (%s): unexpected error", device.line, device.host, exc_info=True)
                result = EnrolResult(
                    host=device.host,
                    venue=device.venue,
                    state="unknown: see the traceback logged above",
                    error=f"{type(exc).__name__}: {exc}",
                    failed_step=INTERNAL,
                )
            on_done(result)
            return result

    return list(await asyncio.gather(*(one(d) for d in devices)))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.command("batch")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Devices enrolled at once.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="Retries of a device whose connect or heartbeat step failed.",
)
@click.option("--venue", hidden=True, default=None)
@connection_options
@enrol_options
def batch_command(inventory: Path, jobs: int, retries: int, **kw: Any) -> None:
    """Enrol every device of INVENTORY (CSV: host,venue[,port,user,kiosk_id,door,host_key,
    prefix]) in parallel; print a result table; exit 1 unless all are enrolled."""
    try:
        devices, bad = read_inventory(inventory)
    except InventoryError as exc:
        raise click.ClickException(f"inventory: {exc}") from exc
    token = operator_token(kw["token_file"])
    started = time.monotonic()
    with enrol_options_with_wheel(kw) as base:

        def make(device: Device) -> tuple[Any, Any, OperatorClient]:
            target = ssh_target(
                device.host,
                device.port,
                device.user or kw["user"],
                kw["identity"],
                kw["known_hosts"],
                device.host_key,
            )
            options = dataclasses.replace(
                base,
                venue=device.venue,
                kiosk_id=device.kiosk_id,
                door=device.door or base.door,
                prefix=device.prefix or base.prefix,
            )
            return target, options, OperatorClient(kw["aggregator_url"], token)

        results: list[EnrolResult] = []
        if devices:
            with click.progressbar(
                length=len(devices),
                label="enrolling",
                file=click.get_text_stream("stderr"),
                show_pos=True,
            ) as bar:
                results = asyncio.run(
                    run_all(devices, make, jobs, retries, lambda r: bar.update(1))
                )
    elapsed = time.monotonic() - started
    print_report(devices, results, bad, elapsed, kw["as_json"])
    if bad or not all(r.ok for r in results):
        raise SystemExit(1)


def print_report(
    devices: list[Device],
    results: list[EnrolResult],
    bad: list[BadLine],
    elapsed: float,
    as_json: bool,
) -> None:
    """Print the batch's outcome: one row a device and a bad line, then the totals; or JSON."""
    rows = [(d.line, r) for d, r in zip(devices, results, strict=True)]
    enrolled = sum(r.ok for r in results)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "devices": [{"line": n, **r.to_json()} for n, r in rows],
                    "bad_lines": [dataclasses.asdict(b) for b in bad],
                    "enrolled": enrolled,
                    "seconds": round(elapsed, 2),
                },
                sort_keys=True,
            )
        )
        return
    table: list[tuple[str, ...]] = [("line", "host", "result", "kiosk", "state / error", "s")]
    entries: list[tuple[int, tuple[str, ...]]] = []
    for device, r in zip(devices, results, strict=True):
        number = device.line
        where = f"{r.host}:{device.port}{'' if r.attempts == 1 else f' (x{r.attempts})'}"
        if r.ok:
            what = ", ".join(r.changed) or "nothing changed"
            cells = (str(number), where, "enrolled", r.kiosk_id or "", what, f"{r.seconds:.1f}")
        else:
            detail = f"{r.state}; {r.failed_step}: {r.error}"
            cells = (
                str(number),
                where,
                "FAILED",
                r.kiosk_id or "-",
                detail[:160],
                f"{r.seconds:.1f}",
            )
        entries.append((number, cells))
    for b in bad:
        entries.append((b.line, (str(b.line), b.text[:30], "BAD LINE", "-", b.problem[:160], "")))
    table += [cells for _, cells in sorted(entries)]
    click.echo(_table(table))
    total = len(devices) + len(bad)
    done = [r.seconds for r in results if r.ok]
    mean = f"{sum(done) / len(done):.1f} s per enrolled device" if done else "none enrolled"
    internal = sum(r.failed_step == INTERNAL for r in results)
    crashed = f", {internal} internal errors (tracebacks above)" if internal else ""
    click.echo(
        f"{enrolled} of {total} enrolled in {elapsed:.1f} s "
        f"({mean}, {len(bad)} bad inventory lines{crashed})"
    )
