"""The HA key file's PBES2 encryption at today's PBKDF2 cost (authority/pbes2.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from authority.key_file import load_authority_key, write_authority_key
from authority.pbes2 import PBKDF2_ITERATIONS, encrypt_pkcs8, pbkdf2_iterations

PASSPHRASE = "correct horse battery"


def test_a_new_key_file_costs_today_s_pbkdf2_iterations(tmp_path: Path) -> None:
    write_authority_key(X25519PrivateKey.generate(), tmp_path / "ha.pem", PASSPHRASE)
    assert PBKDF2_ITERATIONS >= 600_000
    assert pbkdf2_iterations((tmp_path / "ha.pem").read_bytes()) == PBKDF2_ITERATIONS


@pytest.mark.spawns
def test_openssl_reads_the_structure(tmp_path: Path) -> None:
    """Another implementation than ours agrees: PBES2, PBKDF2 with HMAC-SHA-256, AES-256."""
    write_authority_key(X25519PrivateKey.generate(), tmp_path / "ha.pem", PASSPHRASE)
    shown = subprocess.run(
        ["openssl", "asn1parse", "-in", str(tmp_path / "ha.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc", ":0927C0"):
        assert name in shown, shown


def test_a_file_written_at_the_old_cost_still_opens(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    old = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    (tmp_path / "old.pem").write_bytes(old)
    assert pbkdf2_iterations(old) < PBKDF2_ITERATIONS
    loaded = load_authority_key(tmp_path / "old.pem", PASSPHRASE)
    assert loaded.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()


def test_each_file_has_its_own_salt_and_iv() -> None:
    info = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    first, second = (encrypt_pkcs8(info, b"passphrase!!", 1_000) for _ in range(2))
    assert first != second
    for pem in (first, second):
        key = serialization.load_pem_private_key(pem, password=b"passphrase!!")
        assert isinstance(key, X25519PrivateKey)


def test_zero_iterations_are_refused() -> None:
    with pytest.raises(ValueError, match="iteration"):
        encrypt_pkcs8(b"x", b"passphrase!!", 0)


@given(st.binary(max_size=400))
def test_anything_else_is_a_value_error(junk: bytes) -> None:
    pem = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + junk + b"\n-----END ENCRYPTED PRIVATE KEY-----"
    )
    for text in (junk, pem):
        with pytest.raises(ValueError):
            pbkdf2_iterations(text)
