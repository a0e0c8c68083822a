"""The health authority's key file and ``safecode authority keygen``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from authority.cli import authority_group
from authority.key_file import AuthorityKeyError, load_authority_key, write_authority_key
from protocol.authority_key import format_public_key, key_id, parse_public_key
from protocol.contact import Contact, open_contact, seal_contact

PASSPHRASE = "correct horse battery"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    public_path = write_authority_key(key, tmp_path / "ha.pem", PASSPHRASE)
    assert public_path == tmp_path / "ha.pem.pub"
    assert mode(tmp_path / "ha.pem") == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ha.pem").read_bytes()
    loaded = load_authority_key(tmp_path / "ha.pem", PASSPHRASE)
    public = parse_public_key(public_path.read_text().strip())
    contact = Contact("+821012345678", "ko", bytes(32))
    assert open_contact(loaded, seal_contact(public, contact)) == contact


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    write_authority_key(X25519PrivateKey.generate(), tmp_path / "ha.pem", PASSPHRASE)
    with pytest.raises(AuthorityKeyError, match="wrong passphrase"):
        load_authority_key(tmp_path / "ha.pem", PASSPHRASE + "!")


def test_unencrypted_or_foreign_keys_are_refused(tmp_path: Path) -> None:
    plain = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "plain.pem").write_bytes(plain)
    with pytest.raises(AuthorityKeyError, match="not passphrase-encrypted"):
        load_authority_key(tmp_path / "plain.pem", PASSPHRASE)
    with pytest.raises(AuthorityKeyError, match="cannot read"):
        load_authority_key(tmp_path / "missing.pem", PASSPHRASE)


def test_short_passphrase_and_existing_files_are_refused(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    with pytest.raises(AuthorityKeyError, match="at least 12"):
        write_authority_key(key, tmp_path / "ha.pem", "short")
    assert not (tmp_path / "ha.pem").exists()
    (tmp_path / "ha.pem.pub").write_text("someone else's\n")
    with pytest.raises(AuthorityKeyError, match="never overwritten"):
        write_authority_key(key, tmp_path / "ha.pem", PASSPHRASE)
    assert not (tmp_path / "ha.pem").exists()


def keygen(tmp_path: Path, *args: str, stdin: str | None = None):  # noqa: ANN201
    return CliRunner().invoke(authority_group, ["keygen", *args], input=stdin)


def test_keygen_with_a_passphrase_file(tmp_path: Path) -> None:
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    out = tmp_path / "keys" / "ha.pem"
    done = keygen(tmp_path, "--out", str(out), "--passphrase-file", str(tmp_path / "pass"))
    assert done.exit_code == 0, done.output
    assert mode(out) == 0o600 and mode(out.parent) == 0o700
    key = load_authority_key(out, PASSPHRASE)
    assert f"public key: {format_public_key(key)}" in done.output
    assert f"key id: {key_id(key)}" in done.output
    assert (tmp_path / "keys" / "ha.pem.pub").read_text() == format_public_key(key) + "\n"
    assert PASSPHRASE not in done.output


def test_keygen_prompts_twice_and_never_echoes(tmp_path: Path) -> None:
    out = tmp_path / "ha.pem"
    done = keygen(tmp_path, "--out", str(out), stdin=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert done.exit_code == 0, done.output
    assert PASSPHRASE not in done.output
    load_authority_key(out, PASSPHRASE)
    mismatch = keygen(tmp_path, "--out", str(tmp_path / "b.pem"), stdin=f"{PASSPHRASE}\nother\n")
    assert mismatch.exit_code != 0 and not (tmp_path / "b.pem").exists()


def test_keygen_refuses_overwrite_and_short_passphrase(tmp_path: Path) -> None:
    out = tmp_path / "ha.pem"
    out.write_bytes(b"keep me")
    (tmp_path / "pass").write_text(PASSPHRASE)
    done = keygen(tmp_path, "--out", str(out), "--passphrase-file", str(tmp_path / "pass"))
    assert done.exit_code == 1 and "never overwritten" in done.output
    assert out.read_bytes() == b"keep me"
    (tmp_path / "short").write_text("elevenchars")
    other = tmp_path / "other.pem"
    done = keygen(tmp_path, "--out", str(other), "--passphrase-file", str(tmp_path / "short"))
    assert done.exit_code == 1 and "at least 12" in done.output
    assert "elevenchars" not in done.output and not other.exists()


def test_keygen_has_no_passphrase_option() -> None:
    done = CliRunner().invoke(authority_group, ["keygen", "--out", "x", "--passphrase", "y" * 20])
    assert done.exit_code == 2
