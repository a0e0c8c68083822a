"""``safecode bench``: figures printed as JSON, run on demand (never as timed tests)."""

from __future__ import annotations

import json
import platform
import statistics
import time

import click
import segno

from protocol import keys
from protocol.presentation import Presentation
from simulator.visitors import enrol_visitor

from .bridge import bridge_command
from .fleet import fleet_command
from .flood import flood_command
from .ingest import ingest_command
from .kiosk import kiosk_command
from .qr_levels import qr_levels_command
from .trace import trace_command
from .wallet import wallet_command

# QR capacity in alphanumeric characters at error correction M, versions 1-10 (ISO/IEC 18004).
_ALNUM_CAPACITY_M = [20, 38, 61, 90, 122, 154, 178, 221, 262, 311]


@click.group("bench")
def bench_group() -> None:
    """Benchmarks and size figures, printed as JSON."""


bench_group.add_command(ingest_command)
bench_group.add_command(flood_command)
bench_group.add_command(bridge_command)  # regional brokers (aggregator/broker_regions.py)
bench_group.add_command(fleet_command)
bench_group.add_command(qr_levels_command)
bench_group.add_command(wallet_command)
bench_group.add_command(trace_command)


@bench_group.command("presentation")
@click.option("--samples", default=200, show_default=True, help="Presentations to make and time.")
def presentation_command(samples: int) -> None:
    """Size of a presentation and the QR code it needs; cost to make and verify one."""
    if samples < 1:
        raise click.BadParameter("must be at least 1", param_hint="--samples")
    issuer = keys.generate()
    trusted = [issuer.public_key()]
    sizes, chars, versions, make_us, parse_verify_us, raw_us = [], [], [], [], [], []
    probe_key = keys.generate()
    probe_sig = probe_key.sign(b"probe")
    for _ in range(samples):
        start = time.perf_counter()
        probe_key.public_key().verify(probe_sig, b"probe")
        raw_us.append((time.perf_counter() - start) * 1e6)
        wallet = enrol_visitor(issuer, time.time())
        start = time.perf_counter()
        text = wallet.show(time.time()).to_text()
        made = time.perf_counter()
        Presentation.from_text(text).verify(trusted, now=time.time())
        checked = time.perf_counter()
        make_us.append((made - start) * 1e6)
        parse_verify_us.append((checked - made) * 1e6)
        sizes.append(len(Presentation.from_text(text).to_bytes()))
        chars.append(len(text))
        versions.append(segno.make(text, error="m", boost_error=False).version)
    worst = max(chars)
    click.echo(
        json.dumps(
            {
                "samples": samples,
                "bytes_max": max(sizes),
                "chars_max": worst,
                "qr_version_max": max(versions),
                "qr_error_correction": "M",
                "qr_mode": "alphanumeric",
                "qr_v10_capacity_chars": _ALNUM_CAPACITY_M[9],
                "headroom_chars": _ALNUM_CAPACITY_M[9] - worst,
                "make_us_median": round(statistics.median(make_us), 1),
                "parse_and_verify_us_median": round(statistics.median(parse_verify_us), 1),
                "raw_ed25519_verify_us_median": round(statistics.median(raw_us), 1),
                # A presentation needs two signature checks (issuer, visitor): the floor.
                "parse_and_verify_vs_two_raw_verifies": round(
                    statistics.median(parse_verify_us) / (2 * statistics.median(raw_us)), 2
                ),
                "machine": f"{platform.machine()} {platform.python_implementation()} "
                f"{platform.python_version()}",
            },
            sort_keys=True,
        )
    )


@bench_group.command("decoders")
@click.option(
    "--set",
    "dataset",
    default="zxing-blackbox",
    show_default=True,
    help="A labelled image set under <shared data>/qr, or a folder.",
)
@click.option("--repeats", default=5, show_default=True, help="Decodes of each image per decoder.")
@click.option(
    "--empty",
    default=None,
    type=int,
    help="Empty 640x480 frames to time [default: 10; 300 with --set door].",
)
@click.option("--visits", default=60, show_default=True, help="--set door: visits (30 frames).")
@click.option("--frames", default=30, show_default=True, help="--set door: frames per visit.")
@click.option("--seed", default=17, show_default=True, help="--set door: the set's seed.")
@click.option("--levels", default="L,M,Q", show_default=True, help="--set door: levels compared.")
@click.option(
    "--candidates",
    is_flag=True,
    help="--set door: also the cascade's variants and candidate stages (slower).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON only (the output is JSON anyway).")
def decoders_command(
    dataset: str,
    repeats: int,
    empty: int | None,
    visits: int,
    frames: int,
    seed: int,
    levels: str,
    candidates: bool,
    as_json: bool,
) -> None:
    """Read rate and cost of each decoder and of the cascade (benchmarks/decoders.py).

    ``--set door`` generates the door frame set instead (benchmarks/door_frames.py) and
    reports per-frame and per-visit read rates and costs (benchmarks/door_reads.py).
    """
    del as_json
    if dataset == "door":
        empty = 300 if empty is None else empty
        _door_figures(visits, empty, frames, seed, levels, candidates, repeats)
        return
    empty = 10 if empty is None else empty
    from .decoders import dataset_dir, decoder_figures

    root = dataset_dir(dataset)
    if not root.is_dir():
        raise click.BadParameter(f"no image set at {root}", param_hint="--set")
    if repeats < 1 or empty < 1:
        raise click.BadParameter("--repeats and --empty must be at least 1")
    try:
        figures = decoder_figures([root], repeats=repeats, empty=empty)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"set": str(root), **figures}, sort_keys=True))


def _door_figures(
    visits: int, empty: int, frames: int, seed: int, levels: str, candidates: bool, repeats: int
) -> None:
    from .door_reads import candidate_decoders, door_figures

    chosen = [level.strip().upper() for level in levels.split(",") if level.strip()]
    if visits < 1 or empty < 1 or frames < 1 or repeats < 1:
        raise click.BadParameter("--visits, --empty, --frames and --repeats must be at least 1")
    try:
        figures = door_figures(
            visits=visits,
            empty=empty,
            frames=frames,
            seed=seed,
            levels=chosen,
            repeats=repeats,
            decoders=candidate_decoders() if candidates else None,
            progress=lambda line: click.echo(line, err=True),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(figures, sort_keys=True))


bench_group.add_command(kiosk_command)
