"""Simulated visitors (simulator.visitors): wallets, crowd files and the door camera queue."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from kiosk.decoders import Decoder, default_decoder
from kiosk.verifier import DoorVerifier, Outcome
from protocol import keys
from protocol.errors import UnknownKeyError, WrongTypeError
from protocol.presentation import CodeType, Presentation
from simulator.visitors import YEAR_S, VisitorQueue, Wallet, enrol_visitor, load_crowd, save_crowd
from tests.unit.wire_checks import seeded

ISSUER = seeded("visitors-issuer")
OTHER_ISSUER = seeded("visitors-other-issuer")
NOW = 1_764_000_000.0


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return default_decoder()


@pytest.fixture(scope="module")
def crowd() -> list[Wallet]:
    return [enrol_visitor(ISSUER, NOW) for _ in range(3)]


class Wall:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


def texts(decoder: Decoder, image: np.ndarray) -> list[str]:
    return [d.text for d in decoder.decode(image)]


# -- wallets ------------------------------------------------------------------------------


def test_enrolled_wallet_shows_codes_that_verify() -> None:
    wallet = enrol_visitor(ISSUER, NOW + 0.7)
    cred = wallet.credential
    assert cred.visitor_key == keys.public_bytes(wallet.key)
    assert (cred.not_before, cred.not_after) == (int(NOW) - 60, int(NOW) + YEAR_S)
    assert cred.issuer_index([OTHER_ISSUER.public_key(), ISSUER.public_key()]) == 1

    presentation = wallet.show(NOW + 10)
    assert presentation.code_type == CodeType.CHECKIN
    assert presentation.timestamp == int(NOW + 10)
    assert presentation.credential == cred
    presentation.verify([ISSUER.public_key()], now=NOW + 10)
    assert Presentation.from_text(presentation.to_text()) == presentation

    with pytest.raises(UnknownKeyError):
        presentation.verify([OTHER_ISSUER.public_key()], now=NOW + 10)


def test_diagnostic_codes_carry_their_type() -> None:
    wallet = enrol_visitor(ISSUER, NOW)
    code = wallet.show(NOW, CodeType.DIAGNOSTIC)
    assert code.code_type == CodeType.DIAGNOSTIC
    code.verify([ISSUER.public_key()], now=NOW, expected_type=CodeType.DIAGNOSTIC)
    with pytest.raises(WrongTypeError):
        code.verify([ISSUER.public_key()], now=NOW)


def test_each_visitor_has_their_own_key_and_credential() -> None:
    one, two = enrol_visitor(ISSUER, NOW), enrol_visitor(ISSUER, NOW)
    assert keys.public_bytes(one.key) != keys.public_bytes(two.key)
    assert one.credential.credential_id != two.credential.credential_id
    assert one.show(NOW).to_text() != two.show(NOW).to_text()


# -- crowd files --------------------------------------------------------------------------


def test_crowd_round_trip(tmp_path: Path, crowd: list[Wallet]) -> None:
    path = tmp_path / "visitors.crowd"
    save_crowd(path, crowd)
    loaded = load_crowd(path)
    assert [keys.private_seed(w.key) for w in loaded] == [keys.private_seed(w.key) for w in crowd]
    assert [w.credential for w in loaded] == [w.credential for w in crowd]
    loaded[0].show(NOW).verify([ISSUER.public_key()], now=NOW)
    assert loaded[1].show(NOW).to_text() == crowd[1].show(NOW).to_text()  # same key, same code


def test_crowd_file_is_private(tmp_path: Path, crowd: list[Wallet]) -> None:
    path = tmp_path / "visitors.crowd"
    save_crowd(path, crowd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_empty_crowd_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.crowd"
    save_crowd(path, [])
    assert load_crowd(path) == []


def test_rewriting_a_crowd_replaces_its_contents(tmp_path: Path, crowd: list[Wallet]) -> None:
    path = tmp_path / "visitors.crowd"
    save_crowd(path, crowd)
    save_crowd(path, crowd[:1])
    assert [w.credential for w in load_crowd(path)] == [crowd[0].credential]


def test_rewriting_a_readable_file_makes_it_private(tmp_path: Path, crowd: list[Wallet]) -> None:
    path = tmp_path / "visitors.crowd"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    save_crowd(path, crowd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- the door camera ----------------------------------------------------------------------


def test_queue_needs_wallets() -> None:
    with pytest.raises(ValueError, match="at least one wallet"):
        VisitorQueue([])


def test_frames_have_the_camera_shape(crowd: list[Wallet]) -> None:
    queue = VisitorQueue(crowd, seed=1, hold_frames=1, gap_frames=1, now=Wall(), size=(320, 240))
    for i in range(2):
        image = queue.next_frame(i)
        assert image.shape == (240, 320)
        assert image.dtype == np.uint8
        assert image.flags.c_contiguous
    assert VisitorQueue(crowd, seed=1, now=Wall()).next_frame(0).shape == (480, 640)


def test_a_code_every_hold_frames_among_gap_frames_blanks(
    crowd: list[Wallet], decoder: Decoder
) -> None:
    hold, gap = 2, 3
    wall = Wall()
    queue = VisitorQueue(
        crowd, seed=7, hold_frames=hold, gap_frames=gap, mischief_every=0, now=wall
    )
    seen = []
    for i in range(2 * (hold + gap) + gap):
        seen.append(texts(decoder, queue.next_frame(i)))
        wall.t += 1
    pattern = [bool(found) for found in seen]
    assert pattern == [False] * gap + [True] * hold + [False] * gap + [True] * hold + [False] * gap
    assert all(len(found) <= 1 for found in seen)
    first, second = seen[gap], seen[gap + hold + gap]
    assert seen[gap + 1] == first  # the same phone stays in view for hold_frames
    assert seen[2 * gap + hold + 1] == second
    assert first != second  # the next visitor shows a new code
    assert queue.visitors == 2
    for found, shown_at in ((first, NOW + gap), (second, NOW + 2 * gap + hold)):
        code = Presentation.from_text(found[0])
        assert code.timestamp == int(shown_at)
        code.verify([ISSUER.public_key()], now=shown_at)


def test_same_seed_gives_the_same_frames(crowd: list[Wallet]) -> None:
    wall = Wall()
    one = VisitorQueue(crowd, seed=5, hold_frames=1, gap_frames=1, now=wall)
    two = VisitorQueue(crowd, seed=5, hold_frames=1, gap_frames=1, now=wall)
    for i in range(4):
        assert np.array_equal(one.next_frame(i), two.next_frame(i))


def test_mischief_visitors_are_refused_at_the_door(crowd: list[Wallet], decoder: Decoder) -> None:
    wall = Wall()
    queue = VisitorQueue(crowd, seed=3, hold_frames=1, gap_frames=0, mischief_every=2, now=wall)
    verifier = DoorVerifier([ISSUER.public_key()], now=wall)
    answers = []
    for i in range(6):
        found = texts(decoder, queue.next_frame(i))
        assert len(found) == 1, i
        verdict = verifier.check(found[0])
        assert verdict is not None
        answers.append((verdict.outcome, verdict.reason))
        wall.t += 5  # past the debounce, well inside the code window
    assert queue.visitors == 6
    assert answers == [
        (Outcome.ACCEPTED, ""),
        (Outcome.REFUSED, "malformed"),  # visitor 2: random text after the prefix
        (Outcome.ACCEPTED, ""),
        (Outcome.REFUSED, "unknown_key"),  # visitor 4: a stranger's issuer
        (Outcome.ACCEPTED, ""),
        (Outcome.REFUSED, "expired"),  # visitor 6: a two-minute-old code
    ]
    assert verifier.refusals == {"malformed": 1, "unknown_key": 1, "expired": 1}


def test_default_mischief_rate(crowd: list[Wallet], decoder: Decoder) -> None:
    wall = Wall()
    queue = VisitorQueue(crowd, seed=2, hold_frames=1, gap_frames=0, now=wall)
    verifier = DoorVerifier([ISSUER.public_key()], now=wall)
    outcomes = []
    for i in range(14):
        (text,) = texts(decoder, queue.next_frame(i))
        outcomes.append(verifier.check(text).outcome)
        wall.t += 5
    refused_at = [i + 1 for i, o in enumerate(outcomes) if o is Outcome.REFUSED]
    assert refused_at == [2, 9]
