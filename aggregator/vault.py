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

Visit tags (aggregator/trace/): each row also holds ``visit_tag`` = HMAC-SHA-256 of the
visitor's credential id (16 bytes kept) under a key derived by HMAC from the row's day
key, so tracing finds a credential's visits through an index while that key lives.
:meth:`Vault.day_keys` reads the keys a tracing query needs in one query, from the
database (never the sealing cache), so a destroyed day gives neither tags nor records.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import peewee
from cryptography.exceptions import InvalidTag
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
        self._tag_cache: dict[int, bytes] = {}

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> Vault:
        """A vault with the master key at ``path`` (made there if ``create`` and absent)."""
        return cls(load_master_key(path, create=create))

    # --- day keys -------------------------------------------------------------------------

    def _unwrap(self, row: DayKey) -> AESGCM:
        return AESGCM(self._unwrap_raw(row))

    def _unwrap_raw(self, row: DayKey) -> bytes:
        if row.destroyed:
            raise KeyDestroyedError(f"the data key of day {row.day} was destroyed")
        wrapped = bytes(row.wrapped)
        try:
            raw = self._master.decrypt(
                wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _WRAP_AD + _day_bytes(row.day)
            )
        except InvalidTag as exc:
            raise DecryptError(
                f"the data key of day {row.day} does not open: wrong master key?"
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

    # --- visits ---------------------------------------------------------------------------

    def seal(self, checkin_id: bytes, wire: bytes, day: int) -> bytes:
        """Encrypt a check-in's signed record under day ``day``'s key: nonce || ciphertext."""
        key = self._key_for_sealing(day)
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + key.encrypt(nonce, wire, _VISIT_AD + _day_bytes(day) + checkin_id)

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
        if day not in self._tag_cache:
            self._key_for_sealing(day)
        return _tag(self._tag_cache[day], credential_id)

    def day_keys(self, days: list[int]) -> DayKeys:
        """The keys of ``days`` read from the database now, in one query (never a cache)."""
        found: dict[int, tuple[AESGCM, bytes] | VaultError] = {}
        wanted = sorted(set(days))
        if wanted:
            db = DayKey._meta.database
            p = db.param
            sql = (
                f'SELECT "day", "wrapped", "destroyed" FROM "{DayKey._meta.table_name}"'
                f' WHERE "day" IN ({", ".join([p] * len(wanted))})'
            )
            for day, wrapped, destroyed in db.execute_sql(sql, wanted).fetchall():
                row = DayKey(day=day, wrapped=wrapped, destroyed=bool(destroyed))
                try:
                    raw = self._unwrap_raw(row)
                except VaultError as exc:
                    found[day] = exc
                    continue
                found[day] = (AESGCM(raw), _tag_key(raw))
        return DayKeys(found)

    def lookup_tags(self, days: list[int], credential_ids: list[bytes]) -> dict[bytes, bytes]:
        """Tag -> credential id for every credential on every day whose key still exists."""
        return self.day_keys(days).tags(credential_ids)

    def open_many(self, items: list[tuple[bytes, int, bytes]]) -> list[bytes | VaultError]:
        """Open several ``(checkin_id, day, sealed)``: each record, or why it cannot be read."""
        return self.day_keys([day for _, day, _ in items]).open_many(items)


class DayKeys:
    """Some days' keys, read once for one tracing query; forgotten with the object.

    A destroyed day, or one whose key was never made, has no key here: its tags cannot
    be computed and its records cannot be opened.
    """

    def __init__(self, keys: dict[int, tuple[AESGCM, bytes] | VaultError]) -> None:
        self._keys = keys

    def _key(self, day: int) -> tuple[AESGCM, bytes] | VaultError:
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = NoKeyError(f"no data key was made for day {day}")
        return key

    def tags(self, credential_ids: list[bytes]) -> dict[bytes, bytes]:
        """Tag -> credential id, for each credential on each day with a usable key."""
        tags: dict[bytes, bytes] = {}
        for key in self._keys.values():
            if isinstance(key, tuple):
                for credential_id in credential_ids:
                    tags[_tag(key[1], credential_id)] = credential_id
        return tags

    def tag(self, day: int, credential_id: bytes) -> bytes:
        """The visit tag of ``credential_id`` on ``day``; VaultError if its key is unusable."""
        key = self._key(day)
        if isinstance(key, VaultError):
            raise key
        return _tag(key[1], credential_id)

    def open_many(self, items: list[tuple[bytes, int, bytes]]) -> list[bytes | VaultError]:
        """Open several ``(checkin_id, day, sealed)``: each record, or why it cannot be read."""
        opened: list[bytes | VaultError] = []
        for checkin_id, day, sealed in items:
            key = self._key(day)
            if isinstance(key, VaultError):
                opened.append(key)
                continue
            try:
                opened.append(_open_visit(key[0], checkin_id, day, sealed))
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


def _tag_key(raw_day_key: bytes) -> bytes:
    return hmac.digest(raw_day_key, _TAG_LABEL, "sha256")


def _tag(tag_key: bytes, credential_id: bytes) -> bytes:
    return hmac.digest(tag_key, credential_id, "sha256")[:VISIT_TAG_SIZE]


def destroyed_days() -> set[int]:
    """Days whose data keys are gone."""
    return {row.day for row in DayKey.select(DayKey.day).where(DayKey.destroyed)}


_installed: Vault | None = None


def install(vault: Vault | None) -> None:
    """Make ``vault`` the one this process seals new check-ins with (None to remove it)."""
    global _installed
    _installed = vault


def installed() -> Vault:
    """The vault installed for this process; raises VaultError if there is none."""
    if _installed is None:
        raise VaultError("no data vault installed: refusing to store a readable visit")
    return _installed
