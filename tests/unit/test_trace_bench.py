"""``safecode bench trace`` on a tiny ledger: it runs, and its figures hang together."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmarks.trace import trace_command
from tests.unit.conftest import postgres_unavailable


def _run(*args: str) -> dict:
    result = CliRunner().invoke(
        trace_command,
        ["--json", "--rows", "3000", "--venues", "200", "--repeat", "1", *args],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _check(figures: dict) -> None:
    assert figures["case_stays"] == 20 and figures["unreadable"] == 0
    # The engine reads every row the bare query fetches, less the case's own rows
    # (which the bare query reads twice: by tag and in its venue windows), and opens
    # only those whose visitor's tags it must tell apart (a stay across midnight).
    assert figures["bare_query_rows"] == figures["rows_read"] + figures["case_stays"]
    assert figures["rows_opened"] < figures["rows_read"] / 4
    assert figures["exposures"] >= 20  # each case visit has ten visitors within 50 min
    assert figures["ratio"] > 0


def test_bench_trace_on_sqlite(tmp_path) -> None:
    out = _run("--no-pg", "--dir", str(tmp_path))
    assert out["rows"] == 3000 and out["venues"] == 200 and "postgresql" not in out
    _check(out["sqlite"])
    assert out["decrypt_contacts_per_s"] > 0
    assert not list(tmp_path.iterdir())  # the scratch ledger is gone


def test_bench_trace_on_postgresql() -> None:
    if postgres_unavailable():
        pytest.skip(postgres_unavailable())
    from tests.pg_cluster import SERVER

    out = _run("--no-sqlite", "--pg", SERVER.url)
    _check(out["postgresql"])


def test_bench_trace_refuses_too_few_rows() -> None:
    result = CliRunner().invoke(trace_command, ["--rows", "10"])
    assert result.exit_code != 0 and "at least 220" in result.output
