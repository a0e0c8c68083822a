"""The aggregator's process commands and subscriptions (ingest, sequence, run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.bus import subscriptions
from aggregator.bus_paho import MqttBus
from aggregator.cli import aggregator_group
from transport.settings import MqttSettings


def test_shared_group_subscribes_check_ins_through_share_and_status_normally() -> None:
    assert subscriptions("ingest") == [
        "$share/ingest/safecode/v1/kiosk/+/checkin",
        "safecode/v1/kiosk/+/status",
    ]
    assert subscriptions(None) == ["safecode/v1/kiosk/+/checkin", "safecode/v1/kiosk/+/status"]


@pytest.mark.parametrize("group", ["a/b", "a+b", "#", "x" * 65, "a b"])
def test_bad_share_group_names_are_refused(group: str) -> None:
    with pytest.raises(ValueError, match="shared group"):
        subscriptions(group)


def test_a_sequencer_bus_subscribes_to_nothing() -> None:
    assert MqttBus(MqttSettings(), "seq", ingest=False).subscriptions == []


@pytest.mark.parametrize("command", ["run", "ingest", "sequence"])
def test_each_process_command_exists_and_takes_log_json(command: str) -> None:
    result = CliRunner().invoke(aggregator_group, [command, "--help"])
    assert result.exit_code == 0
    assert "--log-json" in result.output and "--config" in result.output


@pytest.mark.parametrize("command", ["run", "ingest", "sequence"])
def test_a_bad_config_is_a_clear_error(command: str, tmp_path: Path) -> None:
    bad = tmp_path / "aggregator.toml"
    bad.write_text('[aggregator]\norigin = "x y"\n')
    result = CliRunner().invoke(aggregator_group, [command, "--config", str(bad)])
    assert result.exit_code != 0
    assert "lacks" in result.output or "origin" in result.output
