"""Exposure notices (issue 12): published by officials, fetched and matched by wallets.

``tables``: the ``notice`` table; ``service``: ``publish`` (audit entry first, tags
padded and sorted, stored), ``published`` (the public list) and ``forget_notices``
(retention). The public ``GET /v1/notices`` is ``aggregator/api/notices.py``; the
format and the tag are ``protocol/notice.py``. A case's official publishes through
``POST /v1/cases/<case>/notices`` (aggregator/cases/), which calls ``publish``.
"""

from __future__ import annotations

from .service import (
    NoticeRefused,
    forget_notices,
    list_version,
    publish,
    publish_json,
    published,
)
from .tables import NoticeEntry

__all__ = [
    "NoticeEntry",
    "NoticeRefused",
    "forget_notices",
    "list_version",
    "publish",
    "publish_json",
    "published",
]
