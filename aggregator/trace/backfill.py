"""Back-filling the visit index of rows stored before it existed (version 12's upgrade).

:mod:`aggregator.trace.schema` adds ``venue_id``, ``visit_tag``, ``door`` and
``code_mark`` to an older check-in table, empty. Those rows would stay invisible to
tracing (or, lacking only door and mark, be opened by every trace that reads them)
until retention forgets them (28 days by default). :func:`backfill_visit_index` fills
them in: for each row still readable (its day key alive, its record not erased) it
opens the record once, takes the venue and door from the signed record, and computes
the tag and the code mark under the row's day key. This
is the one place tracing opens rows it was not asked about, once, at the upgrade;
rows whose key is gone are left empty (they can never be traced anyway).

Run it once after upgrading, where the data master key is (the process that ingests);
it works in batches of ``batch`` rows, each its own transaction, and can be stopped
and run again (it only takes rows whose tag, door or mark is still empty).
"""

from __future__ import annotations

import logging

from protocol.checkin import parse_checkin
from protocol.errors import ProtocolError

from ..tables import CheckinEntry
from ..vault import Vault, VaultError
from .records import code_type_of_presentation

log = logging.getLogger(__name__)


def backfill_visit_index(vault: Vault, *, batch: int = 1000) -> tuple[int, int]:
    """Fill the tracing columns of readable rows lacking them; (filled, unreadable)."""
    c = CheckinEntry
    db = c._meta.database
    filled = unreadable = 0
    after = 0
    while True:
        rows = list(
            c.select(c.id, c.checkin_id, c.day, c.sealed)
            .where(
                (c.visit_tag.is_null() | c.door.is_null() | c.code_mark.is_null())
                & (c.sealed != b"")
                & (c.id > after)
            )
            .order_by(c.id)
            .limit(batch)
            .tuples()
        )
        if not rows:
            break
        after = rows[-1][0]
        keys = vault.day_keys(sorted({row[2] for row in rows}))
        opened = keys.open_many([(bytes(r[1]), r[2], bytes(r[3])) for r in rows])
        with db.atomic():
            for (row_id, checkin_id, day, _), wire in zip(rows, opened, strict=True):
                if isinstance(wire, VaultError):
                    unreadable += 1
                    continue
                try:
                    record = parse_checkin(wire)
                    credential_id = record.parsed_presentation().credential.credential_id
                    code_type = code_type_of_presentation(record.presentation)
                except ProtocolError:
                    unreadable += 1
                    continue
                c.update(
                    venue_id=record.venue_id,
                    visit_tag=keys.tag(day, credential_id),
                    door=record.door,
                    code_mark=keys.code_mark(day, bytes(checkin_id), code_type),
                ).where(c.id == row_id).execute()
                filled += 1
    if filled or unreadable:
        log.info("visit index: back-filled %d row(s), %d unreadable", filled, unreadable)
    return filled, unreadable
