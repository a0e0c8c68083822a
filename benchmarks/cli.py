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
@click.option("--empty", default=10, show_default=True, help="Empty 640x480 frames to time.")
def decoders_command(dataset: str, repeats: int, empty: int) -> None:
    """Read rate and cost of each decoder and of the cascade (benchmarks/decoders.py)."""
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


bench_group.add_command(kiosk_command)
