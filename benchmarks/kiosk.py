"""``safecode bench kiosk``: how fast the kiosk answers, how much it keeps up with, in JSON.

Every figure goes through the real firmware: ``Kiosk.process_frame`` with the cascade
decoder, the door verifier, a real :class:`~kiosk.outbox.Outbox` on disk (WAL,
synchronous=FULL), gpiozero feedback on MockFactory pins and a real ``MqttLink`` that is
never started (the kiosk behaves as when the network is down: nothing is published).
Frames are 640x480 renderings of fresh presentations from simulated wallets, one
visitor per accepted check-in (a presentation is checked in once).

The floor is measured in the same run on the same frames: zxing-cpp's bare
``read_barcodes`` + the two raw Ed25519 verifies a presentation needs (issuer,
visitor) + one raw Ed25519 signature + one fsync'd SQLite commit of a row of the
same size through the stdlib ``sqlite3`` module.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from kiosk.config import KioskConfig
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.frames import GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link_paho import MqttLink
from kiosk.outbox import Outbox
from kiosk.verifier import Outcome
from protocol import keys
from simulator.broker import LocalBroker, free_port
from simulator.render import blank_frame, render_code_frame
from simulator.site import init_simulated_site
from simulator.visitors import Wallet, enrol_visitor, load_crowd
from support.config_file import read_toml
from transport.settings import MqttSettings

from .util import filesystem_of, machine_info, one_core, read_vm_hwm_kb, spread_ms

SIZE = (640, 480)
TARGET_P95_VS_FLOOR = 1.3
TARGET_FPS = 30.0
TARGET_RSS_MB = 120.0
LINK_NOTE = "MqttLink never started (not connected, no broker): nothing is published"


class BenchError(click.ClickException):
    """The benchmark could not measure what it set out to (e.g. a code was not accepted)."""


def _say(text: str) -> None:
    click.echo(text, err=True)


# -- a real kiosk, timed from outside ------------------------------------------------------


class TimedKiosk:
    """A real Kiosk whose decode, verify and append calls are wrapped to time their parts.

    The wrappers are instance attributes around the real bound methods (a few hundred
    nanoseconds each); nothing in the firmware is replaced.
    """

    def __init__(self, state_dir: Path, issuer: Ed25519PrivateKey, ledger: Ed25519PrivateKey):
        state_dir.mkdir(parents=True, exist_ok=True)
        config = KioskConfig(
            kiosk_id="bench-1",
            venue_id="bench",
            state_dir=state_dir,
            issuer_keys=(keys.did_key(issuer),),
            ledger_key=keys.did_key(ledger),
        )
        self.device_key = keys.generate()
        self.kiosk = Kiosk(
            config,
            device_key=self.device_key,
            source=GeneratedFrameSource(lambda i: None),
            decoder=default_decoder(),
            feedback=Feedback(load_pins(config.pins_file), mock_pin_factory()),
            link=MqttLink(config.kiosk_id, MqttSettings(port=free_port())),
            outbox=Outbox(config.outbox_path),
            on_event=lambda line: None,
        )
        self.spent: dict[str, float] = defaultdict(float)
        self.committed_at = 0.0
        kiosk = self.kiosk
        kiosk.decoder.decode = self._timed("decode", kiosk.decoder.decode)  # type: ignore[method-assign]
        kiosk.verifier.check = self._timed("verify", kiosk.verifier.check)  # type: ignore[method-assign]
        kiosk.outbox.append = self._timed_append(kiosk.outbox.append)  # type: ignore[method-assign]

    def _timed(self, part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return call(*args, **kwargs)
            finally:
                self.spent[part] += time.monotonic() - start

        return timed

    def _timed_append(self, append: Callable[..., int]) -> Callable[..., int]:
        def timed_append(
            build: Callable[[int], tuple[bytes, bytes]], now_ms: int, **options: Any
        ) -> int:
            start = time.monotonic()
            try:
                return append(self._timed("sign", build), now_ms, **options)
            finally:
                self.committed_at = time.monotonic()
                self.spent["append"] += self.committed_at - start

        return timed_append

    def reset(self) -> None:
        self.spent.clear()
        self.committed_at = 0.0

    def close(self) -> None:
        self.kiosk.feedback.close()
        self.kiosk.outbox.close()


def _green_on_at(pin: Any, cleared_at: float, timeout: float = 2.0) -> float:
    """Monotonic time at which the mock green pin first went high since ``clear_states``."""
    deadline = time.monotonic() + timeout
    while True:
        at = cleared_at
        for state in pin.states[1:]:
            at += state.timestamp
            if state.state:
                return at
        if time.monotonic() > deadline:
            raise BenchError("the green light never came on")
        time.sleep(0)


# -- the floor --------------------------------------------------------------------------------


class Floor:
    """The same work done bare: zxing-cpp, raw Ed25519, one fsync'd sqlite3 commit."""

    def __init__(self, workdir: Path, wire_size: int, signed: list[bytes] | None = None) -> None:
        import zxingcpp

        self._zxing = zxingcpp
        self._qr = zxingcpp.BarcodeFormat.QRCode
        self._messages = []
        for message in signed or []:  # the credential's and the presentation's signed parts
            signer = keys.generate()
            self._messages.append((signer.public_key(), signer.sign(message), message))
        self._device = keys.generate()
        self._record = os.urandom(wire_size)
        self._db = sqlite3.connect(workdir / "floor.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=wal")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS row (seq INTEGER PRIMARY KEY, id BLOB, wire BLOB, "
            "created INTEGER)"
        )
        self._seq = 0

    def decode(self, frame: np.ndarray) -> float:
        start = time.monotonic()
        found = self._zxing.read_barcodes(frame, formats=self._qr)
        spent = time.monotonic() - start
        if not found:
            raise BenchError("bare zxing-cpp read nothing on a frame the kiosk read")
        return spent

    def verifies(self) -> float:
        start = time.monotonic()
        for public, signature, message in self._messages:
            public.verify(signature, message)
        return time.monotonic() - start

    def sign(self) -> float:
        start = time.monotonic()
        self._device.sign(self._record)
        return time.monotonic() - start

    def commit(self) -> float:
        self._seq += 1
        row = (self._seq, os.urandom(16), self._record, int(time.time() * 1000))
        start = time.monotonic()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("INSERT INTO row VALUES (?, ?, ?, ?)", row)
        self._db.execute("COMMIT")
        return time.monotonic() - start

    def close(self) -> None:
        self._db.close()


# -- frame-to-light latency -------------------------------------------------------------------


def _wallets(issuer: Ed25519PrivateKey, count: int) -> list[Wallet]:
    now = time.time()
    return [enrol_visitor(issuer, now) for _ in range(count)]


def _fresh_frame(wallet: Wallet, rng: np.random.Generator) -> np.ndarray:
    return render_code_frame(wallet.show(time.time()).to_text(), size=SIZE, rng=rng)


def _floor_on(floor: Floor, frame: np.ndarray) -> dict[str, float]:
    return {
        "decode": floor.decode(frame),
        "two_verifies": floor.verifies(),
        "sign": floor.sign(),
        "commit": floor.commit(),
    }


def measure_latency(workdir: Path, samples: int, warmup: int = 5) -> dict[str, Any]:
    """Frame-to-light latency of accepted codes, its parts, and the floor on the same frames."""
    issuer, ledger = keys.generate(), keys.generate()
    timed = TimedKiosk(workdir / "latency", issuer, ledger)
    wallets = _wallets(issuer, samples + warmup)
    rng = np.random.default_rng(1)
    parts: dict[str, list[float]] = defaultdict(list)
    floor_parts: dict[str, list[float]] = defaultdict(list)
    latency: list[float] = []
    floor_total: list[float] = []
    floor: Floor | None = None
    try:
        for index, wallet in enumerate(wallets):
            frame = _fresh_frame(wallet, rng)
            # The floor runs before the kiosk on odd samples, after it on even ones.
            f = _floor_on(floor, frame) if floor is not None and index % 2 else None
            start, lit, verdicts = _timed_acceptance(timed, frame, index)
            if floor is None:
                floor = _floor_for(workdir / "latency", timed.kiosk, verdicts)
            if f is None:
                f = _floor_on(floor, frame)
            if index < warmup:
                continue
            latency.append(lit - start)
            for name, value in _latency_parts(timed, start, lit).items():
                parts[name].append(value)
            for name, value in f.items():
                floor_parts[name].append(value)
            floor_total.append(sum(f.values()))
    finally:
        timed.close()
        if floor is not None:
            floor.close()
    figures = _latency_figures(latency, parts, floor_total, floor_parts)
    return {
        "samples": samples,
        "warmup_discarded": warmup,
        "frame": f"{SIZE[0]}x{SIZE[1]} grayscale, one fresh presentation (QR version 10, M)",
        "link": LINK_NOTE,
        "feedback": "gpiozero MockFactory; light = green pin high (set by gpiozero's blink thread)",
        "outbox_filesystem": filesystem_of(workdir),
        **figures,
    }


def _timed_acceptance(
    timed: TimedKiosk, frame: np.ndarray, index: int
) -> tuple[float, float, list]:
    """Process one frame that must be accepted: (start, green lit, verdicts), monotonic s."""
    kiosk = timed.kiosk
    pin = kiosk.feedback.green.pin
    timed.reset()
    # The last acceptance's green may still be on (it lasts a second): put it out,
    # so this sample's light is a change on the pin.
    kiosk.feedback.green.off()
    cleared_at = time.monotonic()
    pin.clear_states()
    start = time.monotonic()
    verdicts = kiosk.process_frame(frame)
    if [v.outcome for v in verdicts] != [Outcome.ACCEPTED]:
        raise BenchError(f"sample {index}: expected one acceptance, got {verdicts!r}")
    return start, _green_on_at(pin, cleared_at), verdicts


def _floor_for(workdir: Path, kiosk: Kiosk, verdicts: list) -> Floor:
    """The floor, sized like the kiosk's first outbox record and its presentation."""
    wire_size = len(bytes(kiosk.outbox.Row.select().get().wire))
    shown = verdicts[0].presentation
    assert shown is not None
    signed = [shown.credential.signed_part(), shown.signed_part()]
    return Floor(workdir, wire_size, signed)


def _latency_parts(timed: TimedKiosk, start: float, lit: float) -> dict[str, float]:
    """Where one sample's frame-to-light time went (seconds); "other" is the rest."""
    total = lit - start
    known = {
        "decode": timed.spent["decode"],
        "verify": timed.spent["verify"],
        "sign": timed.spent["sign"],
        "commit": timed.spent["append"] - timed.spent["sign"],
        "light": lit - timed.committed_at,
    }
    known["other"] = total - sum(known.values())
    return known


def _latency_figures(
    latency: list[float],
    parts: dict[str, list[float]],
    floor_total: list[float],
    floor_parts: dict[str, list[float]],
) -> dict[str, Any]:
    """Spreads of the latency, its parts and the floor; the p95 ratio against the target."""
    frame_to_light = spread_ms(latency)
    floor_ms = spread_ms(floor_total)
    ratio_p95 = frame_to_light["p95"] / floor_ms["p95"]
    return {
        "frame_to_light_ms": frame_to_light,
        "parts_ms": {name: spread_ms(values) for name, values in parts.items()},
        "floor_ms": {
            "total": floor_ms,
            **{name: spread_ms(values) for name, values in floor_parts.items()},
        },
        "p50_vs_floor_p50": round(frame_to_light["p50"] / floor_ms["p50"], 3),
        "p95_vs_floor_p95": round(ratio_p95, 3),
        "target_p95_vs_floor": TARGET_P95_VS_FLOOR,
        "meets_target": ratio_p95 <= TARGET_P95_VS_FLOOR,
    }


# -- pipeline capacity on one core -------------------------------------------------------------


def _held_code_chunks(
    issuer: Ed25519PrivateKey, frames: int, hold: int, rng: np.random.Generator
) -> Iterator[list[np.ndarray]]:
    """Visitors holding a fresh code in view for ``hold`` frames each (3 renderings cycled)."""
    left = frames
    while left > 0:
        chunk: list[np.ndarray] = []
        for _ in range(min(max(1, 150 // hold), -(-left // hold))):
            wallet = enrol_visitor(issuer, time.time())
            text = wallet.show(time.time()).to_text()
            views = [render_code_frame(text, size=SIZE, rng=rng) for _ in range(3)]
            chunk.extend(views[i % 3] for i in range(hold))
        yield chunk[:left]
        left -= len(chunk[:left])


def _new_visitor_chunks(
    issuer: Ed25519PrivateKey, frames: int, rng: np.random.Generator
) -> Iterator[list[np.ndarray]]:
    """Every frame a different visitor's fresh code (the worst case)."""
    left = frames
    while left > 0:
        count = min(50, left)
        wallets = _wallets(issuer, count)
        yield [_fresh_frame(w, rng) for w in wallets]
        left -= count


def _empty_chunks(frames: int, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    views = [blank_frame(SIZE, rng) for _ in range(8)]
    left = frames
    while left > 0:
        count = min(200, left)
        yield [views[i % len(views)] for i in range(count)]
        left -= count


def _run_chunks(kiosk: Kiosk, chunks: Iterator[list[np.ndarray]]) -> tuple[int, float]:
    """Feed pre-rendered chunks through ``Kiosk.step``; frames processed and seconds spent."""
    processed, spent = 0, 0.0
    for chunk in chunks:
        kiosk.source = GeneratedFrameSource(chunk.__getitem__, limit=len(chunk)).open()
        before = kiosk.counters.frames
        start = time.monotonic()
        for _ in chunk:
            kiosk.step(frame_timeout=0.0)
        spent += time.monotonic() - start
        processed += kiosk.counters.frames - before
    return processed, spent


def measure_capacity(workdir: Path, frames: int, hold: int) -> dict[str, Any]:
    """Frames per second through ``Kiosk.step`` with the process pinned to one CPU."""
    issuer, ledger = keys.generate(), keys.generate()
    rng = np.random.default_rng(2)
    cases: dict[str, Callable[[], Iterator[list[np.ndarray]]]] = {
        "code_in_view": lambda: _held_code_chunks(issuer, frames, hold, rng),
        "new_visitor_every_frame": lambda: _new_visitor_chunks(issuer, frames, rng),
        "empty_frames": lambda: _empty_chunks(frames, rng),
    }
    result: dict[str, Any] = {}
    with one_core() as cpu:
        result["pinned_cpu"] = cpu
        for name, chunks in cases.items():
            timed = TimedKiosk(workdir / f"capacity-{name}", issuer, ledger)
            try:
                processed, spent = _run_chunks(timed.kiosk, chunks())
                counters = timed.kiosk.counters
            finally:
                timed.close()
            result[name] = {
                "frames": processed,
                "fps": round(processed / spent, 1),
                "ms_per_frame": round(spent / processed * 1000, 3),
                "decode_ms_per_frame": round(timed.spent["decode"] / processed * 1000, 3),
                "accepted": counters.accepted,
                "already_checked_in": counters.already,
                "refused": counters.refused,
            }
    result["code_in_view"]["hold_frames_per_visitor"] = hold
    fps = result["code_in_view"]["fps"]
    result["target_fps_code_in_view"] = TARGET_FPS
    result["meets_target"] = fps >= TARGET_FPS
    return result


# -- durable check-ins per second through the outbox -----------------------------------------


def measure_outbox(workdir: Path, appends: int, wire_size: int = 360) -> dict[str, Any]:
    """``Outbox.append`` (commit + fsync) per second, and bare sqlite3 commits in the same run."""
    path = workdir / "outbox-rate"
    path.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(path / "outbox.sqlite")
    record = os.urandom(wire_size)
    try:
        start = time.monotonic()
        for _ in range(appends):
            outbox.append(lambda seq: (os.urandom(16), record), int(time.time() * 1000))
        outbox_s = time.monotonic() - start
    finally:
        outbox.close()
    floor = Floor(path, wire_size)
    try:
        raw_s = sum(floor.commit() for _ in range(appends))
    finally:
        floor.close()
    return {
        "appends": appends,
        "row_bytes": wire_size,
        "filesystem": filesystem_of(path),
        "checkins_per_s": round(appends / outbox_s, 1),
        "raw_sqlite_commits_per_s": round(appends / raw_s, 1),
        "outbox_vs_raw_time": round(outbox_s / raw_s, 3),
    }


# -- resident memory of a real kiosk process --------------------------------------------------


def _replay_folder(folder: Path, wallets: list[Wallet], rng: np.random.Generator) -> None:
    """What a door camera saw: each visitor's fresh code for 3 frames, then 3 empty ones."""
    folder.mkdir(parents=True)
    index = 0
    for wallet in wallets:
        text = wallet.show(time.time()).to_text()
        images = [render_code_frame(text, size=SIZE, rng=rng) for _ in range(3)]
        images += [blank_frame(SIZE, rng) for _ in range(3)]
        for image in images:
            Image.fromarray(image).save(folder / f"{index:04d}.png")
            index += 1


def measure_memory(workdir: Path, seconds: float, visitors: int = 12) -> dict[str, Any]:
    """Peak RSS (VmHWM) of ``safecode kiosk run`` on a replay source and a real Mosquitto."""
    with LocalBroker(workdir=workdir / "broker") as broker:
        site = init_simulated_site(
            workdir / "site", kiosks=1, visitors=visitors, mqtt_port=broker.port
        )
        config_path = site.kiosk_configs[0]
        replay = workdir / "replay"
        _replay_folder(replay, load_crowd(site.crowd_file), np.random.default_rng(3))
        data = read_toml(config_path)
        data["camera"] = {"kind": "replay", "path": str(replay), "fps": 30.0}
        config_path.write_text(tomli_w.dumps(data))
        args = [sys.executable, "-m", "safecode", "kiosk", "run", "--config", str(config_path)]
        process = subprocess.Popen(
            [*args, "--mock-pins", "--summary-json", "--drain-seconds", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        peak = 0
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.poll() is None:
                peak = max(peak, read_vm_hwm_kb(process.pid) or 0)
                time.sleep(0.2)
            peak = max(peak, read_vm_hwm_kb(process.pid) or 0)
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    summary: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    if process.returncode != 0 or not summary.get("frames"):
        raise BenchError(f"the kiosk process did not run as expected:\n{out[-2000:]}")
    peak_mb = peak / 1024
    return {
        "command": "safecode kiosk run --mock-pins (replay source, 30 fps, real Mosquitto, "
        "no aggregator)",
        "seconds": seconds,
        "frames": summary["frames"],
        "accepted": summary.get("accepted"),
        "peak_rss_mb": round(peak_mb, 1),
        "source": "VmHWM from /proc/<pid>/status, polled every 0.2 s and just before SIGTERM",
        "target_mb": TARGET_RSS_MB,
        "meets_target": peak_mb < TARGET_RSS_MB,
    }


# -- the command ------------------------------------------------------------------------------


def decoder_figures_on_blackbox() -> dict[str, Any] | None:
    """Read rate and cost of each decoder on the zxing-blackbox set (None if it is absent)."""
    from .decoders import dataset_dir, decoder_figures

    root = dataset_dir("zxing-blackbox")
    if not root.is_dir():
        return None
    return {"set": str(root), **decoder_figures([root], repeats=5)}


@click.command("kiosk")
@click.option("--frames", default=300, show_default=True, help="Frames per capacity case.")
@click.option("--samples", default=200, show_default=True, help="Accepted codes timed.")
@click.option("--hold", default=30, show_default=True, help="Frames a visitor holds a code.")
@click.option(
    "--memory-seconds",
    default=8.0,
    show_default=True,
    help="How long the kiosk process runs for the memory figure (0 skips it).",
)
@click.option("--decoders/--no-decoders", default=True, help="Include decoder figures.")
@click.option("--json", "one_line", is_flag=True, help="One line of JSON instead of indented.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the outboxes go (default: a temporary folder; it must be a real disk).",
)
def kiosk_command(
    frames: int,
    samples: int,
    hold: int,
    memory_seconds: float,
    decoders: bool,
    one_line: bool,
    workdir: Path | None,
) -> None:
    """Frame-to-light latency vs its floor, fps on one core, outbox rate, memory (JSON)."""
    for name, value in (("--frames", frames), ("--samples", samples), ("--hold", hold)):
        if value < 1:
            raise click.BadParameter("must be at least 1", param_hint=name)
    if memory_seconds < 0:
        raise click.BadParameter("must not be negative", param_hint="--memory-seconds")
    with tempfile.TemporaryDirectory(prefix="safecode-bench-kiosk-", dir=workdir) as tmp:
        root = Path(tmp)
        figures: dict[str, Any] = {"machine": machine_info()}
        _say(f"latency: {samples} accepted codes ...")
        figures["latency"] = measure_latency(root, samples)
        _say(f"capacity: {frames} frames per case on one core ...")
        figures["capacity"] = measure_capacity(root, frames, hold)
        _say(f"outbox: {samples} appends ...")
        figures["outbox"] = measure_outbox(root, samples)
        if memory_seconds > 0:
            _say(f"memory: a kiosk process for {memory_seconds} s ...")
            figures["memory"] = measure_memory(root / "memory", memory_seconds)
        else:
            figures["memory"] = None
        figures["decoders"] = decoder_figures_on_blackbox() if decoders else None
    click.echo(json.dumps(figures, sort_keys=True, indent=None if one_line else 2))
