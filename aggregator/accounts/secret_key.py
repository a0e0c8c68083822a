"""The key that signs the staff session cookie: read from a file, made on first run.

The file (``[web] secret_key_file``; default ``web-secret.key`` beside the config) holds
64 random bytes as hex and is made 0600 if missing, atomically (written aside, then
hard-linked into place, so two gunicorn workers starting at once end up with one key).
It is never stored in the database: a database copy must not let anyone forge a cookie.
A file that others may read is refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from support.private_files import private_dir

from .errors import SecretKeyError

KEY_BYTES = 64


def _read(path: Path) -> bytes:
    info = path.stat()
    if info.st_mode & 0o077:
        raise SecretKeyError(f"{path} may be read by others: chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise SecretKeyError(f"{path} does not hold a hex key") from exc
    if len(key) < 32:
        raise SecretKeyError(f"{path} holds fewer than 32 bytes")
    return key


def load_or_create(path: Path) -> bytes:
    """The key in ``path``; made (0600, in a 0700 folder if new) when the file is missing."""
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the session key {path}: {exc}") from exc
    try:
        private_dir(path.parent)
        aside = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(KEY_BYTES) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it: use theirs
                os.link(aside, path)
        finally:
            aside.unlink(missing_ok=True)
        return _read(path)
    except OSError as exc:
        raise SecretKeyError(f"cannot make the session key {path}: {exc}") from exc
