"""QR decoders: round trips through rendered frames, garbage input, real public images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks.decoders import labelled_images
from kiosk.decode_stages import probable_code
from kiosk.decoders import (
    CascadeDecoder,
    Decoded,
    Decoder,
    GatedCascade,
    PyzbarDecoder,
    SeenFallbackCascade,
    ZxingDecoder,
    crop_around,
    decoder_named,
    default_decoder,
    previous_default,
)
from simulator.render import blank_frame, code_matrix, render_code_frame
from tests.shared_data import SHARED_DATA

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
BLACKBOX = SHARED_DATA / "qr" / "zxing-blackbox" / "qrcode-1"
SEEDS = [0, 1, 2, 3, 4]


def presentation_text(seed: int) -> str:
    """A stand-in for a rotating code: "SC1:" + 293 Base45 characters (a version 10-M QR)."""
    rng = np.random.default_rng(1000 + seed)
    return "SC1:" + "".join(BASE45[i] for i in rng.integers(0, len(BASE45), 293))


@pytest.fixture(scope="module")
def zxing() -> ZxingDecoder:
    return ZxingDecoder()


@pytest.fixture(scope="module")
def pyzbar() -> PyzbarDecoder:
    return PyzbarDecoder()


@pytest.fixture(scope="module")
def cascade() -> Decoder:
    return default_decoder()


def test_presentation_texts_make_version_10_codes() -> None:
    for seed in SEEDS:
        text = presentation_text(seed)
        assert len(text) == 297
        assert code_matrix(text).shape == (57, 57)  # version 10 = 17 + 4 * 10 modules


@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_both_decoders(seed: int, zxing: ZxingDecoder, pyzbar: PyzbarDecoder) -> None:
    text = presentation_text(seed)
    frame = render_code_frame(text, rng=np.random.default_rng(seed))
    assert zxing.decode(frame) == [Decoded(text, "zxing")]
    assert pyzbar.decode(frame) == [Decoded(text, "pyzbar")]


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_round_trip_cascade_uses_zxing_first(seed: int, cascade: Decoder) -> None:
    text = presentation_text(seed)
    frame = render_code_frame(text, rng=np.random.default_rng(seed))
    assert cascade.decode(frame) == [Decoded(text, "zxing")]


def test_round_trip_non_ascii_text(zxing: ZxingDecoder, pyzbar: PyzbarDecoder) -> None:
    text = "Café ☕ 제주 \x01 tab\tend"
    frame = render_code_frame(text, rng=np.random.default_rng(7))
    assert zxing.decode(frame) == [Decoded(text, "zxing")]  # TextMode.Plain: \x01 kept
    assert pyzbar.decode(frame) == [Decoded(text, "pyzbar")]


def test_blank_frames_decode_to_nothing(
    zxing: ZxingDecoder, pyzbar: PyzbarDecoder, cascade: Decoder
) -> None:
    for seed in SEEDS[:3]:
        frame = blank_frame(rng=np.random.default_rng(seed))
        for decoder in (zxing, pyzbar, cascade):
            assert decoder.decode(frame) == []


@pytest.mark.parametrize("shape", [(480, 640), (1, 1), (1, 640), (480, 1), (3, 7)])
def test_garbage_pixels_decode_to_nothing(
    shape: tuple[int, int], zxing: ZxingDecoder, pyzbar: PyzbarDecoder, cascade: Decoder
) -> None:
    rng = np.random.default_rng(11)
    images = [
        rng.integers(0, 256, shape, dtype=np.uint8),
        np.zeros(shape, np.uint8),
        np.full(shape, 255, np.uint8),
        (rng.integers(0, 2, shape, dtype=np.uint8) * 255).astype(np.uint8),
    ]
    for image in images:
        for decoder in (zxing, pyzbar, cascade):
            assert decoder.decode(image) == []


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5), np.uint8),
        np.zeros((4, 0), np.uint8),
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((16,), np.uint8),
        np.zeros((4, 4), np.float32),
        np.zeros((4, 4), np.uint16),
        [[0, 255], [255, 0]],
        None,
    ],
)
def test_bad_images_raise_value_error(bad: object, cascade: Decoder) -> None:
    for decoder in (ZxingDecoder(), PyzbarDecoder(), cascade):
        with pytest.raises(ValueError, match="decoder input"):
            decoder.decode(bad)  # type: ignore[arg-type]


def test_strided_and_fortran_images_decode(zxing: ZxingDecoder, pyzbar: PyzbarDecoder) -> None:
    text = presentation_text(0)
    frame = render_code_frame(text, rng=np.random.default_rng(0))
    wide = np.zeros((480, 1280), np.uint8)
    wide[:, ::2] = frame
    for image in (wide[:, ::2], np.asfortranarray(frame)):
        assert [d.text for d in zxing.decode(image)] == [text]
        assert [d.text for d in pyzbar.decode(image)] == [text]


def test_inverted_code(pyzbar: PyzbarDecoder, cascade: Decoder) -> None:
    """Light-on-dark (dark-mode screens): zxing-cpp reads it with try_invert (its default).

    Measured with zxing-cpp 3.1.1 and ZBar 0.23 through pyzbar 0.1.9: zxing-cpp with
    try_invert=True reads all five inverted frames, with try_invert=False none, ZBar none.
    """
    no_invert = ZxingDecoder(try_invert=False)
    for seed in SEEDS:
        text = presentation_text(seed)
        inverted = 255 - render_code_frame(text, rng=np.random.default_rng(seed))
        assert cascade.decode(inverted) == [Decoded(text, "zxing")]
        assert no_invert.decode(inverted) == []
        assert pyzbar.decode(inverted) == []


def test_two_codes_in_one_frame(zxing: ZxingDecoder) -> None:
    left = render_code_frame("LEFT", size=(300, 300), rng=np.random.default_rng(1))
    right = render_code_frame("RIGHT", size=(300, 300), rng=np.random.default_rng(2))
    frame = np.hstack([left, right])
    assert sorted(d.text for d in zxing.decode(frame)) == ["LEFT", "RIGHT"]


class Fixed(Decoder):
    """A decoder that answers from a list, counting its calls."""

    def __init__(self, name: str, texts: list[str]) -> None:
        self.name = name
        self.texts = texts
        self.calls = 0

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        self.calls += 1
        return [Decoded(t, self.name) for t in self.texts]


def test_cascade_order_fallback_and_dedupe() -> None:
    image = np.zeros((8, 8), np.uint8)
    empty, first, second = Fixed("a", []), Fixed("b", ["X", "Y", "X"]), Fixed("c", ["Z"])
    cascade = CascadeDecoder([empty, first, second])
    assert cascade.decode(image) == [Decoded("X", "b"), Decoded("Y", "b")]
    assert (empty.calls, first.calls, second.calls) == (1, 1, 0)
    assert CascadeDecoder([empty]).decode(image) == []
    with pytest.raises(ValueError):
        CascadeDecoder([])


def test_default_decoder_is_the_measured_cascade() -> None:
    decoder = default_decoder()
    assert isinstance(decoder, GatedCascade)
    assert [s.name for s in decoder.stages] == ["inverted", "enlarged", "global", "pyzbar"]
    assert decoder.gate is probable_code
    assert decoder.name == "cascade"
    previous = previous_default()
    assert isinstance(previous, SeenFallbackCascade)
    assert [d.name for d in previous.decoders] == ["zxing", "zxing-global", "pyzbar"]


def test_decoder_named() -> None:
    assert isinstance(decoder_named("zxing"), ZxingDecoder)
    assert isinstance(decoder_named("pyzbar"), PyzbarDecoder)
    assert isinstance(decoder_named("cascade"), GatedCascade)
    with pytest.raises(ValueError, match="zxing, pyzbar, cascade"):
        decoder_named("quirc")
    with pytest.raises(ValueError, match="binarizer"):
        ZxingDecoder(binarizer="otsu")


def damaged_code_frame(seed: int, *, inverted: bool = False) -> np.ndarray:
    """A code whose centre is scribbled over: finder patterns intact, data unreadable."""
    frame = render_code_frame("SC1:" + "A" * 120, rng=np.random.default_rng(seed))
    ys, xs = np.where(frame < 80)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    h, w = (ys.max() - ys.min()) // 5, (xs.max() - xs.min()) // 5
    rng = np.random.default_rng(seed)
    frame[cy - h : cy + h, cx - w : cx + w] = rng.choice([30, 220], size=(2 * h, 2 * w))
    return (255 - frame) if inverted else frame


class Recording(Decoder):
    """A fallback that records what it was given and reads nothing."""

    name = "recording"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def _decode(self, image: np.ndarray) -> list[Decoded]:
        self.images.append(image.copy())
        return []


def test_cascade_skips_the_fallback_when_zxing_sees_no_code(zxing: ZxingDecoder) -> None:
    fallback = Recording()
    cascade = SeenFallbackCascade([zxing], fallback)
    for seed in SEEDS:
        assert cascade.decode(blank_frame(rng=np.random.default_rng(seed))) == []
    assert cascade.decode(np.random.default_rng(1).integers(0, 256, (480, 640), np.uint8)) == []
    assert fallback.images == []


@pytest.mark.parametrize("inverted", [False, True])
def test_cascade_gives_the_fallback_a_crop_of_a_located_code(
    zxing: ZxingDecoder, inverted: bool
) -> None:
    fallback = Recording()
    cascade = SeenFallbackCascade([zxing], fallback)
    for seed in range(4):
        frame = damaged_code_frame(seed, inverted=inverted)
        assert zxing.read(frame)[0] == [] and zxing.read(frame)[1]  # located, not read
        assert cascade.decode(frame) == []
    assert len(fallback.images) == 4
    for crop in fallback.images:
        assert crop.shape[0] < 480 and crop.shape[1] < 640  # a crop, not the frame
        border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
        # normal polarity either way: a light quiet zone / background around the code
        assert border.mean() > 100, f"border mean {border.mean()} (inverted={inverted})"


def test_cascade_only_if_first_missed(zxing: ZxingDecoder) -> None:
    """The fallback runs for a code only a later pass located, not one the first failed."""
    fallback = Recording()
    cascade = SeenFallbackCascade([zxing], fallback, only_if_first_missed=True)
    assert cascade.decode(damaged_code_frame(0)) == []
    assert fallback.images == []  # located by the first pass: damaged, not a binarisation miss
    no_invert = ZxingDecoder(try_invert=False)
    cascade = SeenFallbackCascade([no_invert, zxing], fallback, only_if_first_missed=True)
    inverted = damaged_code_frame(0, inverted=True)
    assert no_invert.read(inverted) == ([], [])
    assert cascade.decode(inverted) == []
    assert len(fallback.images) == 1
    assert previous_default().only_if_first_missed is True  # type: ignore[attr-defined]


def test_cascade_fallback_reads_what_it_can(zxing: ZxingDecoder) -> None:
    class Answer(Decoder):
        name = "answer"

        def _decode(self, image: np.ndarray) -> list[Decoded]:
            return [Decoded("FOUND", self.name), Decoded("FOUND", self.name)]

    cascade = SeenFallbackCascade([zxing], Answer())
    assert cascade.decode(damaged_code_frame(0)) == [Decoded("FOUND", "answer")]
    assert SeenFallbackCascade([zxing], None).decode(damaged_code_frame(0)) == []
    with pytest.raises(ValueError):
        SeenFallbackCascade([], None)


def test_crop_around_clips_and_falls_back_to_the_frame() -> None:
    image = np.full((100, 200), 200, np.uint8)
    region, inverted = crop_around(image, [(190, 90, 260, 140)], 0.25)
    assert region.shape == (16, 16) and not inverted  # box clipped to 10x10, grown by 6
    region, _ = crop_around(image, [(300, 300, 310, 310)], 0.25)
    assert region is image
    image[40:60, 80:120] = 0  # a dark "code" on light: not inverted
    assert crop_around(image, [(80, 40, 120, 60)], 0.5)[1] is False
    assert crop_around(255 - image, [(80, 40, 120, 60)], 0.5)[1] is True


def test_pyzbar_try_invert_reads_light_on_dark() -> None:
    text = presentation_text(3)
    inverted = 255 - render_code_frame(text, rng=np.random.default_rng(3))
    assert PyzbarDecoder().decode(inverted) == []
    assert PyzbarDecoder(try_invert=True).decode(inverted) == [Decoded(text, "pyzbar")]


# -- real images ---------------------------------------------------------------------------


def blackbox_cases() -> list[tuple[Path, str]]:
    """(image, expected text) for qrcode-1; images with an N.bin (binary payload) left out.

    N.txt is read as bytes and decoded as UTF-8: Path.read_text would turn the \\r\\n in
    some expected texts into \\n and fail five images that decode correctly.
    """
    cases = []
    for image in sorted(BLACKBOX.iterdir()):
        if image.suffix.lower() not in {".png", ".jpg", ".jpeg", ".gif", ".bmp"}:
            continue
        if image.with_suffix(".bin").exists() or not image.with_suffix(".txt").exists():
            continue
        cases.append((image, image.with_suffix(".txt").read_bytes().decode("utf-8")))
    return cases


def test_public_zxing_blackbox_images(cascade: Decoder) -> None:
    if not BLACKBOX.is_dir():
        pytest.skip(f"public QR images not found at {BLACKBOX}")
    from kiosk.frames import load_gray

    cases = blackbox_cases()
    assert cases, f"no images with an N.txt in {BLACKBOX}"
    read = sum(text in [d.text for d in cascade.decode(load_gray(path))] for path, text in cases)
    # Measured: 20 of 20 for zxing-cpp alone, pyzbar alone and the cascade.
    assert read / len(cases) >= 0.75, f"cascade read {read} of {len(cases)}"


def test_cascade_read_rate_on_the_whole_blackbox_set(cascade: Decoder, zxing: ZxingDecoder) -> None:
    """The issue's figure set: the cascade reads at least 93 % and never less than zxing."""
    root = BLACKBOX.parent
    if not root.is_dir():
        pytest.skip(f"public QR images not found at {root}")
    from kiosk.frames import load_gray

    cases = labelled_images(root)
    assert len(cases) >= 100, f"only {len(cases)} labelled images in {root}"
    read = {"cascade": 0, "zxing": 0}
    for case in cases:
        image = load_gray(case.path)
        read["cascade"] += case.expected in [d.text for d in cascade.decode(image)]
        read["zxing"] += case.expected in [d.text for d in zxing.decode(image)]
    # Measured with zxing-cpp 3.1.1 / pyzbar 0.1.9: 169 and 166 of 179.
    assert read["cascade"] / len(cases) >= 0.93, read
    assert read["cascade"] >= read["zxing"], read


boxes = st.lists(
    st.tuples(*[st.integers(-50, 300)] * 4).map(
        lambda b: (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]) + 1, max(b[1], b[3]) + 1)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(
    image=hnp.arrays(np.uint8, st.tuples(st.integers(1, 60), st.integers(1, 80))),
    located=boxes,
    margin=st.floats(0, 2),
)
def test_crop_around_any_boxes(image: np.ndarray, located: list, margin: float) -> None:
    region, inverted = crop_around(image, located, margin)
    assert region.ndim == 2 and region.size > 0 and region.dtype == np.uint8
    assert region.shape[0] <= image.shape[0] and region.shape[1] <= image.shape[1]
    assert isinstance(inverted, bool)


@settings(max_examples=40, deadline=None)
@given(image=hnp.arrays(np.uint8, st.tuples(st.integers(1, 120), st.integers(1, 160))))
def test_cascade_never_raises_on_any_pixels(image: np.ndarray) -> None:
    assert default_decoder().decode(image) == []


def test_zxing_without_error_reports_reports_no_boxes(zxing: ZxingDecoder) -> None:
    plain = ZxingDecoder(return_errors=False)
    frame = damaged_code_frame(1)
    assert zxing.read(frame)[1] and plain.read(frame) == ([], [])
