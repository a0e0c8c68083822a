"""A visitor's code through the whole system and a real Mosquitto broker.

visitor code → rendered camera frame → decoder → verifier → mock LED → signed
record → SQLite outbox → MQTT → aggregator (verify → store → seal → receipt) →
kiosk marks the row delivered.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from PIL import Image

from aggregator.audit import verify_ledger
from aggregator.bus_paho import MqttBus
from aggregator.config import load_config as load_aggregator_config
from aggregator.db import CheckinEntry
from aggregator.service import AggregatorService
from kiosk.config import CameraSettings
from kiosk.config import load_config as load_kiosk_config
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.frames import FrameSource, GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link_paho import MqttLink
from kiosk.outbox import Outbox
from kiosk.sources import frame_source
from protocol import keys, topics
from protocol.note import NoteVerifier
from provisioning.site import Site
from provisioning.site_keys import SiteKeys
from simulator.broker import LocalBroker
from simulator.render import blank_frame, render_code_frame
from simulator.site import init_simulated_site
from simulator.visitors import enrol_visitor

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, own_broker: LocalBroker) -> Site:
    return init_simulated_site(tmp_path / "site", kiosks=1, visitors=3, mqtt_port=own_broker.port)


def _publish_raw(broker: LocalBroker, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile-test")
    client.connect(broker.host, broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()


def _replay_folder(folder: Path, code: str) -> Path:
    """What a door camera recorded: three frames with the phone in view, then nothing."""
    folder.mkdir(parents=True)
    for index in range(3):
        Image.fromarray(render_code_frame(code)).save(folder / f"{index}.png")
    Image.fromarray(blank_frame((640, 480))).save(folder / "3.png")
    return folder


def _kiosk(config_path: Path, source: FrameSource, events: list[str]) -> Kiosk:
    config = load_kiosk_config(config_path)
    return Kiosk(
        config,
        device_key=keys.load_private(config.device_key_path),
        source=source,
        decoder=default_decoder(),
        feedback=Feedback(load_pins(), mock_pin_factory()),
        link=MqttLink(config.kiosk_id, config.mqtt),
        outbox=Outbox(config.outbox_path),
        on_event=events.append,
    )


def _run_until(kiosks: list[Kiosk], done: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        for kiosk in kiosks:
            kiosk.step(frame_timeout=0.05)
        time.sleep(0.02)


def _close(kiosks: list[Kiosk]) -> None:
    for kiosk in kiosks:
        kiosk.link.stop()
        kiosk.feedback.close()
        kiosk.outbox.close()
        kiosk.source.close()


@pytest.fixture
def service(site: Site) -> Iterator[AggregatorService]:
    config = load_aggregator_config(site.aggregator_config)
    running = AggregatorService(config, MqttBus(config.mqtt), on_event=lambda line: None)
    running.start()
    assert running.bus.wait_connected(10), "aggregator did not subscribe"
    yield running
    running.stop()


def test_one_code_from_camera_to_ledger_and_back(
    site: Site, own_broker: LocalBroker, service: AggregatorService, tmp_path: Path
) -> None:
    issuer = keys.load_private(service.config.issuer_key_path)
    wallet = enrol_visitor(issuer, time.time())
    # Hostile traffic first: the ingest loop must survive it and count it.
    _publish_raw(
        own_broker,
        topics.topic("kiosk-1", topics.CHECKIN),
        [
            b"",
            b"\xff" * 5000,
            b"garbage",
            json.dumps({"v": 1}).encode(),
            bytes.fromhex("d81c81d81d00"),
        ],
    )
    recording = _replay_folder(tmp_path / "camera", wallet.show(time.time()).to_text())
    camera = frame_source(CameraSettings(kind="replay", path=str(recording), fps=30))
    events: list[str] = []
    kiosk = _kiosk(site.kiosk_configs[0], camera.open(), events)
    try:
        kiosk.link.start()
        _run_until([kiosk], lambda: kiosk.outbox.stats().delivered >= 1)
        stats = kiosk.outbox.stats()
        assert kiosk.counters.accepted == 1, events
        assert stats.delivered == 1 and stats.pending == 0, events
        row = kiosk.outbox.Row.get_by_id(1)
        assert row.block == 0 and row.leaf_index == 0
        assert bytes(row.wire) == b"", "a delivered row keeps no visitor data"
    finally:
        _close([kiosk])

    counts = service.ingestor.counts
    assert counts["stored"] == 1
    assert sum(v for k, v in counts.items() if k.startswith("refused:")) == 5, dict(counts)
    service.db.connect(reuse_if_open=True)
    entry = CheckinEntry.get()
    assert entry.leaf_index == 0 and entry.kiosk_id == "kiosk-1"
    verifier = NoteVerifier.from_string(site.ledger_vkey)
    summary = verify_ledger(verifier.public_key, verifier.name)
    assert (summary.blocks, summary.tree_size) == (1, 1)


def test_a_code_replayed_at_another_door_is_refused_and_the_kiosk_told(
    tmp_path: Path, own_broker: LocalBroker
) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=2, visitors=1, mqtt_port=own_broker.port)
    config = load_aggregator_config(site.aggregator_config)
    service = AggregatorService(config, MqttBus(config.mqtt), on_event=lambda line: None)
    service.start()
    assert service.bus.wait_connected(10)
    wallet = enrol_visitor(keys.load_private(config.issuer_key_path), time.time())
    code = wallet.show(time.time()).to_text()  # one code, photographed and shown twice
    events: list[str] = []
    first = _kiosk(
        site.kiosk_configs[0],
        GeneratedFrameSource(
            lambda i: render_code_frame(code) if i == 0 else blank_frame((640, 480))
        ).open(),
        events,
    )
    second = _kiosk(
        site.kiosk_configs[1],
        GeneratedFrameSource(
            lambda i: render_code_frame(code) if i == 5 else blank_frame((640, 480))
        ).open(),
        events,
    )
    kiosks = [first, second]
    try:
        for kiosk in kiosks:
            kiosk.link.start()
        _run_until(
            kiosks,
            lambda: first.outbox.stats().delivered == 1 and second.outbox.stats().rejected == 1,
        )
        assert first.counters.accepted == second.counters.accepted == 1, events
        assert first.outbox.stats().delivered == 1
        stats = second.outbox.stats()
        assert (stats.rejected, stats.pending, stats.delivered) == (1, 0, 0), events
        row = second.outbox.Row.get_by_id(1)
        assert row.rejected_reason == "replayed" and bytes(row.wire) != b""
        assert second.send_due() == 0, "a refused row is never sent again"
    finally:
        _close(kiosks)
        service.stop()
    assert service.ingestor.counts["refused:replayed"] >= 1


def test_demo_command_prints_a_verified_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safecode", "demo", "--seconds", "8", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["ledger_verified"] is True
    assert summary["checkpoint_verified"] is True
    assert summary["scanned"] > 0 and summary["blocks"] > 0
    assert summary["accepted"] == summary["sealed"] == summary["delivered"], summary
    assert summary["kiosk_pending"] == 0 and summary["unsealed"] == 0
    assert summary["refused"] >= 1, "the simulated crowd includes bad codes"
    assert summary["witness_cosigned"] is True, "an outside witness cosigned the ledger"
    assert summary["broker_acl_enforced"] is True, "kiosk-1 was refused kiosk-2's receipts"
    # An official traced a case on its own side; every step is a sealed, verified leaf.
    assert summary["case_traced"] is True and summary["case_audit_entries"] >= 3, summary
    assert summary["case_audit_sealed"] is True, summary
    assert summary["audit_sealed"] >= summary["case_audit_entries"], summary
    assert any("one account per kiosk" in line for line in lines)
    # The kiosks' configs hold their broker passwords: only their owner may read them.
    config = tmp_path / "site" / "kiosks" / "kiosk-1" / "kiosk.toml"
    assert "password" in config.read_text() and config.stat().st_mode & 0o077 == 0
    # The keys lie by role (provisioning/site_keys.py): ingest made the data key in keys/data.
    site_keys = SiteKeys(tmp_path / "site" / "aggregator")
    assert site_keys.data_master.exists() and site_keys.ledger.exists()
    assert not list(site_keys.base.glob("*.key")), "no key left beside aggregator.toml"
    assert any("accepted seq=" in line for line in lines)
    assert any("sealed block" in line for line in lines)
    # Privacy: the demo's output never shows a whole code.
    assert not any("SC1:" in line for line in lines)


def _read_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    """The output lines up to the first holding ``text`` (or all read when ``timeout`` ends)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    for line in process.stdout:
        seen.append(line)
        if text in line or time.monotonic() > deadline:
            break
    return "".join(seen)


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "safecode", "demo", "--seconds", "120", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = _read_until(demo, "accepted seq=", timeout=60)  # up, and its kiosks at work
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    out = seen + rest
    assert demo.returncode == 0, out[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["seconds"] < 60 and summary["ledger_verified"] is True
    assert summary["sealed"] == summary["accepted"]
    # Nothing is left running: no kiosk or aggregator of this demo survives it.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
