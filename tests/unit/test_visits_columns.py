"""A batch's visit columns (issue 14, leaner ingest) are each visit's columns, sealed alike.

Ingest seals a micro-batch in one pass (one read of nonces, one AES call for the visit
tags, one for the code marks): each row must hold what sealing it alone gives.
"""

from __future__ import annotations

import os

import peewee

from aggregator import vault
from aggregator.tables import CheckinEntry

RECEIVED_MS = 1_764_000_000_000


def test_a_batch_gives_each_visit_its_own_columns(db: peewee.Database) -> None:
    sealer = vault.installed()
    visits = [
        (os.urandom(16), os.urandom(200), os.urandom(8), 1),
        (os.urandom(16), os.urandom(150), None, 2),  # no credential: no tag
        (os.urandom(16), os.urandom(180), os.urandom(8), None),  # no code type: no mark
        (os.urandom(16), os.urandom(180), os.urandom(8), 300),  # not one byte: no mark
    ]
    batch = CheckinEntry.visits_columns(visits, RECEIVED_MS)
    assert len(batch) == len(visits)
    nonces = set()
    for (checkin_id, wire, credential_id, code_type), columns in zip(visits, batch, strict=True):
        alone = CheckinEntry.visit_columns(
            checkin_id, wire, RECEIVED_MS, None, credential_id, code_type
        )
        assert set(columns) == set(alone)
        for name in ("commit", "day", "received_ms", "visit_tag", "code_mark"):
            assert columns[name] == alone[name], name
        assert columns["sealed"] != alone["sealed"]  # a fresh nonce each
        assert sealer.open(checkin_id, columns["day"], columns["sealed"]) == wire
        nonces.add(columns["sealed"][: vault.NONCE_SIZE])
    assert len(nonces) == len(visits)
    assert batch[1]["visit_tag"] is None
    assert batch[2]["code_mark"] is None and batch[3]["code_mark"] is None
    assert batch[0]["visit_tag"] == sealer.visit_tag(batch[0]["day"], visits[0][2])
