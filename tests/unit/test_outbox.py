"""The durable outbox (kiosk.outbox): sequence numbers, durability, delivery bookkeeping."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from kiosk.outbox import RESEND_DOUBLINGS, Outbox, OutboxStats
from protocol.receipt import Receipt, ReceiptEntry, parse_receipt, sign_receipt
from tests.unit.wire_checks import seeded

LEDGER = seeded("outbox-ledger")
KIOSK = "kiosk-1"
T0 = 1_764_000_000_000  # ms
RESEND = 10_000


def cid(seq: int) -> bytes:
    """A deterministic 16-byte check-in id for ``seq``."""
    return hashlib.sha256(f"checkin-{seq}".encode()).digest()[:16]


def builder(calls: list[int] | None = None):
    def build(seq: int) -> tuple[bytes, bytes]:
        if calls is not None:
            calls.append(seq)
        return cid(seq), b"wire-%d" % seq

    return build


def receipt(entries: list[tuple[bytes, int, int]], block: int = 7) -> Receipt:
    wire = sign_receipt(
        LEDGER,
        kiosk_id=KIOSK,
        entries=[ReceiptEntry(c, s, leaf) for c, s, leaf in entries],
        block=block,
        tree_size=100,
        root=bytes(32),
        issued_ms=T0,
    )
    parsed = parse_receipt(wire)
    parsed.verify(LEDGER.public_key())
    return parsed


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.sqlite"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox(path)
    yield box
    box.close()


def seqs(rows) -> list[int]:
    return [row.seq for row in rows]


# -- sequence numbers ---------------------------------------------------------------------


def test_empty_outbox_stats(outbox: Outbox) -> None:
    assert outbox.stats() == OutboxStats(
        pending=0, delivered=0, rejected=0, oldest_pending_ms=None, next_seq=1
    )


def test_sequence_starts_at_one_and_increases(outbox: Outbox) -> None:
    calls: list[int] = []
    assert [outbox.append(builder(calls), T0 + i) for i in range(5)] == [1, 2, 3, 4, 5]
    assert calls == [1, 2, 3, 4, 5]
    rows = list(outbox.Row.select().order_by(outbox.Row.seq))
    assert [(r.seq, bytes(r.checkin_id), bytes(r.wire), r.created_ms) for r in rows] == [
        (i + 1, cid(i + 1), b"wire-%d" % (i + 1), T0 + i) for i in range(5)
    ]
    assert all(r.attempts == 0 and r.last_sent_ms is None for r in rows)
    assert outbox.stats().next_seq == 6


def test_sequence_survives_close_and_reopen(path: Path) -> None:
    first = Outbox(path)
    assert [first.append(builder(), T0), first.append(builder(), T0)] == [1, 2]
    first.close()
    first.close()  # idempotent

    second = Outbox(path)
    try:
        assert second.stats() == OutboxStats(
            pending=2, delivered=0, rejected=0, oldest_pending_ms=T0, next_seq=3
        )
        assert second.append(builder(), T0 + 5) == 3
        assert seqs(second.due(T0 + 5, RESEND, 10)) == [1, 2, 3]
    finally:
        second.close()


def test_sequence_survives_delivery_of_every_row(path: Path) -> None:
    box = Outbox(path)
    box.append(builder(), T0)
    assert box.mark_delivered(receipt([(cid(1), 1, 0)]), T0 + 1) == 1
    box.close()
    box = Outbox(path)
    try:
        assert box.append(builder(), T0 + 2) == 2
    finally:
        box.close()


@pytest.mark.parametrize("rows_before", [0, 2])
def test_failing_build_leaves_no_row_and_keeps_the_sequence_number(
    outbox: Outbox, rows_before: int
) -> None:
    for _ in range(rows_before):
        outbox.append(builder(), T0)
    before = outbox.stats()
    seen: list[int] = []

    def explode(seq: int) -> tuple[bytes, bytes]:
        seen.append(seq)
        raise RuntimeError("power cut while signing")

    with pytest.raises(RuntimeError, match="power cut"):
        outbox.append(explode, T0 + 1)
    assert seen == [rows_before + 1]
    assert outbox.stats() == before
    assert outbox.Row.select().count() == rows_before
    assert outbox.append(builder(), T0 + 2) == rows_before + 1


def test_duplicate_checkin_id_is_rolled_back_and_keeps_the_sequence_number(
    outbox: Outbox,
) -> None:
    assert outbox.append(builder(), T0) == 1
    with pytest.raises(peewee.IntegrityError):
        outbox.append(lambda seq: (cid(1), b"again"), T0 + 1)
    assert outbox.stats().next_seq == 2
    assert outbox.append(builder(), T0 + 2) == 2


# -- durability settings ------------------------------------------------------------------


def test_connection_uses_wal_and_full_synchronous(outbox: Outbox, path: Path) -> None:
    assert outbox.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert outbox.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert outbox.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10_000
    outbox.append(builder(), T0)
    assert path.with_name(path.name + "-wal").exists()


def test_reopened_connection_has_the_same_pragmas(path: Path) -> None:
    Outbox(path).close()
    box = Outbox(path)
    try:
        assert box.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert box.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        box.close()


def test_appended_row_is_committed_when_append_returns(outbox: Outbox, path: Path) -> None:
    outbox.append(builder(), T0)
    other = sqlite3.connect(path)  # an independent reader sees the committed row at once
    try:
        rows = other.execute("SELECT seq, checkin_id, wire FROM outbox").fetchall()
        counter = other.execute("SELECT value FROM counter WHERE name = 'next_seq'").fetchone()
    finally:
        other.close()
    assert rows == [(1, cid(1), b"wire-1")]
    assert counter == (2,)


# -- sending ------------------------------------------------------------------------------


def test_due_in_flight_mark_sent_and_resend(outbox: Outbox) -> None:
    for _ in range(3):
        outbox.append(builder(), T0)
    assert seqs(outbox.due(T0, RESEND, 10)) == [1, 2, 3]
    assert seqs(outbox.due(T0, RESEND, 2)) == [1, 2]
    assert outbox.in_flight(T0, RESEND) == 0

    outbox.mark_sent([1, 2], T0 + 100)
    assert seqs(outbox.due(T0 + 100, RESEND, 10)) == [3]
    assert outbox.in_flight(T0 + 100, RESEND) == 2
    # just before the resend timeout: still in flight, not due
    assert seqs(outbox.due(T0 + 100 + RESEND - 1, RESEND, 10)) == [3]
    assert outbox.in_flight(T0 + 100 + RESEND - 1, RESEND) == 2
    # at the resend timeout: due again (after the never-sent row), no longer in flight
    assert seqs(outbox.due(T0 + 100 + RESEND, RESEND, 10)) == [3, 1, 2]
    assert outbox.in_flight(T0 + 100 + RESEND, RESEND) == 0

    outbox.mark_sent([1], T0 + 100 + RESEND)
    attempts = {r.seq: (r.attempts, r.last_sent_ms) for r in outbox.Row.select()}
    assert attempts == {1: (2, T0 + 100 + RESEND), 2: (1, T0 + 100), 3: (0, None)}


def test_mark_sent_with_nothing_changes_nothing(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.mark_sent([], T0)
    outbox.mark_sent(iter(()), T0)
    assert seqs(outbox.due(T0, RESEND, 10)) == [1]
    assert outbox.Row.get().attempts == 0


def test_delivered_rows_are_neither_due_nor_in_flight(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.append(builder(), T0)
    outbox.mark_sent([1, 2], T0)
    assert outbox.mark_delivered(receipt([(cid(1), 1, 40)]), T0 + 1) == 1
    assert outbox.in_flight(T0 + 1, RESEND) == 1
    assert seqs(outbox.due(T0 + RESEND * 5, RESEND, 10)) == [2]


# -- receipts -----------------------------------------------------------------------------


def test_mark_delivered_marks_matching_rows_once(outbox: Outbox) -> None:
    for _ in range(3):
        outbox.append(builder(), T0)
    sealed = receipt([(cid(1), 1, 40), (cid(3), 3, 41)], block=9)
    assert outbox.mark_delivered(sealed, T0 + 500) == 2
    rows = {r.seq: (r.delivered_ms, r.block, r.leaf_index) for r in outbox.Row.select()}
    assert rows == {1: (T0 + 500, 9, 40), 2: (None, None, None), 3: (T0 + 500, 9, 41)}
    assert outbox.mark_delivered(sealed, T0 + 900) == 0
    assert outbox.Row.get_by_id(1).delivered_ms == T0 + 500  # first delivery time kept


def test_receipt_entry_with_wrong_checkin_id_marks_nothing(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.append(builder(), T0)
    assert outbox.mark_delivered(receipt([(cid(2), 1, 0)]), T0 + 1) == 0
    assert outbox.mark_delivered(receipt([(bytes(16), 2, 0)]), T0 + 1) == 0
    assert outbox.mark_delivered(receipt([(cid(1), 5, 0)]), T0 + 1) == 0  # no such seq
    assert outbox.stats().pending == 2
    assert outbox.Row.select().where(outbox.Row.delivered_ms.is_null(False)).count() == 0


def test_partly_matching_receipt_marks_only_the_match(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.append(builder(), T0)
    assert outbox.mark_delivered(receipt([(cid(1), 1, 3), (cid(1), 2, 4)]), T0 + 1) == 1
    assert outbox.stats().pending == 1
    assert outbox.Row.get_by_id(2).delivered_ms is None


def test_stats_figures(outbox: Outbox) -> None:
    outbox.append(builder(), T0 + 300)
    outbox.append(builder(), T0 + 100)  # created_ms need not follow seq
    outbox.append(builder(), T0 + 200)
    assert outbox.stats() == OutboxStats(
        pending=3, delivered=0, rejected=0, oldest_pending_ms=T0 + 100, next_seq=4
    )
    outbox.mark_delivered(receipt([(cid(2), 2, 0)]), T0 + 400)
    assert outbox.stats() == OutboxStats(
        pending=2, delivered=1, rejected=0, oldest_pending_ms=T0 + 200, next_seq=4
    )
    outbox.mark_delivered(receipt([(cid(1), 1, 1), (cid(3), 3, 2)]), T0 + 500)
    assert outbox.stats() == OutboxStats(
        pending=0, delivered=3, rejected=0, oldest_pending_ms=None, next_seq=4
    )


# -- refusals -----------------------------------------------------------------------------


def refusal(entries: list[tuple[bytes, int, str]]):
    from protocol.receipt import RefusalEntry, parse_refusal, sign_refusal

    wire = sign_refusal(
        LEDGER,
        kiosk_id=KIOSK,
        entries=[RefusalEntry(c, s, reason) for c, s, reason in entries],
        issued_ms=T0,
    )
    parsed = parse_refusal(wire)
    parsed.verify(LEDGER.public_key())
    return parsed


def test_mark_rejected_marks_only_matching_waiting_rows(outbox: Outbox) -> None:
    for _ in range(4):
        outbox.append(builder(), T0)
    refused = refusal(
        [
            (cid(1), 1, "replayed"),
            (cid(3), 3, "venue_mismatch"),
            (cid(2), 4, "expired"),  # seq 4 holds another id: no match
            (bytes(16), 2, "expired"),  # seq 2 with a foreign id: no match
            (cid(9), 9, "expired"),  # no such row
        ]
    )
    assert outbox.mark_rejected(refused, T0 + 50) == 2
    marks = {r.seq: (r.rejected_ms, r.rejected_reason) for r in outbox.Row.select()}
    assert marks == {
        1: (T0 + 50, "replayed"),
        2: (None, None),
        3: (T0 + 50, "venue_mismatch"),
        4: (None, None),
    }
    # The same refusal again changes nothing, not even the time.
    assert outbox.mark_rejected(refused, T0 + 90) == 0
    assert outbox.Row.get_by_id(1).rejected_ms == T0 + 50


def test_rejected_rows_keep_their_record(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.mark_rejected(refusal([(cid(1), 1, "replayed")]), T0 + 1)
    row = outbox.Row.get_by_id(1)
    assert bytes(row.wire) == b"wire-1"  # kept for the operator
    assert (row.delivered_ms, row.block, row.leaf_index) == (None, None, None)


def test_rejected_rows_are_neither_due_nor_in_flight_nor_pending(outbox: Outbox) -> None:
    for _ in range(3):
        outbox.append(builder(), T0)
    outbox.mark_sent([1, 2], T0)
    assert outbox.in_flight(T0, RESEND) == 2
    assert outbox.mark_rejected(refusal([(cid(1), 1, "replayed"), (cid(3), 3, "expired")]), T0) == 2
    assert outbox.in_flight(T0, RESEND) == 1
    assert seqs(outbox.due(T0, RESEND, 10)) == []  # 2 is in flight, 1 and 3 are rejected
    assert seqs(outbox.due(T0 + RESEND * 10, RESEND, 10)) == [2]
    assert outbox.stats() == OutboxStats(
        pending=1, delivered=0, rejected=2, oldest_pending_ms=T0, next_seq=4
    )


def test_stats_count_rejected_apart_from_pending_and_delivered(outbox: Outbox) -> None:
    outbox.append(builder(), T0 + 10)
    outbox.append(builder(), T0 + 20)
    outbox.append(builder(), T0 + 30)
    outbox.mark_rejected(refusal([(cid(1), 1, "replayed")]), T0 + 40)
    outbox.mark_delivered(receipt([(cid(2), 2, 0)]), T0 + 40)
    assert outbox.stats() == OutboxStats(
        pending=1, delivered=1, rejected=1, oldest_pending_ms=T0 + 30, next_seq=4
    )


def test_delivered_row_cannot_be_rejected_afterwards(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    assert outbox.mark_delivered(receipt([(cid(1), 1, 8)]), T0 + 1) == 1
    assert outbox.mark_rejected(refusal([(cid(1), 1, "replayed")]), T0 + 2) == 0
    row = outbox.Row.get_by_id(1)
    assert (row.rejected_ms, row.rejected_reason) == (None, None)
    assert outbox.stats().rejected == 0 and outbox.stats().delivered == 1


def test_rejected_row_cannot_be_delivered_afterwards(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    assert outbox.mark_rejected(refusal([(cid(1), 1, "replayed")]), T0 + 1) == 1
    assert outbox.mark_delivered(receipt([(cid(1), 1, 8)]), T0 + 2) == 0
    row = outbox.Row.get_by_id(1)
    assert (row.delivered_ms, row.block, row.leaf_index) == (None, None, None)
    assert outbox.stats() == OutboxStats(
        pending=0, delivered=0, rejected=1, oldest_pending_ms=None, next_seq=2
    )


def test_mark_delivered_erases_the_record_but_keeps_the_bookkeeping(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    outbox.append(builder(), T0)
    outbox.mark_sent([1], T0 + 5)
    assert outbox.mark_delivered(receipt([(cid(1), 1, 77)], block=12), T0 + 9) == 1
    row = outbox.Row.get_by_id(1)
    assert bytes(row.wire) == b""
    assert (row.seq, bytes(row.checkin_id), row.block, row.leaf_index) == (1, cid(1), 12, 77)
    assert (row.created_ms, row.attempts, row.last_sent_ms, row.delivered_ms) == (
        T0,
        1,
        T0 + 5,
        T0 + 9,
    )
    assert bytes(outbox.Row.get_by_id(2).wire) == b"wire-2"  # the other row is untouched


def test_erased_record_is_empty_for_an_independent_reader(outbox: Outbox, path: Path) -> None:
    outbox.append(lambda seq: (cid(seq), b"VISITOR-PRESENTATION-%d" % seq), T0)
    outbox.mark_delivered(receipt([(cid(1), 1, 0)]), T0 + 1)
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT wire FROM outbox WHERE seq = 1").fetchone() == (b"",)
    finally:
        other.close()


def test_due_puts_never_sent_rows_first_then_sent_rows_oldest_first(outbox: Outbox) -> None:
    for _ in range(6):
        outbox.append(builder(), T0)
    outbox.mark_sent([5], T0 + 10)
    outbox.mark_sent([2], T0 + 30)
    outbox.mark_sent([3], T0 + 20)
    # never sent (1, 4, 6) by seq; then 5 (sent at +10), 3 (+20), 2 (+30)
    assert seqs(outbox.due(T0 + 30 + RESEND, RESEND, 10)) == [1, 4, 6, 5, 3, 2]
    assert seqs(outbox.due(T0 + 30 + RESEND, RESEND, 4)) == [1, 4, 6, 5]
    # only 5 and 3 are stale yet
    assert seqs(outbox.due(T0 + 20 + RESEND, RESEND, 10)) == [1, 4, 6, 5, 3]


def test_due_orders_rows_sent_at_the_same_time_by_seq(outbox: Outbox) -> None:
    for _ in range(3):
        outbox.append(builder(), T0)
    outbox.mark_sent([3, 1, 2], T0)
    assert seqs(outbox.due(T0 + RESEND, RESEND, 10)) == [1, 2, 3]


# -- pruning and meta ---------------------------------------------------------------------

HOUR = 3_600_000
DAY = 24 * HOUR


def prune(box: Outbox, now_ms: int, batch: int = 100) -> int:
    return box.prune(now_ms, delivered_after_ms=DAY, rejected_after_ms=28 * DAY, batch=batch)


def test_prune_deletes_only_rows_past_their_retention(outbox: Outbox) -> None:
    for _ in range(4):
        outbox.append(builder(), T0)
    outbox.mark_delivered(receipt([(cid(1), 1, 0)]), T0)
    outbox.mark_delivered(receipt([(cid(2), 2, 1)]), T0 + HOUR)
    outbox.mark_rejected(refusal([(cid(3), 3, "replayed")]), T0)
    assert prune(outbox, T0 + DAY - 1) == 0
    assert prune(outbox, T0 + DAY) == 1  # row 1; row 2 was delivered an hour later
    assert seqs(outbox.Row.select().order_by(outbox.Row.seq)) == [2, 3, 4]
    assert prune(outbox, T0 + 27 * DAY) == 1  # row 2
    assert prune(outbox, T0 + 28 * DAY) == 1  # the refused row after 28 days
    assert prune(outbox, T0 + 1000 * DAY) == 0  # the waiting row is never pruned
    assert seqs(outbox.Row.select()) == [4]
    assert outbox.stats().pending == 1


def test_prune_works_in_batches_and_keeps_the_sequence(path: Path) -> None:
    box = Outbox(path)
    for _ in range(7):
        box.append(builder(), T0)
    box.mark_delivered(receipt([(cid(i), i, i) for i in range(1, 8)]), T0)
    assert [prune(box, T0 + DAY, batch=3) for _ in range(4)] == [3, 3, 1, 0]
    assert box.Row.select().count() == 0
    box.close()
    box = Outbox(path)
    try:
        assert box.append(builder(), T0) == 8  # a pruned seq is never used again
    finally:
        box.close()


def test_meta_values_survive_reopen(path: Path) -> None:
    box = Outbox(path)
    assert box.get_meta("kiosk_config") is None
    box.set_meta("kiosk_config", b"\x00config")
    box.set_meta("kiosk_config", b"\x00newer")
    box.close()
    box = Outbox(path)
    try:
        assert box.get_meta("kiosk_config") == b"\x00newer"
    finally:
        box.close()


def test_last_receipt_time_is_recorded_and_survives_reopen(path: Path) -> None:
    box = Outbox(path)
    assert box.last_receipt_ms() is None
    box.append(builder(), T0)
    box.append(builder(), T0)
    box.mark_delivered(receipt([(cid(1), 1, 0)]), T0 + 5)
    assert box.last_receipt_ms() == T0 + 5
    box.mark_rejected(refusal([(cid(2), 2, "expired")]), T0 + 9)
    assert box.last_receipt_ms() == T0 + 9
    box.mark_delivered(receipt([(cid(1), 1, 0)]), T0 + 20)  # repeated: still a receipt
    assert box.last_receipt_ms() == T0 + 20
    box.close()
    other = sqlite3.connect(path)  # what `kiosk status` can read without the firmware
    try:
        row = other.execute("SELECT value FROM meta WHERE key = 'last_receipt_ms'").fetchone()
    finally:
        other.close()
    assert row == (str(T0 + 20).encode(),)


def test_pending_counts_waiting_rows(outbox: Outbox) -> None:
    for _ in range(3):
        outbox.append(builder(), T0)
    outbox.mark_delivered(receipt([(cid(1), 1, 0)]), T0)
    outbox.mark_rejected(refusal([(cid(2), 2, "expired")]), T0)
    assert outbox.pending() == outbox.stats().pending == 1


def test_a_full_database_is_reported_as_full_and_keeps_its_rows(outbox: Outbox) -> None:
    from kiosk.outbox import OutboxFull
    from tests.unit.sqlite_full import fill_to_the_brim, make_room

    assert outbox.append(builder(), T0) == 1
    filled = fill_to_the_brim(outbox)  # SQLite reports SQLITE_FULL; the disk itself has room
    stored = seqs(outbox.Row.select().order_by(outbox.Row.seq))
    assert stored == list(range(1, filled + 2))
    with pytest.raises(OutboxFull, match="disk full") as full:
        outbox.append(lambda seq: (cid(seq), b"x" * 300), T0)
    assert "rollback" not in str(full.value)
    assert seqs(outbox.Row.select().order_by(outbox.Row.seq)) == stored  # nothing lost
    assert outbox.next_seq() == filled + 2  # and no number used
    make_room(outbox)
    assert outbox.append(builder(), T0) == filled + 2
    assert seqs(outbox.Row.select().order_by(outbox.Row.seq)) == [*stored, filled + 2]


def test_resends_back_off_while_the_row_stays_unanswered(outbox: Outbox) -> None:
    outbox.append(builder(), T0)
    sent_at = T0
    outbox.mark_sent([1], sent_at)
    waits = []
    for attempt in range(1, 6):  # after send number ``attempt``
        wait = RESEND << min(attempt - 1, RESEND_DOUBLINGS)
        assert seqs(outbox.due(sent_at + wait - 1, RESEND, 10)) == []
        assert outbox.in_flight(sent_at + wait - 1, RESEND) == 1
        assert seqs(outbox.due(sent_at + wait, RESEND, 10)) == [1]
        assert outbox.in_flight(sent_at + wait, RESEND) == 0
        sent_at += wait
        outbox.mark_sent([1], sent_at)
        waits.append(wait // RESEND)
    assert waits == [1, 2, 4, 8, 8]
