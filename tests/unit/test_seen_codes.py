"""The door's "already checked in" memory, kept in the outbox: it survives a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.outbox import Outbox
from kiosk.seen_codes import SeenCode, code_fingerprint
from kiosk.verifier import DoorVerifier, Outcome
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("seen-codes-issuer")
NOW = 1_764_000_000.0
WINDOW = 30
SKEW = 5
TTL_S = WINDOW + 2 * SKEW + 1


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox(path)
    yield box
    box.close()


def door(outbox: Outbox, clock: Clock) -> DoorVerifier:
    return DoorVerifier(
        [ISSUER.public_key()], window=WINDOW, skew=SKEW, now=clock, checked_in=outbox.seen
    )


def check_in(outbox: Outbox, verifier: DoorVerifier, text: str) -> Outcome:
    """What the firmware does: verify, commit the row with the code's fingerprint, remember."""
    verdict = verifier.check(text)
    assert verdict is not None
    if verdict.outcome is Outcome.ACCEPTED:
        assert verdict.presentation is not None
        seen = verifier.seen_code(verdict.presentation, verdict.checked_at)
        outbox.append(lambda seq: (b"%016d" % seq, b"wire"), int(NOW * 1000), seen=seen)
        verifier.remember_checked_in(verdict.presentation)
    return verdict.outcome


def test_the_same_code_after_a_restart_is_already_checked_in(path: Path) -> None:
    clock = Clock()
    text = enrol_visitor(ISSUER, NOW).show(NOW).to_text()
    first = Outbox(path)
    assert check_in(first, door(first, clock), text) is Outcome.ACCEPTED
    first.close()
    clock.t += 20  # restarted, the code still within its validity
    second = Outbox(path)
    try:
        assert check_in(second, door(second, clock), text) is Outcome.ALREADY
        assert second.next_seq() == 2  # one row, not two
    finally:
        second.close()


def test_after_its_validity_the_code_is_refused_as_expired_and_forgotten(
    outbox: Outbox,
) -> None:
    clock = Clock()
    text = enrol_visitor(ISSUER, NOW).show(NOW).to_text()
    assert check_in(outbox, door(outbox, clock), text) is Outcome.ACCEPTED
    clock.t += TTL_S + 1
    restarted = door(outbox, clock)
    verdict = restarted.check(text)
    assert verdict is not None and verdict.reason == "expired"
    assert outbox.seen.prune(int(clock.t * 1000), TTL_S * 1000) == 1


def test_only_a_fingerprint_is_kept_never_the_code(outbox: Outbox, path: Path) -> None:
    clock = Clock()
    shown = enrol_visitor(ISSUER, NOW).show(NOW)
    check_in(outbox, door(outbox, clock), shown.to_text())
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT fingerprint, expires_ms FROM seen_code").fetchall()
    assert rows == [(code_fingerprint(shown.to_bytes()), int((NOW + TTL_S) * 1000))]
    files = [path, path.with_name(path.name + "-wal")]
    stored = b"".join(f.read_bytes() for f in files if f.exists())
    assert shown.to_bytes() not in stored  # the row's wire here is a stand-in, not the code


def test_prune_bounds_the_table_by_the_validity_window(outbox: Outbox) -> None:
    now_ms = int(NOW * 1000)
    kept = SeenCode(b"k" * 32, now_ms + 10_000)
    expired = SeenCode(b"e" * 32, now_ms)
    far_ahead = SeenCode(b"f" * 32, now_ms + 10 * TTL_S * 1000)  # a clock that jumped back
    for n, seen in enumerate([kept, expired, far_ahead], start=1):
        outbox.append(lambda seq, n=n: (b"%016d" % n, b"w"), now_ms, seen=seen)
    assert outbox.seen.prune(now_ms, TTL_S * 1000) == 2
    assert outbox.seen.contains(kept.fingerprint, now_ms)
    assert not outbox.seen.contains(expired.fingerprint, now_ms)
    assert not outbox.seen.contains(far_ahead.fingerprint, now_ms)


def test_a_failed_append_remembers_no_code(outbox: Outbox) -> None:
    seen = SeenCode(b"x" * 32, int(NOW * 1000) + 1000)

    def explode(seq: int) -> tuple[bytes, bytes]:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        outbox.append(explode, int(NOW * 1000), seen=seen)
    assert not outbox.seen.contains(seen.fingerprint, int(NOW * 1000))
