"""The tables of cases: one row per case, and the exposure handles each case handed out.

A case stores no visitor identity: its id, the account name that opened it, the reason
the official typed, the infectious period and when it was opened. ``case_handle`` keeps
the exposure handles (``aggregator.trace.exposure.Exposure.handle``) of the case's
exposure lists, so that ``contacts`` answers only for handles this case was shown.
``case_opening`` keeps what opening the case handed out, sealed to the health
authority (the server reads none of it), so the official can take the case up again
in another tab, browser or day (``POST /v1/cases/<case>/opening``).
"""

from __future__ import annotations

import peewee

from ..models_base import BaseModel, BlobField

CASE_ID_SIZE = 16
REASON_MAX = 500
HANDLE_MAX = 128


class CaseEntry(BaseModel):
    """One case: who opened it, why, and its period ``[start_ms, end_ms)``."""

    case_id = BlobField(primary_key=True)
    opener = peewee.CharField(max_length=63, index=True)
    reason = peewee.CharField(max_length=REASON_MAX)
    start_ms = peewee.BigIntegerField()
    end_ms = peewee.BigIntegerField()
    opened_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "trace_case"


class CaseHandle(BaseModel):
    """An exposure handle that one of the case's exposure lists handed out."""

    case_id = BlobField()
    handle = peewee.CharField(max_length=HANDLE_MAX)

    class Meta:
        table_name = "trace_case_handle"
        primary_key = peewee.CompositeKey("case_id", "handle")


class CaseOpening(BaseModel):
    """A case's opening as one blob sealed to the health authority (``protocol.case_opening``).

    The server cannot open it, nor join it to the issuer's rows (``aggregator.cases.resume``).
    Retention deletes it (``aggregator.cases.service.forget_case_openings``).
    """

    case_id = BlobField(primary_key=True)
    sealed = BlobField()

    class Meta:
        table_name = "trace_case_opening"


CASE_MODELS: tuple[type[BaseModel], ...] = (CaseEntry, CaseHandle, CaseOpening)
"""The tables of this package, for ``aggregator.models``."""
