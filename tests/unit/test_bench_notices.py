"""benchmarks/notices.py run tiny: only the shape of its output is checked."""

from __future__ import annotations

import json

import pytest

from benchmarks import notices


def test_the_figures_have_their_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert notices.main(["--notices", "3", "--tags", "5"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["notices"] == 3 and figures["status_304"] == 304
    assert figures["tags_listed"] == 5008 + 2 * 16
    for key in ("publish_max_tags_ms", "get_cold_ms", "get_304_ms_median", "serialise_ms_median"):
        assert figures[key] > 0
    assert figures["body_bytes"] > figures["body_bytes_gzip"] > 0
    assert "machine" in figures


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        notices.main(["--notices", "0"])
