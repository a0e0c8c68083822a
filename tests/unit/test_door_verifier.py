"""DoorVerifier: offline verification at the door, debounce, repeats and replays."""

from __future__ import annotations

import dataclasses
import hashlib

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.verifier import DoorVerifier, Outcome, Verdict
from protocol.presentation import MAX_TEXT, PREFIX, CodeType, Presentation
from simulator.visitors import Wallet, enrol_visitor
from tests.unit.wire_checks import seeded


def _timeless(verdict: Verdict | None) -> Verdict | None:
    """The verdict without its check time (asserted on its own where it matters)."""
    return None if verdict is None else dataclasses.replace(verdict, checked_at=0.0)


ISSUER = seeded("door-verifier-issuer")
STRANGER_ISSUER = seeded("door-verifier-stranger")
NOW = 1_764_000_000.0
WINDOW = 30
SKEW = 5
DEBOUNCE = 3.0
REPEAT_MINUTES = 10.0
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
REASONS = {
    "malformed",
    "truncated",
    "oversize",
    "unsupported_version",
    "wrong_type",
    "bad_signature",
    "unknown_key",
    "expired",
    "future",
    "replayed",
    "revoked",
    "diagnostic_code",
    "card_lifetime",
    "card_repeat",
}


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_verifier(clock: FakeClock, **overrides: float) -> DoorVerifier:
    options = {
        "window": WINDOW,
        "skew": SKEW,
        "repeat_minutes": REPEAT_MINUTES,
        "debounce_s": DEBOUNCE,
    }
    options.update(overrides)
    return DoorVerifier([ISSUER.public_key()], now=clock, **options)


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return enrol_visitor(ISSUER, NOW)


@pytest.fixture(scope="module")
def other_wallet() -> Wallet:
    return enrol_visitor(ISSUER, NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(clock: FakeClock) -> DoorVerifier:
    return make_verifier(clock)


def refused(verdict: Verdict | None) -> str:
    """The refusal reason, after checking that the verdict is a refusal."""
    assert verdict is not None
    assert verdict.outcome is Outcome.REFUSED, verdict
    assert verdict.presentation is None
    assert verdict.detail
    return verdict.reason


# -- accepting, debounce, repeats and replays ---------------------------------------------


def test_fresh_code_is_accepted(verifier: DoorVerifier, wallet: Wallet) -> None:
    presentation = wallet.show(NOW)
    verdict = verifier.check(presentation.to_text())
    assert _timeless(verdict) == Verdict(Outcome.ACCEPTED, presentation)
    assert verifier.refusals == {}


def test_same_text_within_debounce_gets_no_answer(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet
) -> None:
    text = wallet.show(NOW).to_text()
    assert verifier.check(text).outcome is Outcome.ACCEPTED
    assert verifier.check(text) is None
    clock.t += DEBOUNCE - 0.1
    assert verifier.check(text) is None


def test_debounce_is_per_text(verifier: DoorVerifier, wallet: Wallet, other_wallet: Wallet) -> None:
    assert verifier.check(wallet.show(NOW).to_text()).outcome is Outcome.ACCEPTED
    assert verifier.check(other_wallet.show(NOW).to_text()).outcome is Outcome.ACCEPTED


def test_refused_text_within_debounce_is_answered_and_counted_once(
    verifier: DoorVerifier, clock: FakeClock
) -> None:
    assert refused(verifier.check("hello")) == "wrong_type"
    clock.t += 1
    assert verifier.check("hello") is None
    assert verifier.refusals == {"wrong_type": 1}
    clock.t += DEBOUNCE
    assert refused(verifier.check("hello")) == "wrong_type"
    assert verifier.refusals == {"wrong_type": 2}


def test_same_code_after_debounce_without_checkin_is_a_replay(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet
) -> None:
    text = wallet.show(NOW).to_text()
    assert verifier.check(text).outcome is Outcome.ACCEPTED
    clock.t += DEBOUNCE + 0.5
    assert refused(verifier.check(text)) == "replayed"
    assert verifier.refusals == {"replayed": 1}


def test_same_code_after_debounce_once_checked_in_is_already(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet
) -> None:
    presentation = wallet.show(NOW)
    verdict = verifier.check(presentation.to_text())
    assert verdict.outcome is Outcome.ACCEPTED
    verifier.remember_checked_in(verdict.presentation)
    clock.t += DEBOUNCE + 0.5
    assert _timeless(verifier.check(presentation.to_text())) == Verdict(
        Outcome.ALREADY, presentation
    )
    assert verifier.refusals == {}


def test_new_code_from_checked_in_visitor_is_already_until_repeat_minutes(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet, other_wallet: Wallet
) -> None:
    first = verifier.check(wallet.show(NOW).to_text())
    assert first.outcome is Outcome.ACCEPTED
    verifier.remember_checked_in(first.presentation)

    clock.t = NOW + 60
    again = wallet.show(clock.t)
    assert _timeless(verifier.check(again.to_text())) == Verdict(Outcome.ALREADY, again)

    # another visitor is not affected
    assert verifier.check(other_wallet.show(clock.t).to_text()).outcome is Outcome.ACCEPTED

    clock.t = NOW + REPEAT_MINUTES * 60 - 1
    assert verifier.check(wallet.show(clock.t).to_text()).outcome is Outcome.ALREADY

    clock.t = NOW + REPEAT_MINUTES * 60 + 1
    later = wallet.show(clock.t)
    assert _timeless(verifier.check(later.to_text())) == Verdict(Outcome.ACCEPTED, later)
    assert verifier.refusals == {}


def test_new_code_without_remember_is_accepted_again(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet
) -> None:
    assert verifier.check(wallet.show(NOW).to_text()).outcome is Outcome.ACCEPTED
    clock.t += 5
    assert verifier.check(wallet.show(clock.t).to_text()).outcome is Outcome.ACCEPTED


def test_replay_is_refused_for_as_long_as_the_code_is_valid(wallet: Wallet) -> None:
    clock = FakeClock()
    verifier = make_verifier(clock, repeat_minutes=0)
    text = wallet.show(NOW).to_text()
    assert verifier.check(text).outcome is Outcome.ACCEPTED
    for offset in (DEBOUNCE + 1, 20, WINDOW + 1, WINDOW + SKEW + 1):
        clock.t = NOW + offset
        assert refused(verifier.check(text)) == "replayed", offset
    clock.t = NOW + WINDOW + 2 * SKEW + 1  # forgotten, and expired by now
    assert refused(verifier.check(text)) == "expired"
    assert verifier.refusals == {"replayed": 4, "expired": 1}


def test_replay_at_the_last_valid_instant_is_refused(wallet: Wallet) -> None:
    clock = FakeClock()
    verifier = make_verifier(clock, repeat_minutes=0)
    text = wallet.show(NOW + SKEW).to_text()  # the most future-dated code still accepted
    assert verifier.check(text).outcome is Outcome.ACCEPTED
    clock.t = NOW + WINDOW + 2 * SKEW  # still valid: timestamp == now - window - skew
    assert refused(verifier.check(text)) == "replayed"


# -- refusals -----------------------------------------------------------------------------


def _tampered_signature(presentation: Presentation) -> str:
    sig = bytes([presentation.signature[0] ^ 0x01]) + presentation.signature[1:]
    forged = Presentation(
        presentation.code_type, presentation.credential, presentation.timestamp, sig
    )
    return forged.to_text()


def _tampered_timestamp(presentation: Presentation) -> str:
    forged = Presentation(
        presentation.code_type,
        presentation.credential,
        presentation.timestamp - 1,
        presentation.signature,
    )
    return forged.to_text()


def _truncated(presentation: Presentation) -> str:
    body = presentation.to_text()[len(PREFIX) :]
    return PREFIX + body[:150]  # whole Base45 groups: 100 bytes of a 195-byte CBOR array


def _random_bytes() -> str:
    noise = hashlib.sha256(b"not a presentation").digest() * 3
    return PREFIX + base45.b45encode(noise).decode("ascii")


CASES = {
    "garbage": (lambda w: "hello", "wrong_type"),
    "empty": (lambda w: "", "wrong_type"),
    "wrong prefix": (lambda w: "SC2:" + w.show(NOW).to_text()[4:], "wrong_type"),
    "lowercase prefix": (lambda w: "sc1:" + w.show(NOW).to_text()[4:], "wrong_type"),
    "truncated base45": (lambda w: _truncated(w.show(NOW)), "truncated"),
    "bad base45 length": (lambda w: w.show(NOW).to_text()[:-1], "malformed"),
    "not base45": (lambda w: PREFIX + "abc", "malformed"),
    "random bytes": (lambda w: _random_bytes(), "malformed"),
    "empty payload": (lambda w: PREFIX, "truncated"),
    "oversized": (lambda w: PREFIX + "0" * MAX_TEXT, "oversize"),
    "expired": (lambda w: w.show(NOW - WINDOW - SKEW - 1).to_text(), "expired"),
    "future": (lambda w: w.show(NOW + SKEW + 1).to_text(), "future"),
    "unknown issuer": (
        lambda w: enrol_visitor(STRANGER_ISSUER, NOW).show(NOW).to_text(),
        "unknown_key",
    ),
    "forged signature": (lambda w: _tampered_signature(w.show(NOW)), "bad_signature"),
    "tampered timestamp": (lambda w: _tampered_timestamp(w.show(NOW)), "bad_signature"),
    "diagnostic code": (
        lambda w: w.show(NOW, CodeType.DIAGNOSTIC).to_text(),
        "diagnostic_code",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusals_name_their_reason(verifier: DoorVerifier, wallet: Wallet, case: str) -> None:
    make_text, reason = CASES[case]
    assert refused(verifier.check(make_text(wallet))) == reason
    assert verifier.refusals == {reason: 1}


def test_window_edges_are_inclusive(wallet: Wallet) -> None:
    for timestamp in (NOW - WINDOW - SKEW, NOW + SKEW):
        verifier = make_verifier(FakeClock())
        assert verifier.check(wallet.show(timestamp).to_text()).outcome is Outcome.ACCEPTED


def test_credential_outside_its_validity_is_refused(wallet: Wallet) -> None:
    late = wallet.credential.not_after + SKEW + 1
    verifier = make_verifier(FakeClock(late))
    assert refused(verifier.check(wallet.show(late).to_text())) == "expired"


def test_refusal_counter_counts_each_reason(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet
) -> None:
    texts = [
        "hello",
        "SC2:hello",
        PREFIX + "abc",
        PREFIX + "0" * MAX_TEXT,
        wallet.show(NOW - 100).to_text(),
        wallet.show(NOW - 200).to_text(),
        wallet.show(NOW - 300).to_text(),
        wallet.show(NOW + 60).to_text(),
        _tampered_signature(wallet.show(NOW)),
        enrol_visitor(STRANGER_ISSUER, NOW).show(NOW).to_text(),
    ]
    for text in texts:
        refused(verifier.check(text))
    accepted = wallet.show(NOW).to_text()
    assert verifier.check(accepted).outcome is Outcome.ACCEPTED
    clock.t += DEBOUNCE
    refused(verifier.check(accepted))
    assert verifier.refusals == {
        "wrong_type": 2,
        "malformed": 1,
        "oversize": 1,
        "expired": 3,
        "future": 1,
        "bad_signature": 1,
        "unknown_key": 1,
        "replayed": 1,
    }


def test_issuer_key_rotation_accepts_either_issuer(wallet: Wallet) -> None:
    stranger = enrol_visitor(STRANGER_ISSUER, NOW)
    verifier = DoorVerifier([STRANGER_ISSUER.public_key(), ISSUER.public_key()], now=FakeClock())
    assert verifier.check(wallet.show(NOW).to_text()).outcome is Outcome.ACCEPTED
    assert verifier.check(stranger.show(NOW).to_text()).outcome is Outcome.ACCEPTED


# -- never raises -------------------------------------------------------------------------


def _check_never_raises(verifier: DoorVerifier, text: str) -> None:
    verdict = verifier.check(text)
    if verdict is not None:
        assert verdict.outcome is Outcome.REFUSED
        assert verdict.reason in REASONS


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_check_never_raises_on_arbitrary_text(text: str) -> None:
    _check_never_raises(make_verifier(FakeClock()), text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=BASE45_ALPHABET, max_size=400))
def test_check_never_raises_on_prefixed_base45(body: str) -> None:
    _check_never_raises(make_verifier(FakeClock()), PREFIX + body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_check_never_raises_on_arbitrary_payload_bytes(payload: bytes) -> None:
    _check_never_raises(make_verifier(FakeClock()), PREFIX + base45.b45encode(payload).decode())


_VALID = enrol_visitor(ISSUER, NOW).show(NOW).to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.integers(1, 255))
def test_check_refuses_every_single_byte_change(index: int, flip: int) -> None:
    mutated = bytearray(_VALID)
    mutated[index] ^= flip
    text = PREFIX + base45.b45encode(bytes(mutated)).decode()
    verdict = make_verifier(FakeClock()).check(text)
    assert verdict is not None
    assert verdict.outcome is Outcome.REFUSED
    assert verdict.reason in REASONS


def test_verdict_carries_the_time_of_the_check(
    clock: FakeClock, verifier: DoorVerifier, wallet: Wallet
) -> None:
    verdict = verifier.check(wallet.show(clock.t).to_text())
    assert verdict is not None and verdict.checked_at == clock.t


# -- revocation ---------------------------------------------------------------------------


def test_revoked_credential_is_refused_and_others_are_not(
    verifier: DoorVerifier, clock: FakeClock, wallet: Wallet, other_wallet: Wallet
) -> None:
    verifier.set_revoked(frozenset({wallet.credential.credential_id}))
    verdict = verifier.check(wallet.show(NOW).to_text())
    assert refused(verdict) == "revoked"
    assert verifier.refusals == {"revoked": 1}
    assert verifier.check(other_wallet.show(NOW).to_text()).outcome is Outcome.ACCEPTED
    verifier.set_revoked(frozenset())
    clock.t += 1
    assert verifier.check(wallet.show(clock.t).to_text()).outcome is Outcome.ACCEPTED


def test_forged_code_of_a_revoked_credential_is_a_bad_signature(
    verifier: DoorVerifier, wallet: Wallet
) -> None:
    verifier.set_revoked(frozenset({wallet.credential.credential_id}))
    assert refused(verifier.check(_tampered_signature(wallet.show(NOW)))) == "bad_signature"
