"""``safecode bench wallet`` end to end against the stand-in wallet (its own Chromium)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.cli import bench_group
from benchmarks.qr_levels import presentation_text
from tests.browser import standin
from tests.unit.ledger_builder import serving

pytestmark = pytest.mark.spawns  # the command starts its own Chromium


def test_the_command_prints_the_browser_figures() -> None:
    with serving(standin.create_standin(presentation_text())) as base:
        result = CliRunner().invoke(
            bench_group,
            ["wallet", "--url", base + "/wallet/", "--repeats", "1", "--issuance-batches", "0"]
            + ["--json"],
        )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["page_bytes"] == standin.shell_bytes()
    assert 0 < figures["page_bytes_gzip"] < figures["page_bytes"]
    assert figures["first_qr_ms_cold"] > 0 and figures["first_qr_ms_offline"] > 0
    assert (figures["qr_version"], figures["qr_ec_level"]) == (9, "L")
    assert figures["third_party_requests"] == 0


def test_the_command_needs_a_wallet() -> None:
    result = CliRunner().invoke(bench_group, ["wallet", "--issuance-batches", "0"])
    assert result.exit_code == 2
    assert "--url" in result.output
    bad_hook = CliRunner().invoke(bench_group, ["wallet", "--url", "x", "--enrol", "nohook"])
    assert bad_hook.exit_code == 2
