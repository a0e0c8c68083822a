"""The ``notice`` table: one row per published notice, its padded tags in one column."""

from __future__ import annotations

import peewee

from ..models_base import BaseModel, BlobField


class NoticeEntry(BaseModel):
    """A published notice. ``tags`` is the padded, sorted tags, 16 bytes each, concatenated.

    ``case_id`` and ``audit_id`` tie it to the case and to the audit entry written
    before it (neither is in the public list).
    """

    id = peewee.BigAutoField()
    notice_id = BlobField(unique=True)
    case_id = BlobField(index=True)
    audit_id = BlobField()
    tags = BlobField()
    tag_count = peewee.IntegerField()
    from_day = peewee.CharField(max_length=10)
    to_day = peewee.CharField(max_length=10)
    guidance_ko = peewee.TextField()
    guidance_en = peewee.TextField()
    published_ms = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "notice"


NOTICE_MODELS: tuple[type[BaseModel], ...] = (NoticeEntry,)
