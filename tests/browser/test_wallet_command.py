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
            ["wallet", "--url", base + "/wallet/", "--enrol", "none", "--repeats", "1"]
            + ["--issuance-batches", "0", "--json"],
        )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["page_bytes"] == standin.shell_bytes()
    assert 0 < figures["page_bytes_gzip"] < figures["page_bytes"]
    assert figures["first_qr_ms_cold"] > 0 and figures["first_qr_ms_offline"] > 0
    assert (figures["qr_version"], figures["qr_ec_level"]) == (9, "L")
    assert figures["third_party_requests"] == 0


def test_the_command_measures_a_wallet_of_its_own() -> None:
    """No --url or --config: a throw-away issuing site and the real wallet, enrolled."""
    result = CliRunner().invoke(
        bench_group, ["wallet", "--repeats", "1", "--issuance-batches", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["qr_chars"] > 250 and figures["third_party_requests"] == 0


def test_the_command_refuses_a_bad_enrol_hook() -> None:
    for spec in ("nohook", "benchmarks.wallet:no_such_hook", "benchmarks.wallet:WALLET_PATH"):
        bad = CliRunner().invoke(bench_group, ["wallet", "--url", "x", "--enrol", spec])
        assert bad.exit_code == 2, spec
