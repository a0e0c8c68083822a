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
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from aggregator.audit import verify_ledger
from aggregator.bus import MqttBus
from aggregator.config import load_config as load_aggregator_config
from aggregator.db import CheckinEntry
from aggregator.service import AggregatorService
from kiosk.config import load_config as load_kiosk_config
from kiosk.decoders import default_decoder
from kiosk.firmware import Kiosk
from kiosk.frames import GeneratedFrameSource
from kiosk.lights import Feedback, load_pins, mock_pin_factory
from kiosk.link import MqttLink
from kiosk.outbox import Outbox
from protocol import keys, topics
from protocol.note import NoteVerifier
from provisioning.site import Site, init_site
from safecode.broker import LocalBroker
from safecode.render import blank_frame, render_code_frame
from safecode.visitors import enrol_visitor

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own: persistent sessions from other tests cannot leak in."""
    with LocalBroker(workdir=tmp_path / "broker") as running:
        yield running


@pytest.fixture
def site(tmp_path: Path, own_broker: LocalBroker) -> Site:
    return init_site(tmp_path / "site", kiosks=1, visitors=3, mqtt_port=own_broker.port)


def _publish_raw(broker: LocalBroker, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile-test")
    client.connect(broker.host, broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()


def test_one_code_from_camera_to_ledger_and_back(site: Site, own_broker: LocalBroker) -> None:
    agg_config = load_aggregator_config(site.aggregator_config)
    kiosk_config = load_kiosk_config(site.kiosk_configs[0])
    issuer = keys.load_private(agg_config.issuer_key_path)
    wallet = enrol_visitor(issuer, time.time())
    events: list[str] = []
    service = AggregatorService(agg_config, MqttBus(agg_config.mqtt), on_event=events.append)
    service.start()
    assert service.bus.wait_connected(10), "aggregator did not subscribe"

    # Hostile traffic first: the ingest loop must survive it and count it.
    _publish_raw(
        own_broker,
        topics.topic(kiosk_config.kiosk_id, topics.CHECKIN),
        [b"", b"\xff" * 5000, b"garbage", json.dumps({"v": 1}).encode()],
    )

    shown = {"code": wallet.show(time.time()).to_text()}

    def camera(index: int):
        return render_code_frame(shown["code"]) if index < 3 else blank_frame((640, 480))

    feedback = Feedback(load_pins(), mock_pin_factory())
    outbox = Outbox(kiosk_config.outbox_path)
    kiosk = Kiosk(
        kiosk_config,
        device_key=keys.load_private(kiosk_config.device_key_path),
        source=GeneratedFrameSource(camera).open(),
        decoder=default_decoder(),
        feedback=feedback,
        link=MqttLink(kiosk_config.kiosk_id, kiosk_config.mqtt),
        outbox=outbox,
        on_event=events.append,
    )
    try:
        kiosk.link.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and outbox.stats().delivered < 1:
            kiosk.step(frame_timeout=0.05)
            time.sleep(0.02)
        stats = outbox.stats()
        assert kiosk.counters.accepted == 1, events
        assert feedback.green.is_lit or kiosk.counters.accepted == 1
        assert stats.delivered == 1 and stats.pending == 0, events
        row = outbox.Row.get_by_id(1)
        assert row.block is not None and row.leaf_index == 0
    finally:
        kiosk.link.stop()
        feedback.close()
        outbox.close()
        service.stop()

    counts = service.ingestor.counts
    assert counts["stored"] == 1
    assert sum(v for k, v in counts.items() if k.startswith("refused:")) == 4, dict(counts)

    db = service.db
    db.connect(reuse_if_open=True)
    try:
        entry = CheckinEntry.get()
        assert entry.leaf_index == 0 and entry.kiosk_id == kiosk_config.kiosk_id
        verifier = NoteVerifier.from_string(site.ledger_vkey)
        summary = verify_ledger(verifier.public_key, verifier.name)
        assert (summary.blocks, summary.tree_size) == (1, 1)
    finally:
        db.close()


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
    assert any("accepted seq=" in line for line in lines)
    assert any("sealed block" in line for line in lines)
    # Privacy: the demo's output never shows a whole code.
    assert not any("SC1:" in line for line in lines)


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "safecode", "demo", "--seconds", "120", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(7)
    demo.send_signal(signal.SIGINT)
    out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["seconds"] < 60 and summary["ledger_verified"] is True
    assert summary["sealed"] == summary["accepted"]
    # Nothing is left running: no kiosk or aggregator of this demo survives it.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
