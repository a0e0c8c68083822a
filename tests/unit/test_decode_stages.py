"""The door cascade's stages (kiosk/decode_stages.py) and its order (GatedCascade)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks import door_frames, door_render, qr_levels
from kiosk import decode_stages
from kiosk.decoders import (
    Decoded,
    EnlargedCrop,
    GatedCascade,
    GlobalPass,
    Hints,
    InvertedPass,
    PyzbarOnCrop,
    Stage,
    ZxingDecoder,
    default_decoder,
)


def door_frame(distance_mm: float, blur_px: float = 0.6, *, inverted: bool = False) -> np.ndarray:
    """The wallet's level-L code, tilted 10 degrees, right of centre, at ``distance_mm``."""
    base = qr_levels.draw_scene(np.random.default_rng(0), 12)
    scene = dataclasses.replace(
        base,
        distance_mm=distance_mm,
        tilt_deg=10.0,
        blur_px=blur_px,
        glare=None,
        noise=3.0,
        jpeg_quality=85,
        centre_share=(0.2, -0.1),
        inverted=inverted,
    )
    symbol = door_render.encode(qr_levels.presentation_text(), "L")
    return door_render.render(symbol, scene, np.random.default_rng(1))


TEXT = qr_levels.presentation_text()


def test_the_gate_finds_a_small_code_and_boxes_it() -> None:
    frame = door_frame(280.0)
    box = decode_stages.probable_code(frame)
    assert box is not None
    x0, y0, x1, y1 = box
    # The code's centre: 0.2 / -0.1 of the room either side of the frame's centre.
    assert x0 < 360 < x1 and y0 < 230 < y1
    assert 60 <= x1 - x0 <= 240 and 60 <= y1 - y0 <= 240


def test_the_gate_stays_shut_on_flat_noisy_and_tiny_frames() -> None:
    rng = np.random.default_rng(3)
    assert decode_stages.probable_code(np.full((480, 640), 128, np.uint8)) is None
    noisy = np.clip(rng.normal(120, 12, (480, 640)), 0, 255).astype(np.uint8)
    assert decode_stages.probable_code(noisy) is None  # noise everywhere raises the bar
    for shape in [(1, 1), (3, 7), (15, 15), (480, 1)]:
        assert decode_stages.probable_code(np.zeros(shape, np.uint8)) is None
    # A texture all over (random blocks) is not a compact patch.
    blocks = (rng.random((60, 80)) < 0.5).astype(np.uint8) * 200
    assert decode_stages.probable_code(np.kron(blocks, np.ones((8, 8), np.uint8))) is None


def test_the_gate_stays_shut_on_most_empty_door_frames() -> None:
    fired = sum(
        decode_stages.probable_code(door_frames.empty_frame(5, i)[0]) is not None for i in range(30)
    )
    assert fired <= 6, fired


@settings(max_examples=60, deadline=None)
@given(image=hnp.arrays(np.uint8, st.tuples(st.integers(1, 90), st.integers(1, 120))))
def test_the_gate_takes_any_pixels(image: np.ndarray) -> None:
    box = decode_stages.probable_code(image)
    assert box is None or (len(box) == 4 and box[0] < box[2] and box[1] < box[3])
    cells = decode_stages.energy_cells(image)
    assert cells.ndim == 2


def test_energy_cells_are_sums_over_16_pixel_cells() -> None:
    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, ::8] = 255  # every other subsample (every 4th pixel) alternates 255 / 0
    cells = decode_stages.energy_cells(stripes)
    assert cells.shape == (4, 3)  # 16x16 samples; 15 differences per row -> 3 cells
    assert int(cells[0, 0]) == 4 * 4 * 255


def test_crop_grows_and_clips() -> None:
    image = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    region = decode_stages.crop(image, (50, 20, 90, 60), margin=0.25, pad=0)
    assert region.shape == (60, 60)
    assert region.flags.c_contiguous
    assert decode_stages.crop(image, (0, 0, 200, 100)).shape == (100, 200)
    assert decode_stages.crop(image, (300, 300, 400, 400), pad=0).shape == (100, 200)


def test_sharpen_and_enlarge() -> None:
    image = door_frame(280.0)[100:200, 300:420]
    bigger = decode_stages.sharpen_and_enlarge(image, factor=2.0)
    assert bigger.shape == (200, 240) and bigger.dtype == np.uint8
    same = decode_stages.sharpen_and_enlarge(image, factor=1.0, percent=0)
    assert np.array_equal(same, image)
    sharp = decode_stages.sharpen_and_enlarge(image, factor=1.0)
    assert sharp.std() > image.std()  # an unsharp mask raises contrast at edges


def test_enlarged_crop_reads_a_code_zxing_alone_misses() -> None:
    frame = door_frame(280.0)
    assert ZxingDecoder(return_errors=False).decode(frame) == []
    hints = Hints(gate_box=decode_stages.probable_code(frame))
    assert [d.text for d in EnlargedCrop().run(frame, hints)] == [TEXT]
    assert [d.text for d in default_decoder().decode(frame)] == [TEXT]
    # Without a box and with a size limit it does nothing; too big a region is skipped.
    assert EnlargedCrop().run(frame, Hints()) == []
    assert EnlargedCrop(max_side=50).run(frame, hints) == []


def test_inverted_pass_reads_light_on_dark() -> None:
    frame = door_frame(150.0, inverted=True)
    assert ZxingDecoder(try_invert=False).decode(frame) == []
    hints = Hints()
    assert [d.text for d in InvertedPass().run(frame, hints)] == [TEXT]
    assert [d.text for d in default_decoder().decode(frame)] == [TEXT]


def test_pyzbar_runs_only_on_a_code_only_the_global_pass_located() -> None:
    frame = door_frame(150.0)
    stage = PyzbarOnCrop()
    assert stage.run(frame, Hints()) == []
    assert stage.run(frame, Hints(global_located=[(200, 100, 500, 400)], local_located=True)) == []
    found = stage.run(frame, Hints(global_located=[(0, 0, 640, 480)]))
    assert [d.text for d in found] == [TEXT]
    hints = Hints()
    GlobalPass().run(np.full((480, 640), 120, np.uint8), hints)
    assert hints.global_located == [] and hints.located == []


class Counting(Stage):
    """A stage answering from a list, counting its calls."""

    def __init__(self, name: str, texts: list[str]) -> None:
        self.name = name
        self.texts = texts
        self.calls = 0

    def run(self, image: np.ndarray, hints: Hints) -> list[Decoded]:
        self.calls += 1
        return [Decoded(t, self.name) for t in self.texts]


def test_gated_cascade_runs_stages_only_behind_the_gate() -> None:
    empty = np.full((480, 640), 128, np.uint8)
    first, second = Counting("a", []), Counting("b", ["X", "X", "Y"])
    shut = GatedCascade([first, second], gate=lambda image: None)
    assert shut.decode(empty) == []
    assert (first.calls, second.calls) == (0, 0)
    open_ = GatedCascade([first, second], gate=lambda image: (0, 0, 10, 10))
    assert open_.decode(empty) == [Decoded("X", "b"), Decoded("Y", "b")]
    assert (first.calls, second.calls) == (1, 1)
    ungated = GatedCascade([first], gate=None)
    assert ungated.decode(empty) == []
    assert first.calls == 2
    # A code the first pass reads: no stage, no gate.
    frame = door_frame(150.0)
    never = Counting("never", ["WRONG"])
    assert GatedCascade([never]).decode(frame) == [Decoded(TEXT, "zxing")]
    assert never.calls == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_cascade_reads_nothing_on_empty_door_frames(seed: int) -> None:
    cascade = default_decoder()
    for index in range(6):
        image, _kind = door_frames.empty_frame(seed, index)
        assert cascade.decode(image) == []
