"""Visit details encrypted under per-day data keys, themselves wrapped by a master key.

Each check-in's signed record (which holds the visitor's one-time presentation) is
stored only as AES-256-GCM ciphertext under the data key of its day, with the day
and the check-in id as associated data. Day keys are made on first use and stored
wrapped (AES-256-GCM) under a master key kept in a file beside the aggregator's
other keys (``data-master.key``, mode 0600): a stolen database alone reveals no
visit. The retention job (aggregator/retention.py) destroys old day keys; their
records then can never be read again, while the ledger, which holds only
commitments, still verifies.

A day is the UTC day of the moment the aggregator *stored* the check-in, so a
late backlog never brings a destroyed day key back.

What stays in clear, for ever: the leaf commitment ``commit`` = SHA-256 of the
signed record. It hides the visit because the record holds two Ed25519 signatures
nobody outside can predict (the kiosk's over the record, the visitor's wallet over
the one-time presentation); the random check-in id adds nothing, as the leaf shows
it. A salted commitment would hide even from someone holding both signing keys and
the exact presentation; it would change protocol/block.py's leaf, so it is not done.
``presentation_hash`` (replay detection) is a hash of a one-time presentation, just
as unpredictable (a printed card's repeats, so its hash adds the kiosk and scan time:
aggregator/card_checks.py; docs/CARDS.md says what a static card reveals). Kiosk,
sequence number and times stay readable (where and when, never who) until retention
forgets them with the day key (aggregator/forget.py).
Residual copies (backups, PostgreSQL WAL and free space) are outside what the
retention job can erase.

Visit tags (aggregator/trace/): each row also holds ``visit_tag`` = AES-256 of the
visitor's credential id (one block: its length, the id, zeros) under a key derived by
HMAC from the row's day key, so tracing finds a credential's visits through an index
while that key lives (a pseudo-random permutation of distinct blocks: distinct ids,
distinct tags; a trace computes hundreds, one AES call per day).
``code_mark`` is the visitor's code type (phone or card) XOR the first byte of
AES-256(another key derived by HMAC from the day key, the row's unique 16-byte check-in
id): unreadable without the day key, a different mask on every row, dead with the key.
Exposure handles are a row id encrypted (one AES block) under a key derived from the
master key.
:meth:`Vault.day_keys` reads the keys a tracing query needs in one query, from the
database (never the sealing cache), so a destroyed day gives neither tags nor records.
What unwrapping a day key and deriving its tag and mark keys costs (a few AES and HMAC
set-ups per day, most of a trace's crypto) is kept for the next trace in a small cache:
at most ``_DERIVED_MAX_DAYS`` days, each at most ``_DERIVED_TTL_S`` seconds after it was
unwrapped, and used only when the row read in that same call still holds the same
wrapped key and is not destroyed; a destroyed, missing or changed row evicts the day
at once, and :meth:`Vault.forget_derived` (called by retention in this process) and
the bound and age clear the rest.
"""

from __future__ import annotations

import functools
import hmac
import operator
import os
import re
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .models_base import BaseModel, BlobField

if TYPE_CHECKING:
    from .tables import CheckinEntry  # tables imports this module

KEY_SIZE = 32
NONCE_SIZE = 12
MASTER_KEY_FILE = "data-master.key"
DAY_MS = 86_400_000
_VISIT_AD = b"safecode visit v1\x00"
_WRAP_AD = b"safecode day key v1\x00"
#: Derives a day's visit-tag key from its data key (aggregator/trace/index.py).
_TAG_LABEL = b"safecode visit tag key v1\x00"
#: Bytes of a visit tag: HMAC-SHA-256 under the day's tag key, truncated.
VISIT_TAG_SIZE = 16
#: Derives a day's code-mark key from its data key (the code type, masked per row).
_MARK_LABEL = b"safecode code mark key v1\x00"
#: Derives the exposure-handle key from the master key (aggregator/trace/exposure.py).
_HANDLE_LABEL = b"safecode exposure handle key v1\x00"
#: An exposure handle: one AES block, a row id (8 bytes) and 8 zero bytes.
_HANDLE_PAD = bytes(8)
_HANDLE_TEXT = re.compile(r"[0-9a-f]{32}")
#: Tracing's cache of unwrapped, derived day keys: how many days, and how long each.
_DERIVED_MAX_DAYS = 64
_DERIVED_TTL_S = 60.0
_BLOCK = 16


class VaultError(Exception):
    """A sealed visit or a day key cannot be used."""


class KeyDestroyedError(VaultError):
    """The day key was destroyed by the retention job: the visit is gone for good."""


class NoKeyError(VaultError):
    """No data key was ever made for that day."""


class DecryptError(VaultError):
    """The ciphertext, its day or check-in id, or the master key is wrong."""


class DayKey(BaseModel):
    """One day's data key, wrapped under the master key; emptied when destroyed."""

    day = peewee.IntegerField(primary_key=True)
    wrapped = BlobField()
    created_ms = peewee.BigIntegerField()
    destroyed = peewee.BooleanField(default=False)
    destroyed_ms = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "daykey"


def day_of(ms: int) -> int:
    """The UTC day number (days since 1970-01-01) of a time in milliseconds."""
    return ms // DAY_MS


def create_master_key(path: Path) -> bytes:
    """Write a new random master key to ``path`` (mode 0600); refuse to overwrite one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


def load_master_key(path: Path, *, create: bool = False) -> bytes:
    """Read the master key at ``path``; with ``create`` make one if there is none."""
    path = Path(path)
    if create and not path.exists():
        return create_master_key(path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise VaultError(f"cannot read the data master key {path}: {exc}") from exc
    if len(key) != KEY_SIZE:
        raise VaultError(f"{path}: a data master key is {KEY_SIZE} raw bytes, not {len(key)}")
    if path.stat().st_mode & 0o077:
        raise VaultError(f"{path}: the data master key must be readable by its owner only")
    return key


def _day_bytes(day: int) -> bytes:
    return day.to_bytes(8, "big", signed=True)


class Vault:
    """Seals and opens visit records with the day keys in the database."""

    def __init__(self, master_key: bytes, *, now: Callable[[], float] = time.time) -> None:
        if len(master_key) != KEY_SIZE:
            raise VaultError(f"a data master key is {KEY_SIZE} bytes")
        self._master = AESGCM(master_key)
        self._now = now
        self._cache: dict[int, AESGCM] = {}
        self._tag_cache: dict[int, Cipher] = {}
        self._mark_cache: dict[int, Cipher] = {}
        #: day -> (wrapped key as stored, monotonic time unwrapped, derived keys); LRU.
        self._derived: OrderedDict[int, tuple[bytes, float, _DayKey]] = OrderedDict()
        self._derived_lock = threading.Lock()
        #: The last answer of :meth:`day_keys`: (its days, when, the keys).
        self._last_read: tuple[tuple[int, ...], float, DayKeys] | None = None
        self._handles = Cipher(
            algorithms.AES(hmac.digest(master_key, _HANDLE_LABEL, "sha256")), modes.ECB()
        )

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> Vault:
        """A vault with the master key at ``path`` (made there if ``create`` and absent)."""
        return cls(load_master_key(path, create=create))

    # --- day keys -------------------------------------------------------------------------

    def _unwrap(self, row: DayKey) -> AESGCM:
        return AESGCM(self._unwrap_raw(row))

    def _unwrap_raw(self, row: DayKey) -> bytes:
        return self._unwrap_stored(row.day, row.wrapped, row.destroyed)

    def _unwrap_stored(self, day: int, wrapped: bytes, destroyed: bool) -> bytes:
        """The raw key from a ``daykey`` row's columns (no model object: tracing reads many)."""
        if destroyed:
            raise KeyDestroyedError(f"the data key of day {day} was destroyed")
        wrapped = bytes(wrapped)
        try:
            raw = self._master.decrypt(
                wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _WRAP_AD + _day_bytes(day)
            )
        except InvalidTag as exc:
            raise DecryptError(
                f"the data key of day {day} does not open: wrong master key?"
            ) from exc
        return raw

    def _key_for_sealing(self, day: int) -> AESGCM:
        """Day ``day``'s key, made on first use (several processes may race: one wins)."""
        if day in self._cache:
            return self._cache[day]
        row = DayKey.get_or_none(DayKey.day == day)
        if row is None:
            nonce = secrets.token_bytes(NONCE_SIZE)
            raw = secrets.token_bytes(KEY_SIZE)
            wrapped = nonce + self._master.encrypt(nonce, raw, _WRAP_AD + _day_bytes(day))
            DayKey.insert(
                day=day, wrapped=wrapped, created_ms=int(self._now() * 1000)
            ).on_conflict_ignore().execute()
            row = DayKey.get(DayKey.day == day)
        raw = self._unwrap_raw(row)
        key = self._cache[day] = AESGCM(raw)
        self._tag_cache[day] = _tag_key(raw)
        self._mark_cache[day] = _mark_key(raw)
        return key

    def _key_for_opening(self, day: int) -> AESGCM:
        """Always read from the database, so a destroyed key is never used from a cache."""
        row = DayKey.get_or_none(DayKey.day == day)
        if row is None:
            raise NoKeyError(f"no data key was made for day {day}")
        return self._unwrap(row)

    def forget_cached(self, days: list[int] | None = None) -> None:
        """Drop cached day keys (all, or those of ``days``) from this process's memory."""
        for day in list(self._cache) if days is None else days:
            self._cache.pop(day, None)
            self._tag_cache.pop(day, None)
            self._mark_cache.pop(day, None)
        self.forget_derived(days)

    def forget_derived(self, days: list[int] | None = None) -> None:
        """Drop tracing's derived day keys (all, or those of ``days``): see :meth:`day_keys`."""
        with self._derived_lock:
            if days is None:
                self._derived.clear()
            for day in days or ():
                self._derived.pop(day, None)
            self._last_read = None

    # --- visits ---------------------------------------------------------------------------

    def seal(self, checkin_id: bytes, wire: bytes, day: int) -> bytes:
        """Encrypt a check-in's signed record under day ``day``'s key: nonce || ciphertext."""
        return self.seal_visits(day, [(checkin_id, wire)])[0]

    def seal_visits(self, day: int, visits: list[tuple[bytes, bytes]]) -> list[bytes]:
        """:meth:`seal` for each (check-in id, signed record) of ``day``, in order.

        Their random nonces come from one read of the system's generator, not one each.
        """
        key = self._key_for_sealing(day)
        nonces = secrets.token_bytes(NONCE_SIZE * len(visits))
        ad = _VISIT_AD + _day_bytes(day)
        sealed = []
        for at, (checkin_id, wire) in enumerate(visits):
            nonce = nonces[at * NONCE_SIZE : (at + 1) * NONCE_SIZE]
            sealed.append(nonce + key.encrypt(nonce, wire, ad + checkin_id))
        return sealed

    def open(self, checkin_id: bytes, day: int, sealed: bytes) -> bytes:
        """The signed record, or a VaultError subclass saying why it cannot be read."""
        return _open_visit(self._key_for_opening(day), checkin_id, day, bytes(sealed))

    def open_entry(self, entry: CheckinEntry) -> bytes:
        """The signed record of a stored check-in (see :meth:`open`)."""
        return self.open(bytes(entry.checkin_id), entry.day, bytes(entry.sealed))

    # --- visit tags and batch opening (aggregator/trace/) ----------------------------------

    def visit_tag(self, day: int, credential_id: bytes) -> bytes:
        """The lookup tag of a visit stored on ``day`` by ``credential_id`` (ingest side).

        Keyed by a key derived from the day's data key: once retention destroys that
        key, no one can compute the tags of that day again.
        """
        return self.visit_tags(day, [credential_id])[0]

    def visit_tags(self, day: int, credential_ids: list[bytes]) -> list[bytes]:
        """:meth:`visit_tag` of each credential id, in order, in one AES call."""
        if day not in self._tag_cache:
            self._key_for_sealing(day)
        return _tags(self._tag_cache[day], credential_ids) if credential_ids else []

    def code_mark(self, day: int, checkin_id: bytes, code_type: int) -> int:
        """The stored ``code_mark`` of a visit: its code type masked under ``day``'s key."""
        return self.code_marks(day, [(checkin_id, code_type)])[0]

    def code_marks(self, day: int, visits: list[tuple[bytes, int]]) -> list[int]:
        """:meth:`code_mark` of each (check-in id, code type), in order, in one AES call."""
        if not visits:
            return []
        if day not in self._mark_cache:
            self._key_for_sealing(day)
        masks = _masks(self._mark_cache[day], [checkin_id for checkin_id, _ in visits])
        return [code_type ^ mask for (_, code_type), mask in zip(visits, masks, strict=True)]

    def seal_handles(self, row_ids: list[int]) -> list[str]:
        """Opaque exposure handles naming check-in rows ``row_ids`` (32 hex digits each).

        One AES block per handle (the row id, 8 zero bytes), one call for them all: a
        client can neither read a row id in it nor make a valid one.
        """
        plain = struct.pack(">" + "Q8x" * len(row_ids), *row_ids)  # the row id, 8 zero bytes
        out = self._handles.encryptor().update(plain).hex()
        return [out[at : at + 32] for at in range(0, len(out), 32)]

    def open_handle(self, handle: object) -> int | None:
        """The row id inside a handle made by :meth:`seal_handle`; None for anything else."""
        if not isinstance(handle, str) or not _HANDLE_TEXT.fullmatch(handle):
            return None
        block = bytes.fromhex(handle)
        plain = self._handles.decryptor().update(block)
        if plain[8:] != _HANDLE_PAD:
            return None
        return int.from_bytes(plain[:8], "big")

    def day_key_query(self, days: list[int]) -> tuple[str, list[int]]:
        """The statement :meth:`day_keys` runs and its parameters: ``day, wrapped,
        destroyed`` of each of ``days`` that has a row. A caller may run it inside a
        statement of its own and hand the rows to :meth:`day_keys_from_rows`."""
        db = DayKey._meta.database
        p = db.param
        sql = (
            f'SELECT "day", "wrapped", "destroyed" FROM "{DayKey._meta.table_name}"'
            f' WHERE "day" IN ({", ".join([p] * len(days))})'
        )
        return sql, list(days)

    def day_keys(self, days: list[int]) -> DayKeys:
        """The keys of ``days`` as the database holds them now, read in one query.

        A day is usable only if its row, read here, is there and not destroyed; what
        was derived from the same wrapped key in the last ``_DERIVED_TTL_S`` seconds is
        reused (see the module docstring), anything else about that day is evicted.
        """
        wanted = sorted(set(days))
        if not wanted:
            return DayKeys({})
        sql, params = self.day_key_query(wanted)
        rows = DayKey._meta.database.execute_sql(sql, params).fetchall()
        return self.day_keys_from_rows(wanted, rows)

    def day_keys_from_rows(self, days: list[int], rows: list[tuple[Any, ...]]) -> DayKeys:
        """:meth:`day_keys` from ``rows`` of :meth:`day_key_query` just read for ``days``."""
        found: dict[int, _DayKey | VaultError] = {}
        wanted = sorted(set(days))
        now = time.monotonic()
        with self._derived_lock:
            derived = self._derived
            for day in [d for d, (_, made, _) in derived.items() if now - made > _DERIVED_TTL_S]:
                del derived[day]
            for day in set(wanted).difference(row[0] for row in rows):
                derived.pop(day, None)  # no key for it (any more)
            for day, wrapped, destroyed in rows:
                wrapped = bytes(wrapped)
                cached = derived.pop(day, None)
                if destroyed:
                    found[day] = KeyDestroyedError(f"the data key of day {day} was destroyed")
                    continue
                if cached is None or cached[0] != wrapped:
                    try:
                        cached = (wrapped, now, _DayKey(self._unwrap_stored(day, wrapped, False)))
                    except VaultError as exc:
                        found[day] = exc
                        continue
                derived[day] = cached  # the most recently used last
                found[day] = cached[2]
            while len(derived) > _DERIVED_MAX_DAYS:
                derived.popitem(last=False)
            keys = DayKeys(found, _key_rows_state(rows))
            self._last_read = (tuple(wanted), now, keys)
        return keys

    def recent_day_keys(self, days: list[int]) -> DayKeys | None:
        """What :meth:`day_keys` last answered for exactly ``days``, if at most
        ``_DERIVED_TTL_S`` seconds ago; else None.

        Only a guess, for a caller that reads the key rows again in the same statement
        as the rows it looks up with them, and uses the guess only if
        :meth:`DayKeys.read_from` says those rows still say the same (else it calls
        :meth:`day_keys_from_rows` with them and looks up again).
        """
        last = self._last_read
        if last is None or last[0] != tuple(sorted(set(days))):
            return None
        if time.monotonic() - last[1] > _DERIVED_TTL_S:
            return None
        return last[2]

    def lookup_tags(self, days: list[int], credential_ids: list[bytes]) -> dict[bytes, bytes]:
        """Tag -> credential id for every credential on every day whose key still exists."""
        return self.day_keys(days).tags(credential_ids)

    def open_many(self, items: list[tuple[bytes, int, bytes]]) -> list[bytes | VaultError]:
        """Open several ``(checkin_id, day, sealed)``: each record, or why it cannot be read."""
        return self.day_keys([day for _, day, _ in items]).open_many(items)


class _DayKey:
    """One day's raw data key and what is derived from it, each made on first use.

    The tag and mark keys are used through one kept AES-ECB context each: ECB carries
    nothing from one call to the next when every call gives whole blocks (checked),
    and a lock keeps two threads from using one context at once.
    """

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._lock = threading.Lock()
        self._contexts: dict[bytes, CipherContext] = {}

    @functools.cached_property
    def aead(self) -> AESGCM:
        return AESGCM(self._raw)

    @functools.cached_property
    def tag_key(self) -> Cipher:
        return _tag_key(self._raw)

    @functools.cached_property
    def mark_key(self) -> Cipher:
        return _mark_key(self._raw)

    def ecb(self, label: bytes, blocks: bytes, *, decrypt: bool = False) -> bytes:
        """AES-256-ECB of whole ``blocks`` under the key derived for ``label`` (or its
        inverse, ``decrypt``)."""
        if len(blocks) % _BLOCK:
            raise VaultError("AES-ECB takes whole blocks")
        name = label + b"-" if decrypt else label
        with self._lock:
            context = self._contexts.get(name)
            if context is None:
                key = self.tag_key if label == _TAG_LABEL else self.mark_key
                context = key.decryptor() if decrypt else key.encryptor()
                self._contexts[name] = context
            return context.update(blocks)


class DayKeys:
    """Some days' keys, read once for one tracing query; forgotten with the object.

    A destroyed day, or one whose key was never made, has no key here: its tags cannot
    be computed and its records cannot be opened.
    """

    def __init__(self, keys: dict[int, _DayKey | VaultError], state: tuple[Any, ...] = ()) -> None:
        self._keys = keys
        self._state = state

    def read_from(self, rows: list[tuple[Any, ...]]) -> bool:
        """True if these keys are what ``rows`` of :meth:`Vault.day_key_query` say now:
        the same days, each with the same wrapped key and destroyed flag."""
        return bool(self._state) and _key_rows_state(rows) == self._state

    def _key(self, day: int) -> _DayKey | VaultError:
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = NoKeyError(f"no data key was made for day {day}")
        return key

    def tags(self, credential_ids: list[bytes]) -> dict[bytes, bytes]:
        """Tag -> credential id, for each credential on each day with a usable key."""
        blocks = _tag_blocks(credential_ids)
        keys = [key for key in self._keys.values() if isinstance(key, _DayKey)]
        out = b"".join([key.ecb(_TAG_LABEL, blocks) for key in keys])  # one block a tag
        found = [out[at : at + VISIT_TAG_SIZE] for at in range(0, len(out), VISIT_TAG_SIZE)]
        return dict(zip(found, list(credential_ids) * len(keys), strict=True))

    def credential_ids_of_tags(self, day: int, tags: list[bytes]) -> list[bytes | None]:
        """The credential id each visit tag of ``day`` was made from, read back from the
        tag (AES is a permutation: the day's tag key turns a tag back into its block,
        one call for them all); None for a tag no credential id gives (damaged, forged).

        VaultError if the day's key is unusable. Needs the same key as opening the
        records, and tells no more than they do (their credential ids).
        """
        key = self._key(day)
        if isinstance(key, VaultError):
            raise key
        whole = [bytes(tag) for tag in tags if len(tag) == VISIT_TAG_SIZE]
        out = key.ecb(_TAG_LABEL, b"".join(whole), decrypt=True) if whole else b""
        blocks = iter([out[at : at + _BLOCK] for at in range(0, len(out), _BLOCK)])
        return [_id_of_block(next(blocks)) if len(tag) == VISIT_TAG_SIZE else None for tag in tags]

    def tag(self, day: int, credential_id: bytes) -> bytes:
        """The visit tag of ``credential_id`` on ``day``; VaultError if its key is unusable."""
        key = self._key(day)
        if isinstance(key, VaultError):
            raise key
        return _tags(key.tag_key, [credential_id])[0]

    def code_mark(self, day: int, checkin_id: bytes, code_type: int) -> int:
        """The ``code_mark`` of a row stored on ``day`` (see :meth:`Vault.code_mark`)."""
        key = self._key(day)
        if isinstance(key, VaultError):
            raise key
        return code_type ^ _masks(key.mark_key, [checkin_id])[0]

    def usable_days(self) -> frozenset[int]:
        """The days whose keys were read and open (:meth:`usable`), as one set."""
        return frozenset(day for day, key in self._keys.items() if isinstance(key, _DayKey))

    def usable(self, day: int) -> bool:
        """True when ``day``'s key was read and opens (its tags and records can be used)."""
        return not isinstance(self._key(day), VaultError)

    def code_types(self, day: int, rows: list[tuple[bytes, int]]) -> list[int]:
        """The code types the ``(checkin_id, code_mark)`` of rows stored on ``day`` hide.

        One AES call for them all; VaultError if the day key is unusable.
        """
        ids, marks = zip(*rows, strict=True) if rows else ((), ())
        return self.unmask(day, list(ids), list(marks))

    def unmask(self, day: int, checkin_ids: list[bytes], marks: list[int]) -> list[int]:
        """:meth:`code_types` from the two columns apart (tracing has them so)."""
        key = self._key(day)
        if isinstance(key, VaultError):
            raise key
        masks = key.ecb(_MARK_LABEL, _mask_blocks(checkin_ids))[::16]
        return list(map(operator.xor, marks, masks))

    def open_many(self, items: list[tuple[bytes, int, bytes]]) -> list[bytes | VaultError]:
        """Open several ``(checkin_id, day, sealed)``: each record, or why it cannot be read."""
        opened: list[bytes | VaultError] = []
        for checkin_id, day, sealed in items:
            key = self._key(day)
            if isinstance(key, VaultError):
                opened.append(key)
                continue
            try:
                opened.append(_open_visit(key.aead, checkin_id, day, sealed))
            except DecryptError as exc:
                opened.append(exc)
        return opened


def _open_visit(key: AESGCM, checkin_id: bytes, day: int, sealed: bytes) -> bytes:
    """The signed record in ``sealed`` (nonce || ciphertext), or DecryptError."""
    if len(sealed) <= NONCE_SIZE:
        raise DecryptError(f"check-in {checkin_id.hex()[:8]}..: no ciphertext stored")
    try:
        return key.decrypt(
            sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], _VISIT_AD + _day_bytes(day) + checkin_id
        )
    except InvalidTag as exc:
        raise DecryptError(
            f"check-in {checkin_id.hex()[:8]}..: ciphertext does not open under day {day}"
        ) from exc


def _tag_key(raw_day_key: bytes) -> Cipher:
    return Cipher(algorithms.AES(hmac.digest(raw_day_key, _TAG_LABEL, "sha256")), modes.ECB())


def _mark_key(raw_day_key: bytes) -> Cipher:
    return Cipher(algorithms.AES(hmac.digest(raw_day_key, _MARK_LABEL, "sha256")), modes.ECB())


def _masks(mark_key: Cipher, checkin_ids: list[bytes]) -> list[int]:
    """A pseudo-random byte per row under the day's mark key: the first byte of AES of its
    check-in id (16 bytes, unique per row: one block, so each row gets its own mask)."""
    out = mark_key.encryptor().update(_mask_blocks(checkin_ids))
    return list(out[::16])


def _mask_blocks(checkin_ids: list[bytes]) -> bytes:
    """The blocks :func:`_masks` encrypts: the check-in ids, each checked to be one block."""
    if checkin_ids and set(map(len, checkin_ids)) != {16}:
        raise DecryptError("a check-in id is 16 bytes")
    return b"".join(checkin_ids)  # bytes or memoryviews (PostgreSQL's bytea)


def _tags(tag_key: Cipher, credential_ids: list[bytes]) -> list[bytes]:
    """The tags of credential ids under a day's tag key: AES-256 of one block each.

    The block is the id's length, the id and zeros (ids are at most 15 bytes), so
    distinct ids give distinct blocks; one AES call for them all (a trace computes a
    few hundred: days x credentials).
    """
    return _tags_of_blocks(tag_key, _tag_blocks(credential_ids))


def _tag_blocks(credential_ids: list[bytes]) -> bytes:
    """The plaintext blocks of :func:`_tags`, the same on every day: made once per trace."""
    blocks = []
    for credential_id in credential_ids:
        if len(credential_id) >= VISIT_TAG_SIZE:
            raise VaultError("a credential id is shorter than a visit tag")
        blocks.append(bytes([len(credential_id)]) + bytes(credential_id).ljust(15, b"\x00"))
    return b"".join(blocks)


def _key_rows_state(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """What rows of :meth:`Vault.day_key_query` say, comparable: (day, wrapped, destroyed)."""
    return tuple(sorted((day, bytes(wrapped), bool(destroyed)) for day, wrapped, destroyed in rows))


def _id_of_block(block: bytes) -> bytes | None:
    """The credential id in a block of :func:`_tag_blocks`; None if it is not one."""
    size = block[0]
    if not 0 < size < VISIT_TAG_SIZE or any(block[1 + size :]):
        return None
    return block[1 : 1 + size]


def _tags_of_blocks(tag_key: Cipher, blocks: bytes) -> list[bytes]:
    out = tag_key.encryptor().update(blocks)
    return [out[at : at + VISIT_TAG_SIZE] for at in range(0, len(out), VISIT_TAG_SIZE)]


def destroyed_days() -> set[int]:
    """Days whose data keys are gone."""
    return {row.day for row in DayKey.select(DayKey.day).where(DayKey.destroyed)}


_installed: Vault | None = None


def install(vault: Vault | None) -> None:
    """Make ``vault`` the one this process seals new check-ins with (None to remove it)."""
    global _installed
    _installed = vault


def forget_in_installed(days: list[int]) -> None:
    """Make the vault installed in this process (if any) drop tracing's keys of ``days``."""
    if _installed is not None:
        _installed.forget_derived(days)


def installed() -> Vault:
    """The vault installed for this process; raises VaultError if there is none."""
    if _installed is None:
        raise VaultError("no data vault installed: refusing to store a readable visit")
    return _installed
