"""Ledger audit: re-check every block, link, leaf, root and checkpoint from storage."""

from __future__ import annotations

import hashlib

import peewee
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aggregator.audit import LedgerError, LedgerSummary, verify_ledger
from aggregator.db import BlockEntry, CheckinEntry
from aggregator.ingest import Ingestor, Result
from aggregator.registry import enrol_kiosk
from aggregator.sequencer import Sequencer
from aggregator.vault import Vault
from protocol import keys, merkle, topics
from protocol.block import leaf_data, parse_block, sign_block
from protocol.checkin import ClockState, sign_checkin
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.encoding import decode, encode
from protocol.note import NoteSigner
from simulator.visitors import enrol_visitor
from tests.unit.wire_checks import seeded

ISSUER = seeded("audit-issuer")
LEDGER = seeded("audit-ledger")
OTHER_LEDGER = seeded("audit-other-ledger")
DEVICES = {"kiosk-a": seeded("audit-device-a"), "kiosk-b": seeded("audit-device-b")}
ORIGIN = "ledger.example/audit"
NOW = 1_764_000_000
# Blocks of 3, 3 and 2 leaves: block 0 = leaves 0-2, block 1 = 3-5, block 2 = 6-7.
SIZES = (3, 3, 2)


@pytest.fixture
def ledger(db: peewee.Database) -> list[bytes]:
    """Three sealed blocks (SIZES); returns the roots after each."""
    for kiosk, device in DEVICES.items():
        enrol_kiosk(kiosk, "venue-1", keys.public_bytes(device))
    ingestor = Ingestor([ISSUER.public_key()], now=lambda: NOW)
    sequencer = Sequencer(LEDGER, ORIGIN, batch_size=3, now=lambda: NOW + 1)
    seqs = dict.fromkeys(DEVICES, 0)
    roots = []
    made = 0
    for size in SIZES:
        for _ in range(size):
            kiosk = "kiosk-a" if made % 3 else "kiosk-b"
            seqs[kiosk] += 1
            made += 1
            wire = sign_checkin(
                DEVICES[kiosk],
                checkin_id=hashlib.sha256(b"audit-%d" % made).digest()[:16],
                kiosk_id=kiosk,
                venue_id="venue-1",
                seq=seqs[kiosk],
                door="both",
                scanned_ms=NOW * 1000,
                clock=ClockState(False, bytes(16), made),
                presentation=enrol_visitor(ISSUER, NOW - 3600).show(NOW).to_bytes(),
            )
            outcome = ingestor.handle(topics.topic(kiosk, topics.CHECKIN), wire)
            assert outcome.result is Result.STORED
        block = sequencer.seal()
        assert block is not None and block.leaf_count == size
        roots.append(block.root)
    return roots


def verify(key: Ed25519PrivateKey = LEDGER, origin: str = ORIGIN) -> LedgerSummary:
    return verify_ledger(key.public_key(), origin)


def leaf_row(index: int) -> CheckinEntry:
    return CheckinEntry.get(CheckinEntry.leaf_index == index)


def set_checkin(index: int, **fields: object) -> None:
    assert CheckinEntry.update(**fields).where(CheckinEntry.leaf_index == index).execute() == 1


def resign_header(height: int, key: Ed25519PrivateKey = LEDGER, **changes: object) -> None:
    """Replace block ``height``'s stored header by a re-signed one with ``changes``."""
    old = parse_block(bytes(BlockEntry.get_by_id(height).wire))
    fields = {
        name: getattr(old, name)
        for name in (
            "origin",
            "height",
            "prev",
            "first_leaf",
            "leaf_count",
            "tree_size",
            "root",
            "sealed_ms",
        )
    }
    fields.update(changes)
    wire = sign_block(key, **fields)
    BlockEntry.update(wire=wire, block_hash=hashlib.sha256(wire).digest()).where(
        BlockEntry.height == height
    ).execute()


# --- a good ledger ------------------------------------------------------------------------


def test_empty_ledger_verifies(db: peewee.Database) -> None:
    assert verify() == LedgerSummary(blocks=0, tree_size=0, root=merkle.EMPTY_ROOT)


def test_several_blocks_verify(ledger: list[bytes]) -> None:
    leaves = [bytes(r.leaf_hash) for r in CheckinEntry.select().order_by(CheckinEntry.leaf_index)]
    assert len(leaves) == 8
    summary = verify()
    assert summary == LedgerSummary(blocks=3, tree_size=8, root=merkle.root(leaves))
    assert summary.root == ledger[-1]


def test_progress_is_reported_per_block(ledger: list[bytes]) -> None:
    seen: list[int] = []
    verify_ledger(LEDGER.public_key(), ORIGIN, progress=seen.append)
    assert seen == [1, 2, 3]


def test_unsealed_checkins_do_not_disturb_the_audit(ledger: list[bytes]) -> None:
    row = leaf_row(7)
    CheckinEntry.update(leaf_index=None, block_height=None).where(
        CheckinEntry.id == row.id
    ).execute()
    BlockEntry.delete().where(BlockEntry.height == 2).execute()
    summary = verify()
    assert (summary.blocks, summary.tree_size, summary.root) == (2, 6, ledger[1])


# --- tampered check-ins -------------------------------------------------------------------


def test_flipped_byte_in_a_stored_commitment(ledger: list[bytes]) -> None:
    commit = bytearray(leaf_row(4).commit)
    commit[-1] ^= 0x01
    set_checkin(4, commit=bytes(commit))
    with pytest.raises(LedgerError, match=r"^block 1: leaf 4 does not match its check-in"):
        verify()


def test_corrupt_stored_commitment(ledger: list[bytes]) -> None:
    set_checkin(6, commit=b"short")
    with pytest.raises(LedgerError, match=r"^block 2: stored check-in 6 is corrupt"):
        verify()


def test_flipped_byte_in_a_stored_ciphertext(ledger: list[bytes], test_vault: Vault) -> None:
    sealed = bytearray(leaf_row(4).sealed)
    sealed[-1] ^= 0x01
    set_checkin(4, sealed=bytes(sealed))
    verify()  # the structure does not depend on the plaintext
    with pytest.raises(LedgerError, match=r"^block 1: stored check-in 4 is unreadable"):
        verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)


def test_ciphertext_of_another_checkin_does_not_open(
    ledger: list[bytes], test_vault: Vault
) -> None:
    set_checkin(5, sealed=bytes(leaf_row(3).sealed))
    with pytest.raises(LedgerError, match=r"^block 1: stored check-in 5 is unreadable"):
        verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)


def test_readable_records_match_their_commitments(ledger: list[bytes], test_vault: Vault) -> None:
    assert verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault).tree_size == 8
    row = leaf_row(2)
    other = test_vault.seal(bytes(row.checkin_id), b"not the committed record", row.day)
    set_checkin(2, sealed=other)
    with pytest.raises(LedgerError, match=r"^block 0: leaf 2 does not match its check-in"):
        verify_ledger(LEDGER.public_key(), ORIGIN, vault=test_vault)


def test_modified_leaf_hash(ledger: list[bytes]) -> None:
    set_checkin(1, leaf_hash=hashlib.sha256(b"forged").digest())
    with pytest.raises(LedgerError, match=r"^block 0: leaf 1 does not match its check-in"):
        verify()


def test_swapped_leaf_indexes(ledger: list[bytes]) -> None:
    a, b = leaf_row(3).id, leaf_row(5).id
    CheckinEntry.update(leaf_index=-1).where(CheckinEntry.id == a).execute()
    CheckinEntry.update(leaf_index=3).where(CheckinEntry.id == b).execute()
    CheckinEntry.update(leaf_index=5).where(CheckinEntry.id == a).execute()
    with pytest.raises(LedgerError, match=r"^block 1: recomputed root differs"):
        verify()


def test_deleted_checkin_in_the_middle_of_a_block(ledger: list[bytes]) -> None:
    CheckinEntry.delete().where(CheckinEntry.leaf_index == 4).execute()
    with pytest.raises(LedgerError, match=r"^block 1: leaf 4 is missing"):
        verify()


def test_deleted_last_checkin_of_a_block(ledger: list[bytes]) -> None:
    CheckinEntry.delete().where(CheckinEntry.leaf_index == 2).execute()
    with pytest.raises(LedgerError, match=r"^block 0: holds 2 leaves, header says 3"):
        verify()


def test_checkin_moved_out_of_its_block(ledger: list[bytes]) -> None:
    set_checkin(7, block_height=None)
    with pytest.raises(LedgerError, match=r"^block 2: holds 7 leaves, header says 8"):
        verify()


def test_checkin_replaced_by_another_valid_one(ledger: list[bytes]) -> None:
    """Swapping in another check-in with a consistent leaf hash still changes the root."""
    other_id = hashlib.sha256(b"another visit").digest()[:16]
    other_commit = hashlib.sha256(b"another record").digest()
    set_checkin(
        1,
        checkin_id=other_id,
        commit=other_commit,
        leaf_hash=merkle.leaf_hash(leaf_data(other_id, other_commit)),
    )
    with pytest.raises(LedgerError, match=r"^block 0: recomputed root differs"):
        verify()


# --- tampered blocks ----------------------------------------------------------------------


def test_header_signed_by_another_key(ledger: list[bytes]) -> None:
    resign_header(1, key=OTHER_LEDGER)
    with pytest.raises(LedgerError, match=r"^block 1: header does not verify"):
        verify()


def test_broken_prev_link(ledger: list[bytes]) -> None:
    resign_header(2, prev=hashlib.sha256(b"elsewhere").digest())
    with pytest.raises(LedgerError, match=r"^block 2: does not link to the previous block"):
        verify()


def test_rewritten_earlier_header_breaks_the_next_link(ledger: list[bytes]) -> None:
    resign_header(0, sealed_ms=NOW * 1000 + 999)  # validly signed, but a new hash
    with pytest.raises(LedgerError, match=r"^block 1: does not link to the previous block"):
        verify()


def test_header_claiming_another_first_leaf(ledger: list[bytes]) -> None:
    resign_header(1, first_leaf=2, leaf_count=4)
    with pytest.raises(LedgerError, match=r"^block 1: starts at leaf 2, not 3"):
        verify()


def test_header_claiming_another_root(ledger: list[bytes]) -> None:
    resign_header(0, root=hashlib.sha256(b"other root").digest())
    with pytest.raises(LedgerError, match=r"^block 0: recomputed root differs"):
        verify()


def test_deleted_block_in_the_middle(ledger: list[bytes]) -> None:
    BlockEntry.delete().where(BlockEntry.height == 1).execute()
    with pytest.raises(LedgerError, match=r"^block 2: expected height 1"):
        verify()


def test_changed_checkpoint_text(ledger: list[bytes]) -> None:
    entry = BlockEntry.get_by_id(1)
    lines = entry.checkpoint.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # the tree size line
    BlockEntry.update(checkpoint="\n".join(lines)).where(BlockEntry.height == 1).execute()
    with pytest.raises(LedgerError, match=r"^block 1: checkpoint does not verify"):
        verify()


def test_checkpoint_signed_by_another_key(ledger: list[bytes]) -> None:
    entry = BlockEntry.get_by_id(2)
    signer = NoteSigner.from_private_key(ORIGIN, OTHER_LEDGER)
    note = sign_checkpoint(Checkpoint(ORIGIN, entry.tree_size, bytes(entry.root)), signer)
    BlockEntry.update(checkpoint=note.decode()).where(BlockEntry.height == 2).execute()
    with pytest.raises(LedgerError, match=r"^block 2: checkpoint does not verify"):
        verify()


def test_validly_signed_checkpoint_that_disagrees_with_the_header(ledger: list[bytes]) -> None:
    signer = NoteSigner.from_private_key(ORIGIN, LEDGER)
    note = sign_checkpoint(Checkpoint(ORIGIN, 6, ledger[0]), signer)  # size of 1, root of 0
    BlockEntry.update(checkpoint=note.decode()).where(BlockEntry.height == 1).execute()
    with pytest.raises(LedgerError, match=r"^block 1: checkpoint disagrees with the block header"):
        verify()


# --- the wrong verifier -------------------------------------------------------------------


def test_wrong_ledger_key(ledger: list[bytes]) -> None:
    with pytest.raises(LedgerError, match=r"^block 0: header does not verify"):
        verify(key=OTHER_LEDGER)


def test_wrong_origin(ledger: list[bytes]) -> None:
    with pytest.raises(LedgerError, match=r"^block 0: origin 'ledger.example/audit' is not"):
        verify(origin="ledger.example/elsewhere")


# --- stored block columns the API and the sequencer rely on -------------------------------


@pytest.mark.parametrize("column", ["root", "block_hash", "tree_size", "peaks"])
def test_stored_block_columns_must_match_the_header(ledger: list[bytes], column: str) -> None:
    entry = BlockEntry.get_by_id(2)
    forged: object
    if column == "tree_size":
        forged = entry.tree_size + 1
    elif column == "peaks":
        peaks = decode(bytes(entry.peaks), max_size=4096, what="peaks")
        forged = encode([hashlib.sha256(b"peak").digest(), *peaks[1:]])
    else:
        forged = hashlib.sha256(b"forged " + column.encode()).digest()
    BlockEntry.update(**{column: forged}).where(BlockEntry.height == 2).execute()
    with pytest.raises(LedgerError, match=r"^block 2: "):
        verify()
