"""Exposure notices: what the health authority publishes for wallets to match (issue 12).

A notice tells the holders of some contacts "you may have been exposed between
``from_day`` and ``to_day``; here is what to do". It names nobody: for each contact the
authority computes a **tag** from the contact's 32-byte ``notify`` secret (sealed in the
contact, protocol/contact.py, and kept only by that wallet) and the notice id::

    tag = HMAC-SHA-256(key = notify secret, msg = b"safecode/v1/notice\\n" || notice id)[:16]

A wallet computes its own tag for every published notice and shows the ones that carry
it; it sends nothing back. A fresh notice id per notice makes the tags of one contact
unlinkable across notices. The server pads the tags with random ones to a multiple of
``TAG_BLOCK`` and sorts them (aggregator/notices/), so the list says neither who nor
exactly how many.

JSON form (``GET /v1/notices`` and the body of ``POST /v1/cases/<case>/notices``)::

    {"notice": hex (16 bytes), "tags": [unpadded base64url (16 bytes)], "from_day":
     "YYYY-MM-DD", "to_day": "YYYY-MM-DD", "guidance": {"ko": text, "en": text}
     [, "published_ms": uint (the public list only)]}

Checks are strict: exact keys, exact sizes, no duplicate tag, at most ``MAX_TAGS``
tags (``MAX_PADDED_TAGS`` once padded), real calendar days with ``from_day <= to_day``
at most ``MAX_SPAN_DAYS`` apart, and guidance that is plain text (one line, NFC, no
control, format, bidirectional-override or separator character, no surrounding white
space; the free-text rule of protocol/audit_entry.py) of at most ``MAX_GUIDANCE``
characters. Wallets still put guidance on screen as text only: it is hostile data.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .audit_entry import plain_text
from .contact import NOTIFY_SECRET_SIZE
from .errors import MalformedError, OutOfRangeError, OversizeError
from .schema import TIME_MS_MAX, uint

NOTICE_ID_SIZE = 16
TAG_SIZE = 16
TAG_DOMAIN = b"safecode/v1/notice\n"
#: Tags of one notice as the authority sends them (before padding).
MAX_TAGS = 5000
#: The server pads to a multiple of this many tags.
TAG_BLOCK = 16
#: The most tags a published (padded) notice holds: MAX_TAGS rounded up to TAG_BLOCK.
MAX_PADDED_TAGS = -(-MAX_TAGS // TAG_BLOCK) * TAG_BLOCK
#: Characters of guidance per language.
MAX_GUIDANCE = 800
#: ``to_day`` is at most this many days after ``from_day`` (the visits' retention).
MAX_SPAN_DAYS = 28
LANGUAGES = ("ko", "en")
#: The largest JSON form of a notice (MAX_TAGS tags, guidance at its longest with every
#: character escaped as ``\uXXXX``): what an endpoint taking a notice must accept.
MAX_JSON_BYTES = 144 * 1024
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_B64_TAG = re.compile(r"[A-Za-z0-9_-]{22}")
_GUIDANCE = plain_text(MAX_GUIDANCE)
_PUBLISHED_MS = uint(TIME_MS_MAX)


class DuplicateTagError(MalformedError):
    """A notice lists the same tag twice."""


def notice_tag(notify_secret: bytes, notice_id: bytes) -> bytes:
    """The 16-byte tag of the contact holding ``notify_secret`` in notice ``notice_id``."""
    if type(notify_secret) is not bytes or len(notify_secret) != NOTIFY_SECRET_SIZE:
        raise MalformedError(f"notify secret must be {NOTIFY_SECRET_SIZE} bytes")
    _notice_id(notice_id, "notice id")
    return hmac.digest(notify_secret, TAG_DOMAIN + notice_id, hashlib.sha256)[:TAG_SIZE]


def new_notice_id() -> bytes:
    """A fresh random notice id."""
    return secrets.token_bytes(NOTICE_ID_SIZE)


def random_tags(count: int) -> list[bytes]:
    """``count`` random tags (padding: indistinguishable from real ones)."""
    return [secrets.token_bytes(TAG_SIZE) for _ in range(count)]


def padded_size(count: int) -> int:
    """How many tags ``count`` real tags become: the next multiple of TAG_BLOCK, at least one."""
    return max(TAG_BLOCK, -(-count // TAG_BLOCK) * TAG_BLOCK)


@dataclass(frozen=True)
class Notice:
    """A checked notice; ``published_ms`` is set once the server has published it."""

    notice_id: bytes
    tags: tuple[bytes, ...]
    from_day: str
    to_day: str
    guidance: Mapping[str, str]
    published_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``published_ms`` only when set)."""
        out: dict[str, Any] = {
            "notice": self.notice_id.hex(),
            "tags": [b64encode(tag) for tag in self.tags],
            "from_day": self.from_day,
            "to_day": self.to_day,
            "guidance": {lang: self.guidance[lang] for lang in LANGUAGES},
        }
        if self.published_ms is not None:
            out["published_ms"] = self.published_ms
        return out


def b64encode(raw: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64_tag(value: Any, name: str) -> bytes:
    """A tag in JSON: canonical unpadded base64url of exactly 16 bytes."""
    if type(value) is not str or not _B64_TAG.fullmatch(value):
        raise MalformedError(f"{name} must be {TAG_SIZE} bytes in unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "==")
    except (binascii.Error, ValueError) as exc:  # cannot happen after the pattern; a guard
        raise MalformedError(f"{name} is not base64url") from exc
    if b64encode(raw) != value:
        raise MalformedError(f"{name} is not canonical base64url")
    return raw


def _notice_id(value: Any, name: str) -> bytes:
    if type(value) is not bytes or len(value) != NOTICE_ID_SIZE:
        raise MalformedError(f"{name} must be {NOTICE_ID_SIZE} bytes")
    return value


def _day(value: Any, name: str) -> datetime.date:
    if type(value) is not str or not _DAY.fullmatch(value):
        raise MalformedError(f"{name} must be a day as YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError(f"{name} is not a calendar day") from exc


def _tags(values: Any, *, maximum: int) -> tuple[bytes, ...]:
    if type(values) not in (list, tuple):
        raise MalformedError("tags must be a list")
    if not values:
        raise MalformedError("tags must hold at least one tag")
    if len(values) > maximum:
        raise OversizeError(f"a notice holds at most {maximum} tags, not {len(values)}")
    tags = []
    for index, tag in enumerate(values):
        if type(tag) is not bytes or len(tag) != TAG_SIZE:
            raise MalformedError(f"tags[{index}] must be {TAG_SIZE} bytes")
        tags.append(tag)
    if len(set(tags)) != len(tags):
        raise DuplicateTagError("tags holds the same tag twice")
    return tuple(tags)


def _guidance(value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise MalformedError("guidance must be a map of language to text")
    if set(value) != set(LANGUAGES):
        raise MalformedError(f"guidance must have exactly the languages {', '.join(LANGUAGES)}")
    return {lang: _GUIDANCE(value[lang], f"guidance.{lang}") for lang in LANGUAGES}


def check_notice(
    *,
    notice_id: bytes,
    tags: Sequence[bytes],
    from_day: str,
    to_day: str,
    guidance: Mapping[str, str],
    published_ms: int | None = None,
    max_tags: int = MAX_TAGS,
) -> Notice:
    """A Notice from its fields, checked strictly; or a ProtocolError saying what is wrong.

    ``max_tags`` is MAX_TAGS for what the authority sends, MAX_PADDED_TAGS for a
    published notice.
    """
    notice_id = _notice_id(notice_id, "notice")
    checked_tags = _tags(tags, maximum=max_tags)
    first = _day(from_day, "from_day")
    last = _day(to_day, "to_day")
    if last < first:
        raise OutOfRangeError("to_day comes before from_day")
    if (last - first).days > MAX_SPAN_DAYS:
        raise OutOfRangeError(f"from_day to to_day spans more than {MAX_SPAN_DAYS} days")
    checked_guidance = _guidance(dict(guidance) if isinstance(guidance, Mapping) else guidance)
    if published_ms is not None:
        published_ms = _PUBLISHED_MS(published_ms, "published_ms")
    return Notice(notice_id, checked_tags, from_day, to_day, checked_guidance, published_ms)


def parse_notice_json(value: Any, *, published: bool = False) -> Notice:
    """A notice from its JSON form, strictly; ``published`` expects the public list's form.

    The authority's form (``published=False``) has no ``published_ms`` and at most
    MAX_TAGS tags; the published form has ``published_ms`` and at most MAX_PADDED_TAGS.
    """
    if type(value) is not dict:
        raise MalformedError("a notice must be a JSON object")
    keys = {"notice", "tags", "from_day", "to_day", "guidance"}
    if published:
        keys.add("published_ms")
    if set(value) != keys:
        missing = sorted(keys - set(value))
        extra = sorted(set(value) - keys)
        raise MalformedError(
            f"notice has missing keys {missing}" if missing else f"notice has unknown keys {extra}"
        )
    notice = value["notice"]
    if type(notice) is not str or not _HEX_ID.fullmatch(notice):
        raise MalformedError(f"notice must be {NOTICE_ID_SIZE} bytes as lower-case hex")
    tags = value["tags"]
    if type(tags) is not list:
        raise MalformedError("tags must be a list")
    maximum = MAX_PADDED_TAGS if published else MAX_TAGS
    if len(tags) > maximum:
        raise OversizeError(f"a notice holds at most {maximum} tags, not {len(tags)}")
    return check_notice(
        notice_id=bytes.fromhex(notice),
        tags=[b64_tag(tag, f"tags[{i}]") for i, tag in enumerate(tags)],
        from_day=value["from_day"],
        to_day=value["to_day"],
        guidance=value["guidance"],
        published_ms=value["published_ms"] if published else None,
        max_tags=maximum,
    )
