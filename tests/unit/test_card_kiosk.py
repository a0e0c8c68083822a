"""The door verifier with printed cards and health-official codes (kiosk.verifier)."""

from __future__ import annotations

import peewee
import pytest

from kiosk.seen_codes import SeenCodes
from kiosk.verifier import DoorVerifier, Outcome
from protocol import keys
from protocol.credential import issue_credential
from protocol.presentation import CodeType, Presentation, make_card
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("card-kiosk-issuer")
DAY = 86_400
ISSUED = 1_764_000_000
NOW = float(ISSUED + 2 * DAY)
GAP_MINUTES = 5.0


class FakeClock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def new_card(days: int = 28, issued: int = ISSUED) -> Presentation:
    key = keys.generate()
    credential = issue_credential(
        ISSUER, keys.public_bytes(key), not_before=issued, not_after=issued + days * DAY
    )
    return make_card(credential, key, timestamp=issued)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def verifier_for(clock: FakeClock, checked_in: SeenCodes | None = None) -> DoorVerifier:
    return DoorVerifier(
        [ISSUER.public_key()],
        now=clock,
        debounce_s=3.0,
        card_gap_minutes=GAP_MINUTES,
        checked_in=checked_in,
    )


def accept(verifier: DoorVerifier, text: str) -> Presentation:
    """Check ``text``, expect acceptance, and commit it as the firmware does."""
    verdict = verifier.check(text)
    assert verdict is not None and verdict.outcome is Outcome.ACCEPTED, verdict
    assert verdict.presentation is not None
    verifier.remember_checked_in(verdict.presentation)
    return verdict.presentation


def test_card_is_accepted(clock: FakeClock) -> None:
    card = new_card()
    verifier = verifier_for(clock)
    assert accept(verifier, card.to_text()).code_type == CodeType.CARD
    assert verifier.refusals == {}


def test_same_card_refused_within_the_gap_then_accepted_after(clock: FakeClock) -> None:
    card = new_card()
    verifier = verifier_for(clock)
    accept(verifier, card.to_text())
    clock.t += 4.0  # still held in view: the same showing, answered like a phone
    assert verifier.check(card.to_text()).outcome is Outcome.ALREADY
    clock.t += 60.0  # a minute later: a copy, or the card passed back
    verdict = verifier.check(card.to_text())
    assert verdict.outcome is Outcome.REFUSED
    assert verdict.reason == "card_repeat"
    assert "5 minutes" in verdict.detail
    clock.t = NOW + GAP_MINUTES * 60 - 1
    assert verifier.check(card.to_text()).reason == "card_repeat"
    assert verifier.refusals == {"card_repeat": 2}
    clock.t = NOW + GAP_MINUTES * 60 + 5  # past the gap (and the 3-s debounce)
    accept(verifier, card.to_text())


def test_two_cards_do_not_hold_each_other_up(clock: FakeClock) -> None:
    verifier = verifier_for(clock)
    accept(verifier, new_card().to_text())
    accept(verifier, new_card().to_text())


def test_card_gap_survives_a_restart_through_the_outbox_table(clock: FakeClock) -> None:
    db = peewee.SqliteDatabase(":memory:")
    seen = SeenCodes(db)
    seen.create()
    card = new_card()
    first = verifier_for(clock, seen)
    presentation = accept(first, card.to_text())
    seen.insert(first.seen_code(presentation, clock.t))
    assert first.longest_memory_s == GAP_MINUTES * 60
    # The row outlives a prune with the verifier's longest memory (not the 41-s code TTL).
    assert seen.prune(int(clock.t * 1000), int(first.longest_memory_s * 1000)) == 0
    clock.t += 30
    restarted = verifier_for(clock, seen)
    assert restarted.check(card.to_text()).reason == "card_repeat"
    clock.t = NOW + GAP_MINUTES * 60 + 1
    accept(restarted, card.to_text())


def test_revoked_card_is_refused_as_revoked(clock: FakeClock) -> None:
    card = new_card()
    verifier = verifier_for(clock)
    verifier.set_revoked(frozenset({card.credential.credential_id}))
    verdict = verifier.check(card.to_text())
    assert verdict.outcome is Outcome.REFUSED and verdict.reason == "revoked"
    assert verifier.refusals == {"revoked": 1}


def test_expired_card_is_refused(clock: FakeClock) -> None:
    card = new_card(days=1)
    verdict = verifier_for(clock).check(card.to_text())
    assert verdict.outcome is Outcome.REFUSED and verdict.reason == "expired"


def test_card_not_yet_valid_is_refused(clock: FakeClock) -> None:
    card = new_card(issued=int(NOW) + DAY)
    assert verifier_for(clock).check(card.to_text()).reason == "future"


def test_card_lasting_too_long_is_refused(clock: FakeClock) -> None:
    card = new_card(days=60)
    assert verifier_for(clock).check(card.to_text()).reason == "card_lifetime"


def test_forged_card_is_refused_and_leaves_no_gap(clock: FakeClock) -> None:
    card = new_card()
    forged = Presentation(card.code_type, card.credential, card.timestamp, bytes(64))
    verifier = verifier_for(clock)
    assert verifier.check(forged.to_text()).reason == "bad_signature"
    clock.t += 5
    accept(verifier, card.to_text())


def test_refused_card_does_not_start_the_gap(clock: FakeClock) -> None:
    """Only a committed check-in starts the gap (remember_checked_in after the commit)."""
    card = new_card()
    verifier = verifier_for(clock)
    assert verifier.check(card.to_text()).outcome is Outcome.ACCEPTED  # commit failed
    clock.t += 5
    accept(verifier, card.to_text())


def test_diagnostic_code_is_refused_with_a_reason_for_the_visitor(clock: FakeClock) -> None:
    wallet = enrol_visitor(ISSUER, NOW)
    verifier = verifier_for(clock)
    verdict = verifier.check(wallet.show(NOW, CodeType.DIAGNOSTIC).to_text())
    assert verdict.outcome is Outcome.REFUSED
    assert verdict.reason == "diagnostic_code"
    assert "health official" in verdict.detail and "check-in code" in verdict.detail
    assert verifier.refusals == {"diagnostic_code": 1}
    # The visitor then shows the right code and checks in.
    accept(verifier, wallet.show(NOW).to_text())


def test_phone_codes_are_unchanged_by_the_card_gap(clock: FakeClock) -> None:
    wallet = enrol_visitor(ISSUER, NOW)
    verifier = verifier_for(clock)
    first = accept(verifier, wallet.show(NOW).to_text())
    assert verifier.seen_code(first, clock.t).expires_ms == int((NOW + verifier.code_ttl_s) * 1000)
    clock.t += 20
    assert verifier.check(wallet.show(clock.t).to_text()).outcome is Outcome.ALREADY
