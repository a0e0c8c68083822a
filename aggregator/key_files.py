"""Which key file each aggregator role opens, and where the config says it is.

Each process holds only the keys its job needs:

- ingest: the issuer *public* key, the data master key (it seals visits) and the
  ledger key (it signs refusals and repeated receipts);
- sequencer: the ledger key;
- read API: public key files only;
- ``revoke``: the ledger key (it signs kiosk configs);
- ``retention``: none (it empties wrapped day keys in the database).

The config names each file (``[aggregator]``: ``ledger_key``, ``issuer_key``, and the
optional ``data_master_key``, ``ledger_public_key``, ``issuer_public_key``). A setting
left out falls back to where older configs kept the file: ``data-master.key`` beside
the ledger key, ``<key>.pub`` beside each key. So a layout can give each key its own
folder (``keys/ledger/``, ``keys/issuer/``, ``keys/data/``, ``keys/public/``) and each
systemd unit only the folders its role needs.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import keys

from .config import AggregatorConfig
from .vault import MASTER_KEY_FILE, Vault


def data_master_key_path(config: AggregatorConfig) -> Path:
    """The data master key: ``data_master_key``, else ``data-master.key`` by the ledger key."""
    if config.data_master_key_path is not None:
        return config.data_master_key_path
    return config.ledger_key_path.parent / MASTER_KEY_FILE


def ledger_public_path(config: AggregatorConfig) -> Path:
    """The ledger's did:key file: ``ledger_public_key``, else ``<ledger_key>.pub``."""
    return config.ledger_public_key_path or keys.public_file(config.ledger_key_path)


def issuer_public_path(config: AggregatorConfig) -> Path:
    """The issuer's did:key file: ``issuer_public_key``, else ``<issuer_key>.pub``."""
    return config.issuer_public_key_path or keys.public_file(config.issuer_key_path)


def read_did_file(path: Path) -> str:
    """The did:key text in ``path``, checked; OSError or a ProtocolError."""
    text = Path(path).read_text(encoding="utf-8").strip()
    keys.load_public(keys.parse_did_key(text))
    return text


def write_did_file(key: Ed25519PrivateKey, path: Path) -> None:
    """Write (or refresh) the did:key of ``key`` at ``path``, world-readable."""
    text = keys.did_key(key) + "\n"
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def issuer_public_keys(config: AggregatorConfig) -> list[Ed25519PublicKey]:
    """The issuer keys ingest trusts, from the public file.

    An older layout may have no public file yet: then the private key is read once to
    write it (as every process did before), and only its public half is kept.
    """
    public = issuer_public_path(config)
    if not public.exists():
        write_did_file(keys.load_private(config.issuer_key_path), public)
    return [keys.load_public(keys.parse_did_key(read_did_file(public)))]


def ledger_signing_key(config: AggregatorConfig) -> Ed25519PrivateKey:
    """The ledger key, its public file written for the processes that may not read it."""
    ledger = keys.load_private(config.ledger_key_path)
    write_did_file(ledger, ledger_public_path(config))
    return ledger


def data_vault(config: AggregatorConfig) -> Vault:
    """The vault sealing visits, its master key made on first use."""
    return Vault.from_file(data_master_key_path(config), create=True)
