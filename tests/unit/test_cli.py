"""The command line: help texts, visitor sample, ledger verify-note, provision init-site."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol import keys
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.errors import UnknownKeyError
from protocol.note import NoteSigner
from protocol.presentation import CodeType, Presentation
from safecode.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["demo"],
        ["kiosk"],
        ["kiosk", "run"],
        ["aggregator", "run"],
        ["ledger", "verify-note"],
        ["visitor", "sample"],
        ["provision", "init-site"],
        ["ledger", "verify"],
    ],
)
def test_every_command_has_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output) > 100


def test_visitor_sample_prints_a_fresh_presentation(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["visitor", "sample"])
    assert result.exit_code == 0
    text = result.output.strip()
    presentation = Presentation.from_text(text)
    assert presentation.code_type == CodeType.CHECKIN
    assert abs(presentation.timestamp - time.time()) < 5
    with pytest.raises(UnknownKeyError):  # a throwaway issuer nobody trusts
        presentation.verify([keys.generate().public_key()], now=time.time())


def test_visitor_sample_with_an_issuer_key_verifies(runner: CliRunner, tmp_path: Path) -> None:
    issuer = keys.generate()
    keys.save_private(issuer, tmp_path / "issuer.key")
    result = runner.invoke(
        cli,
        ["visitor", "sample", "--issuer-key", str(tmp_path / "issuer.key"), "--type", "diagnostic"],
    )
    assert result.exit_code == 0, result.output
    presentation = Presentation.from_text(result.output.strip())
    presentation.verify([issuer.public_key()], now=time.time(), expected_type=CodeType.DIAGNOSTIC)


@pytest.fixture
def signed_checkpoint(tmp_path: Path) -> tuple[Path, NoteSigner]:
    signer = NoteSigner.generate("example.org/ledger")
    note = sign_checkpoint(Checkpoint("example.org/ledger", 7, bytes(range(32))), signer)
    path = tmp_path / "checkpoint"
    path.write_bytes(note)
    return path, signer


def test_verify_note_accepts_the_right_key(runner: CliRunner, signed_checkpoint) -> None:
    path, signer = signed_checkpoint
    vkey = signer.verifier().to_string()
    result = runner.invoke(cli, ["ledger", "verify-note", "--vkey", vkey, str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "example.org/ledger" in result.output
    from_stdin = runner.invoke(
        cli, ["ledger", "verify-note", "--vkey", vkey], input=path.read_bytes()
    )
    assert from_stdin.exit_code == 0, from_stdin.output


def test_verify_note_refuses_tampering_and_other_keys(runner: CliRunner, signed_checkpoint) -> None:
    path, signer = signed_checkpoint
    vkey = signer.verifier().to_string()
    tampered = path.read_bytes().replace(b"\n7\n", b"\n8\n")
    result = runner.invoke(cli, ["ledger", "verify-note", "--vkey", vkey], input=tampered)
    assert result.exit_code == 1
    assert "FAILED" in result.output
    other = NoteSigner.generate("example.org/ledger").verifier().to_string()
    result = runner.invoke(cli, ["ledger", "verify-note", "--vkey", other, str(path)])
    assert result.exit_code == 1
    result = runner.invoke(cli, ["ledger", "verify-note", "--vkey", vkey], input=b"\x00\xff" * 10)
    assert result.exit_code == 1


def test_verify_note_explains_a_bad_vkey(runner: CliRunner, signed_checkpoint) -> None:
    path, _ = signed_checkpoint
    result = runner.invoke(cli, ["ledger", "verify-note", "--vkey", "not-a-key", str(path)])
    assert result.exit_code == 1
    assert "verifier key" in result.output
    missing = runner.invoke(
        cli, ["ledger", "verify-note", "--vkey", "x", str(path.parent / "missing")]
    )
    assert missing.exit_code != 0


def test_init_site_then_verify_an_empty_ledger(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["provision", "init-site", str(tmp_path / "site"), "--kiosks", "2"])
    assert result.exit_code == 0, result.output
    configs = sorted((tmp_path / "site" / "kiosks").glob("*/kiosk.toml"))
    assert [c.parent.name for c in configs] == ["kiosk-1", "kiosk-2"]
    key_file = configs[0].parent / "state" / "device.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    vkey = result.output.strip().splitlines()[-1].split()[-1]
    db = f"sqlite:///{tmp_path / 'site' / 'aggregator' / 'ledger.sqlite'}"
    verified = runner.invoke(cli, ["ledger", "verify", "--db", db, "--vkey", vkey])
    assert verified.exit_code == 0, verified.output
    assert "0 blocks, tree size 0" in verified.output


def test_bad_arguments_get_clear_errors(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["provision", "init-site", str(tmp_path), "--kiosks", "0"])
    assert result.exit_code == 2 and "1 to 200" in result.output
    result = runner.invoke(cli, ["demo", "--seconds", "-1"])
    assert result.exit_code == 2 and "positive" in result.output
    result = runner.invoke(cli, ["kiosk", "run", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "no such config file" in result.output
    result = runner.invoke(
        cli,
        [
            "ledger",
            "verify",
            "--db",
            "mysql://x",
            "--vkey",
            NoteSigner.generate("a").verifier().to_string(),
        ],
    )
    assert result.exit_code == 1 and "unsupported database URL" in result.output
    vkey = NoteSigner.generate("a").verifier().to_string()
    typo = f"sqlite:///{tmp_path / 'no-such-ledger.sqlite'}"
    result = runner.invoke(cli, ["ledger", "verify", "--db", typo, "--vkey", vkey])
    assert result.exit_code == 1 and "no ledger database" in result.output
    assert not (tmp_path / "no-such-ledger.sqlite").exists()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(
        cli, ["ledger", "verify", "--db", f"sqlite:///{garbage}", "--vkey", vkey]
    )
    assert result.exit_code == 1 and "FAILED" in result.output


def test_bench_presentation_reports_a_version_10_code(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["bench", "presentation", "--samples", "3"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["qr_version_max"] <= 10 and figures["qr_error_correction"] == "M"
    assert figures["bytes_max"] == 195 and figures["chars_max"] <= 311
    assert figures["headroom_chars"] == 311 - figures["chars_max"]
