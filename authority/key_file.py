"""The health authority's key file: X25519 in PKCS#8 PEM, encrypted under a passphrase.

The encryption is PBES2 with PBKDF2-HMAC-SHA-256 at 600,000 iterations and AES-256-CBC
(``authority/pbes2.py``); files written before at 2,048 iterations still open.

``write_authority_key`` writes the private key 0600 and its public text form
(``protocol.authority_key``) beside it as ``FILE.pub``; neither file is ever
overwritten. ``load_authority_key`` opens it again, with a clear error for a wrong
passphrase or a file that is not an authority key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.authority_key import format_public_key
from support.private_files import PRIVATE_FILE_MODE, private_dir

from .pbes2 import encrypt_pkcs8

MIN_PASSPHRASE_CHARS = 12
PUBLIC_FILE_MODE = 0o644
PUBLIC_SUFFIX = ".pub"


class AuthorityKeyError(Exception):
    """The key file cannot be written or opened (exists, wrong passphrase, not an HA key)."""


def check_passphrase(passphrase: str) -> bytes:
    """The passphrase as UTF-8, or AuthorityKeyError if it is shorter than the minimum."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise AuthorityKeyError(
            f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters"
        )
    return passphrase.encode("utf-8")


def public_file(private_path: Path) -> Path:
    """Where the public key of ``private_path`` is written: ``FILE.pub``."""
    return private_path.with_name(private_path.name + PUBLIC_SUFFIX)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` and write ``data``; never opens an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise AuthorityKeyError(f"{path} already exists; it is never overwritten") from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # the umask may have taken bits
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_authority_key(key: X25519PrivateKey, path: Path, passphrase: str) -> Path:
    """Write ``key`` encrypted under ``passphrase`` to ``path`` (0600) and ``path.pub``."""
    secret = check_passphrase(passphrase)
    path = Path(path)
    public_path = public_file(path)
    for existing in (path, public_path):
        if existing.exists() or existing.is_symlink():
            raise AuthorityKeyError(f"{existing} already exists; it is never overwritten")
    info = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = encrypt_pkcs8(info, secret)
    private_dir(path.parent)
    _write_new(path, pem, PRIVATE_FILE_MODE)
    _write_new(public_path, (format_public_key(key) + "\n").encode("ascii"), PUBLIC_FILE_MODE)
    return public_path


def load_authority_key(path: Path | str, passphrase: str) -> X25519PrivateKey:
    """Open the encrypted key file, or raise AuthorityKeyError saying what is wrong."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise AuthorityKeyError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode("utf-8"))
    except TypeError as exc:  # the file is not encrypted
        raise AuthorityKeyError(f"{path} is not passphrase-encrypted") from exc
    except ValueError as exc:
        raise AuthorityKeyError(
            f"cannot open {path}: wrong passphrase, or not a PEM private key"
        ) from exc
    if not isinstance(key, X25519PrivateKey):
        raise AuthorityKeyError(f"{path} holds a {type(key).__name__}, not an X25519 key")
    return key
