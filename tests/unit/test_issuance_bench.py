"""The issuance benchmark runs tiny and gives its figures (shape only, never timed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.issuance import bench_issuance, main


def test_bench_issuance_shape(tmp_path: Path) -> None:
    result = bench_issuance(3, runs=1, folder=tmp_path)
    for name in (
        "issuance_batches_per_s",
        "issuance_vs_sign_ceiling",
        "issuance_vs_crypto_ceiling",
        "ed25519_signs_per_s",
    ):
        assert result[name] > 0, name
    assert result["credentials_per_batch"] == 7 and result["batches"] == 3
    assert list(tmp_path.iterdir()) == []  # its databases are gone


def test_bench_issuance_prints_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--batches", "1", "--runs", "1", "--dir", str(tmp_path)])
    line = capsys.readouterr().out.strip()
    assert json.loads(line)["runs"] == 1 and "\n" not in line
    with pytest.raises(ValueError):
        bench_issuance(0)
