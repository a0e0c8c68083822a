"""``safecode kiosk decode``: one JSON line per image, codes shown only by fingerprint."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from kiosk.decode_cli import SHOWN_CHARS, decode_command, shown
from protocol import keys
from protocol.presentation import Presentation
from safecode.cli import cli
from simulator.render import render_code_frame
from simulator.visitors import enrol_visitor


def save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def presentation_text() -> str:
    wallet = enrol_visitor(keys.generate(), time.time())
    return wallet.show(time.time()).to_text()


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def test_presentation_is_shown_only_by_fingerprint(tmp_path: Path, presentation_text: str) -> None:
    image = save(tmp_path / "code.png", render_code_frame(presentation_text))
    result = CliRunner().invoke(decode_command, [str(image)])
    assert result.exit_code == 0, result.output
    assert presentation_text[4:] not in result.output
    assert presentation_text[4:24] not in result.output
    [line] = lines(result.output)
    assert line["path"] == str(image) and (line["width"], line["height"]) == (640, 480)
    assert line["decoder"] == "cascade" and line["ms"] >= 0
    [entry] = line["texts"]
    assert entry == {
        "text": "SC1:…",
        "fingerprint": Presentation.from_text(presentation_text).fingerprint(),
        "chars": len(presentation_text),
        "well_formed": True,
        "decoder": "zxing",
    }


def test_missing_and_unreadable_files_fail_per_line(tmp_path: Path) -> None:
    good = save(tmp_path / "good.png", render_code_frame("HELLO"))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    blank = save(tmp_path / "blank.png", np.full((48, 64), 128, np.uint8))
    missing = tmp_path / "missing.jpg"
    result = CliRunner().invoke(
        decode_command, [str(good), str(garbage), str(missing), str(blank), str(tmp_path)]
    )
    assert result.exit_code == 1
    got = lines(result.output)
    assert [line["path"] for line in got] == [
        str(p) for p in (good, garbage, missing, blank, tmp_path)
    ]
    assert got[0]["texts"] == [{"text": "HELLO", "decoder": "zxing"}]
    assert "cannot read image" in got[1]["error"] and "garbage.png" in got[1]["error"]
    assert got[2]["error"] == f"no such image file: {missing}"
    assert got[3]["texts"] == [] and "error" not in got[3]
    assert "no such image file" in got[4]["error"]  # a folder is not an image


def test_hostile_images_get_one_error_line_each_and_the_rest_is_decoded(tmp_path: Path) -> None:
    from tests.unit.hostile_png import write_png

    wide = write_png(tmp_path / "wide.png", 70_000, 1)
    huge = write_png(tmp_path / "huge.png", 13_370, 13_370)
    good = save(tmp_path / "good.png", render_code_frame("HELLO"))
    for args in ([], ["--all-decoders"]):
        result = CliRunner().invoke(decode_command, [*args, str(wide), str(huge), str(good)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        got = lines(result.output)
        assert [line["path"] for line in got] == [str(wide), str(huge), str(good)]
        assert "refused image" in got[0]["error"] and "70000x1" in got[0]["error"]
        assert "over the budget of 16777216 pixels" in got[1]["error"]
        assert "error" not in got[2]
    small = CliRunner().invoke(decode_command, ["--max-pixels", "100", str(good)])
    assert small.exit_code == 1 and "over the budget of 100 pixels" in small.output


def test_an_image_crashing_pillow_gets_one_error_line_and_the_next_is_decoded(
    tmp_path: Path,
) -> None:
    from tests.unit.hostile_formats import crashing_dds, crashing_tiff, write

    tiff = write(tmp_path / "crash_TIFF.png", crashing_tiff())  # TypeError in Pillow
    dds = write(tmp_path / "crash_DDS.png", crashing_dds())  # NotImplementedError in Pillow
    good = save(tmp_path / "good.png", render_code_frame("HELLO"))
    result = CliRunner().invoke(decode_command, [str(tiff), str(good), str(dds)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    got = lines(result.output)
    assert [line["path"] for line in got] == [str(tiff), str(good), str(dds)]
    assert got[0]["error"].startswith(f"cannot read image {tiff}: ")
    assert got[1]["texts"] == [{"text": "HELLO", "decoder": "zxing"}] and "error" not in got[1]
    assert got[2]["error"].startswith(f"cannot read image {dds}: ")


@pytest.mark.spawns
def test_a_decompression_bomb_costs_no_memory(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.unit.hostile_png import write_png

    huge = write_png(tmp_path / "huge.png", 13_370, 13_370)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec, so a
    # large test worker would be counted; VmHWM belongs to the child's own memory map.
    child = (
        "import atexit, re, sys\n"
        "hwm = lambda: re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
        "atexit.register(lambda: print('maxrss_kb', hwm(), file=sys.stderr))\n"
        "from safecode.cli import cli\n"
        "cli(['kiosk', 'decode', *sys.argv[1:]])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(huge)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "over the budget" in done.stdout, done.stderr
    maxrss_mb = int(done.stderr.split("maxrss_kb")[-1].split()[0]) / 1024
    assert maxrss_mb < 250, f"decoding took {maxrss_mb:.0f} MB"  # 1.3 GB if decoded


def test_all_decoders_side_by_side(tmp_path: Path) -> None:
    inverted = save(tmp_path / "dark-mode.png", 255 - render_code_frame("DARK MODE"))
    result = CliRunner().invoke(decode_command, ["--all-decoders", str(inverted)])
    assert result.exit_code == 0, result.output
    [line] = lines(result.output)
    assert set(line["results"]) == {"zxing", "pyzbar", "cascade"}
    assert line["results"]["zxing"]["texts"] == [{"text": "DARK MODE", "decoder": "zxing"}]
    assert line["results"]["pyzbar"]["texts"] == []  # ZBar does not read light-on-dark
    assert line["results"]["cascade"]["texts"][0]["text"] == "DARK MODE"
    assert line["zxing_located_unread"] == 0


def test_all_decoders_counts_codes_located_but_unread(tmp_path: Path) -> None:
    frame = render_code_frame("SC1:" + "A" * 120, rng=np.random.default_rng(0))
    ys, xs = np.where(frame < 80)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    h, w = (ys.max() - ys.min()) // 5, (xs.max() - xs.min()) // 5
    frame[cy - h : cy + h, cx - w : cx + w] = np.random.default_rng(0).choice(
        [30, 220], size=(2 * h, 2 * w)
    )
    damaged = save(tmp_path / "damaged.png", frame)
    [line] = lines(CliRunner().invoke(decode_command, ["--all-decoders", str(damaged)]).output)
    assert all(r["texts"] == [] for r in line["results"].values())
    assert line["zxing_located_unread"] >= 1


@pytest.mark.parametrize(("name", "found"), [("zxing", True), ("pyzbar", False)])
def test_decoder_option(tmp_path: Path, name: str, found: bool) -> None:
    inverted = save(tmp_path / "inv.png", 255 - render_code_frame("INV"))
    [line] = lines(CliRunner().invoke(decode_command, ["--decoder", name, str(inverted)]).output)
    assert line["decoder"] == name
    assert bool(line["texts"]) is found


def test_bad_decoder_name_and_no_images() -> None:
    assert CliRunner().invoke(decode_command, ["--decoder", "quirc", "x.png"]).exit_code == 2
    assert CliRunner().invoke(decode_command, []).exit_code == 2


def test_registered_under_safecode_kiosk() -> None:
    result = CliRunner().invoke(cli, ["kiosk", "decode", "--help"])
    assert result.exit_code == 0 and "--all-decoders" in result.output


def test_long_and_malformed_texts() -> None:
    long = "x" * (SHOWN_CHARS + 5)
    assert shown(long) == {"text": "x" * SHOWN_CHARS + "…", "chars": len(long)}
    bad = shown("SC1:NOT-A-REAL-CODE")
    assert bad["well_formed"] is False and bad["text"] == "SC1:…"
    assert len(bad["fingerprint"]) == 12


@given(st.text(max_size=400))
def test_sc1_texts_never_shown_whole(body: str) -> None:
    entry = shown("SC1:" + body)
    assert entry["text"] == "SC1:…"
    assert entry["chars"] == 4 + len(body)
    assert set(entry) == {"text", "fingerprint", "chars", "well_formed"}
    assert len(entry["fingerprint"]) == 12
    if len(body) > 12:  # longer than anything printed, so it cannot hide in it
        assert all(body not in str(value) for value in entry.values())
