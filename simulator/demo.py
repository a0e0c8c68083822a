"""``safecode demo``: the whole system on this machine, shown working.

A private Mosquitto broker on a free loopback port, the aggregator (ingest,
sequencer, read API) and N kiosks as separate processes, the kiosks fed by
simulated visitors walking up to their cameras. After ``--seconds`` (or
Ctrl-C) everything stops in order, the ledger is re-verified from storage, and
the last line printed is one JSON object summarising the run.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import click

from aggregator.audit import LedgerError, verify_ledger
from aggregator.audit_log import AuditLogEntry
from aggregator.db import BlockEntry, CheckinEntry, open_database
from aggregator.operators import create_token
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier, open_note
from provisioning.site import Site

from .broker import free_port
from .demo_broker import probe_foreign_topic, start_broker
from .demo_trace import trace_demo_case
from .demo_wallet import authority_reads, enrol_phones, make_authority, phone_number
from .demo_witness import DemoWitness, add_witness, cosign_once, show_fleet
from .process import RelayedProcess
from .site import init_simulated_site
from .wallet_client import EnrolledPhone

#: Visitors who enrol through the wallet API (the rest hold the simulator's credentials).
WALLET_PHONES = 10
#: How long a stopping kiosk waits for its last receipts (it leaves as soon as all came).
DRAIN_SECONDS = 30.0


def _fetch_checkpoint(site: Site) -> tuple[str | None, bool]:
    """Read the latest checkpoint from the read API and check it with the ledger key."""
    url = f"http://127.0.0.1:{site.http_port}/v1/checkpoint"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except (urllib.error.URLError, OSError):
        return None, False
    try:
        open_note(body, [NoteVerifier.from_string(site.ledger_vkey)])
    except ProtocolError:
        return body.decode("utf-8", "replace"), False
    return body.decode("utf-8"), True


def _ledger_figures(site: Site) -> dict[str, Any]:
    db = open_database(site.database_url)
    try:
        verifier = NoteVerifier.from_string(site.ledger_vkey)
        try:
            summary = verify_ledger(verifier.public_key, verifier.name)
            verified, root, size = True, summary.root.hex(), summary.tree_size
        except LedgerError as exc:
            click.echo(f"ledger verification FAILED: {exc}", err=True)
            verified, root, size = False, None, None
        return {
            "sealed": CheckinEntry.select().where(CheckinEntry.leaf_index.is_null(False)).count(),
            "unsealed": CheckinEntry.select().where(CheckinEntry.leaf_index.is_null()).count(),
            "blocks": BlockEntry.select().count(),
            "audit_sealed": AuditLogEntry.select()
            .where(AuditLogEntry.leaf_index.is_null(False))
            .count(),
            "tree_size": size,
            "root": root,
            "ledger_verified": verified,
        }
    finally:
        db.close()


@click.command("demo")
@click.option("--seconds", default=30.0, show_default=True, help="How long visitors keep coming.")
@click.option("--kiosks", default=3, show_default=True, help="Number of simulated kiosks.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the site (keys, configs, databases) here instead of a temporary folder.",
)
def demo_command(seconds: float, kiosks: int, workdir: Path | None) -> None:
    """Run broker, aggregator and kiosks with simulated visitors on this machine."""
    if seconds <= 0:
        raise click.BadParameter("must be positive", param_hint="--seconds")
    if not 1 <= kiosks <= 20:
        raise click.BadParameter("use 1 to 20 kiosks", param_hint="--kiosks")
    with tempfile.TemporaryDirectory(prefix="safecode-demo-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        summary = _run_demo(root, seconds, kiosks)
    click.echo(json.dumps(summary, sort_keys=True))
    if not summary["ledger_verified"]:
        sys.exit(1)


def _stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C, SIGTERM or SIGHUP: each ends the demo the orderly way."""
    stop = threading.Event()

    def _set(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _set)
    return stop


def _operator_token(site: Site) -> str:
    """An operator token for the demo's own look at the fleet (an operator-only view)."""
    db = open_database(site.database_url)
    try:
        return create_token("demo operator")
    finally:
        db.close()


def _run_demo(root: Path, seconds: float, kiosks: int) -> dict[str, Any]:
    stop = _stop_on_signals()
    clock = time.monotonic()
    echo = click.echo
    broker, logins = start_broker(root / "broker", echo)
    aggregator: RelayedProcess | None = None
    kiosk_processes: list[RelayedProcess] = []
    phones: list[EnrolledPhone] = []
    try:
        authority_key, authority_text = make_authority(root / "authority")
        site = init_simulated_site(
            root / "site",
            kiosks=kiosks,
            visitors=40 * kiosks,
            mqtt_port=broker.port,
            http_port=free_port(),
            broker_logins=logins,
            authority_key=authority_text,
        )
        echo(f"site: {kiosks} kiosk(s) enrolled under {site.root}; ledger key {site.ledger_vkey}")
        witness = add_witness(site, root / "witness")
        echo(f"witness: an outside party's key {witness.vkey}")
        token = _operator_token(site)
        aggregator = RelayedProcess(
            "aggregator",
            [
                "aggregator",
                "run",
                "--config",
                str(site.aggregator_config),
                "--summary-json",
                "--issuer",
            ],
            clock,
            echo,
        )
        aggregator.ready.wait(15)
        phones = enrol_phones(site, WALLET_PHONES, echo)
        echo(f"wallet: open http://127.0.0.1:{site.http_port}/wallet in a browser to enrol")
        echo(f"ledger explorer: http://127.0.0.1:{site.http_port}/ledger")
        for config in site.kiosk_configs:
            args = ["kiosk", "run", "--config", str(config), "--mock-pins", "--summary-json"]
            args += ["--drain-seconds", str(DRAIN_SECONDS)]
            kiosk_processes.append(RelayedProcess(config.parent.name, args, clock, echo))
        _run_until(stop, time.monotonic() + seconds, [aggregator, *kiosk_processes], echo)
        show_fleet(site, token, echo)
        _stop_kiosks(kiosk_processes, echo)
        checks = _outside_checks(site, logins is not None, witness, echo)
        checks["wallet_enrolled"] = len(phones)
        checks["authority_reads_contacts"] = authority_reads(site, authority_key, phones)
        numbers = [phone_number(index) for index in range(len(phones))]
        checks.update(trace_demo_case(site, authority_key, numbers, echo))
        aggregator.stop(timeout=20)
    finally:
        for process in [*kiosk_processes, *([aggregator] if aggregator else [])]:
            process.stop(timeout=5)
        broker.stop()
    return {
        "seconds": round(time.monotonic() - clock, 1),
        "kiosks": kiosks,
        **_kiosk_totals(kiosk_processes),
        **checks,
        **_ledger_figures(site),
    }


def _run_until(
    stop: threading.Event, deadline: float, processes: list[RelayedProcess], echo: Any
) -> None:
    """Let the site run until the deadline, a signal, or a component exiting early."""
    while not stop.wait(0.2) and time.monotonic() < deadline:
        if any(p.popen.poll() is not None for p in processes):
            echo("a component exited early; stopping the demo", err=True)
            break
    if stop.is_set():
        echo("interrupted: stopping the kiosks, then the aggregator")


def _stop_kiosks(kiosk_processes: list[RelayedProcess], echo: Any) -> None:
    echo(f"stopping kiosks (each waits up to {DRAIN_SECONDS:.0f} s for its last receipts)")
    for process in kiosk_processes:
        process.popen.terminate()
    for process in kiosk_processes:
        process.stop(timeout=DRAIN_SECONDS + 10)


def _outside_checks(
    site: Site, per_kiosk_accounts: bool, witness: DemoWitness, echo: Any
) -> dict[str, bool | int | None]:
    """What an outsider can check: broker ACLs, the signed checkpoint, a witness cosignature."""
    acl_ok = None
    if per_kiosk_accounts and len(site.kiosk_configs) > 1:
        acl_ok = probe_foreign_topic(site.kiosk_configs[0], site.kiosk_configs[1].parent.name, echo)
    checkpoint, checkpoint_ok = _fetch_checkpoint(site)
    if checkpoint:
        echo("latest checkpoint from the read API:\n  " + checkpoint.replace("\n", "\n  "))
    witness_ok = cosign_once(site, witness, echo)
    return {
        "checkpoint_verified": checkpoint_ok,
        "witness_cosigned": witness_ok,
        # True: a kiosk's own account was refused another kiosk's topic (None: no plugin).
        "broker_acl_enforced": acl_ok,
    }


def _kiosk_totals(kiosk_processes: list[RelayedProcess]) -> dict[str, int]:
    """The kiosks' summary counters, added up."""
    counters = [p.summary or {} for p in kiosk_processes]

    def total(key: str) -> int:
        return sum(int(c.get(key, 0)) for c in counters)

    return {
        "scanned": total("scanned"),
        "accepted": total("accepted"),
        "already_checked_in": total("already"),
        "refused": total("refused"),
        "delivered": total("delivered"),
        "kiosk_pending": total("pending"),
        "kiosk_rejected": total("rejected_total"),
    }
