"""Decoder figures (benchmarks.decoders) and ``safecode bench decoders``, on small sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks.decoders import dataset_dir, decoder_figures, empty_frames, labelled_images
from kiosk.decoders import PyzbarDecoder, ZxingDecoder, default_decoder
from safecode.cli import cli
from simulator.render import render_code_frame


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """3 readable codes (one inverted, one labelled by .bin), 1 blank image, a metadata file."""
    sub = tmp_path / "set" / "part-1"
    sub.mkdir(parents=True)
    for i, text in enumerate(["ONE", "TWO\r\nLINES", "THREE"], start=1):
        frame = render_code_frame(text, rng=np.random.default_rng(i))
        Image.fromarray(255 - frame if i == 3 else frame).save(sub / f"{i}.png")
        (sub / f"{i}.txt").write_bytes(text.encode("utf-8"))
    (sub / "2.bin").write_bytes("TWO\r\nLINES".encode("iso-8859-1"))
    Image.fromarray(np.full((120, 160), 128, np.uint8)).save(sub / "4.png")
    (sub / "4.txt").write_text("NOT THERE")
    (sub / "1.metadata.txt").write_text("SYMBOLOGY_IDENTIFIER=]Q1")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(sub / "unlabelled.png")
    return tmp_path / "set"


def test_labelled_images(labelled: Path) -> None:
    cases = labelled_images(labelled)
    assert [c.path.name for c in cases] == ["1.png", "2.png", "3.png", "4.png"]
    assert cases[1].expected == "TWO\r\nLINES"  # bytes kept: \r\n is not turned into \n


def test_figures_count_reads_and_compare_in_one_run(labelled: Path) -> None:
    decoders = {"zxing": ZxingDecoder(), "pyzbar": PyzbarDecoder(), "cascade": default_decoder()}
    figures = decoder_figures([labelled], repeats=2, empty=2, decoders=decoders)
    assert (figures["images"], figures["repeats"], figures["empty_frames"]) == (4, 2, 2)
    per = figures["decoders"]
    assert per["zxing"]["read"] == 3 and per["cascade"]["read"] == 3
    assert per["pyzbar"]["read"] == 2  # not the light-on-dark one
    assert per["cascade"]["read_rate"] == 0.75
    for row in per.values():
        assert row["mean_ms"] > 0 and row["median_ms"] > 0 and row["empty_median_ms"] > 0
    assert figures["cascade_vs_zxing_mean_cost"] == round(
        per["cascade"]["mean_ms"] / per["zxing"]["mean_ms"], 3
    )
    assert figures["missed_by_cascade"] == [str(labelled / "part-1" / "4.png")]
    assert figures["machine"]["cpus"] >= 1


def test_figures_refuse_bad_input(labelled: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labelled images"):
        decoder_figures([tmp_path / "set" / "part-1" / "unlabelled.png"])
    with pytest.raises(FileNotFoundError):
        decoder_figures([tmp_path / "nowhere"])
    with pytest.raises(ValueError, match="repeats"):
        decoder_figures([labelled], repeats=0)
    with pytest.raises(ValueError, match="'zxing' and 'cascade'"):
        decoder_figures([labelled], repeats=1, decoders={"zxing": ZxingDecoder()})


def test_one_labelled_file(labelled: Path) -> None:
    decoders = {"zxing": ZxingDecoder(), "cascade": default_decoder()}
    figures = decoder_figures(
        [labelled / "part-1" / "1.png"], repeats=1, empty=1, decoders=decoders
    )
    assert figures["images"] == 1 and figures["cascade_read_rate"] == 1.0


def test_empty_frames_hold_no_code() -> None:
    frames = empty_frames(3)
    assert all(f.shape == (480, 640) and f.dtype == np.uint8 for f in frames)
    decoder = default_decoder()
    assert all(decoder.decode(f) == [] for f in frames)


def test_dataset_dir(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dataset_dir(str(labelled)) == labelled
    monkeypatch.setenv("SAFECODE_SHARED_DATA", "/data")
    assert dataset_dir("zxing-blackbox") == Path("/data/qr/zxing-blackbox")


def test_bench_decoders_command(labelled: Path) -> None:
    args = ["bench", "decoders", "--set", str(labelled), "--repeats", "1", "--empty", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["set"] == str(labelled) and figures["images"] == 4
    assert {"zxing", "pyzbar", "cascade", "zxing+pyzbar"} <= set(figures["decoders"])
    bad = CliRunner().invoke(cli, ["bench", "decoders", "--set", str(labelled / "nope")])
    assert bad.exit_code == 2 and "no image set" in bad.output
