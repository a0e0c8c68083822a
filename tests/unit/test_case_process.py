"""Which process traces: ``create_app_from_config(tracing=True)``, ``web --tracing``, the
``[trace]`` table, and what the tracing process opens (and the read API does not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cases.context import EXTENSION, TracingContext
from aggregator.config import load_config
from aggregator.key_files import write_did_file
from aggregator.vault import create_master_key
from aggregator.web import create_app_from_config
from aggregator.web_cli import gunicorn_argv, web_command
from protocol import keys
from support.config_file import ConfigError
from tests.unit.test_issuer_config import ISSUER_TABLE, write_site

TRACE_TABLE = '\n[trace]\nmin_overlap_minutes = 10\n\n[trace.stay_minutes_by_prefix]\n"gym-" = 90\n'


def traced_site(folder: Path, trace: str = TRACE_TABLE) -> Path:
    path = write_site(folder, ISSUER_TABLE)
    path.write_text(path.read_text() + trace)
    create_master_key(folder / "data-master.key")
    write_did_file(keys.load_private(folder / "issuer.key"), folder / "issuer.key.pub")
    return path


def test_only_the_tracing_process_serves_cases(tmp_path: Path) -> None:
    path = traced_site(tmp_path)
    read = create_app_from_config(path)
    assert EXTENSION not in read.extensions
    answer = read.test_client().post("/v1/cases", json={}, headers={"Authorization": "Bearer x"})
    assert answer.status_code == 401  # the caller is checked first, everywhere
    app = create_app_from_config(path, tracing=True)
    ctx = app.extensions[EXTENSION]
    assert isinstance(ctx, TracingContext)
    assert ctx.trace.min_overlap_minutes == 10 and ctx.trace.default_stay_ms("gym-2") == 90 * 60_000
    assert ctx.pepper == (tmp_path / "pepper").read_bytes()
    assert (ctx.window_s, ctx.skew_s) == (20, 3)
    assert load_config(path).trace.min_overlap_minutes == 10


def test_tracing_needs_its_keys(tmp_path: Path) -> None:
    path = traced_site(tmp_path)
    (tmp_path / "data-master.key").unlink()
    with pytest.raises(ConfigError, match="data master key"):
        create_app_from_config(path, tracing=True)
    create_app_from_config(path)  # the read API opens no private key
    bare = tmp_path / "bare"
    bare.mkdir()
    plain = write_site(bare, None)
    with pytest.raises(ConfigError, match=r"\[issuer\] table"):
        create_app_from_config(plain, tracing=True)


def test_a_bad_trace_table_stops_every_process(tmp_path: Path) -> None:
    path = traced_site(tmp_path, "\n[trace]\nmin_overlap_minutes = -1\n")
    with pytest.raises(ConfigError, match="min_overlap_minutes"):
        load_config(path)
    other = tmp_path / "other"
    other.mkdir()
    path = traced_site(other, "\n[trace]\nwhat = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(path)


def test_web_tracing_command(tmp_path: Path) -> None:
    argv = gunicorn_argv(tmp_path / "a.toml", "127.0.0.1:8082", 2, tracing=True)
    assert "SAFECODE_WEB_ROLE=tracing" in argv
    both = CliRunner().invoke(
        web_command, ["--config", str(tmp_path / "a.toml"), "--issuer", "--tracing"]
    )
    assert both.exit_code == 1 and "separate processes" in both.output
    bare = write_site(tmp_path, None)
    missing = CliRunner().invoke(web_command, ["--config", str(bare), "--tracing"])
    assert missing.exit_code == 1 and "[issuer] table" in missing.output
