"""Where a laid-out site keeps the aggregator's keys: one folder per key, as the units do.

``keys/ledger/ledger.key``, ``keys/issuer/issuer.key``, ``keys/data/data-master.key``
(made by ingest on its first run) and the public did:key files in ``keys/public/``,
so each role can be given only the folders it opens (systemd ``InaccessiblePaths=``;
aggregator/key_files.py says which role opens which). Every folder is 0700, the key
files 0600, the public files 0644.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aggregator.key_files import write_did_file
from aggregator.vault import MASTER_KEY_FILE
from protocol import keys
from support.private_files import private_dir


@dataclass(frozen=True)
class SiteKeys:
    """The key files of a site whose aggregator config lives in ``base``."""

    base: Path

    @property
    def folder(self) -> Path:
        return self.base / "keys"

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger" / "ledger.key"

    @property
    def issuer(self) -> Path:
        return self.folder / "issuer" / "issuer.key"

    @property
    def data_master(self) -> Path:
        return self.folder / "data" / MASTER_KEY_FILE

    @property
    def ledger_public(self) -> Path:
        return self.folder / "public" / "ledger.key.pub"

    @property
    def issuer_public(self) -> Path:
        return self.folder / "public" / "issuer.key.pub"

    def config_settings(self) -> dict[str, str]:
        """The ``[aggregator]`` key settings naming each file, relative to the config."""
        return {
            "ledger_key": self._relative(self.ledger),
            "issuer_key": self._relative(self.issuer),
            "data_master_key": self._relative(self.data_master),
            "ledger_public_key": self._relative(self.ledger_public),
            "issuer_public_key": self._relative(self.issuer_public),
        }

    def ensure(self) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
        """The ledger and issuer keys (made if missing) and their public files.

        The data folder is made empty: ingest makes the data master key on first run.
        A site laid out flat by an older version keeps its keys: they are moved in.
        """
        for path in (self.ledger, self.issuer, self.data_master, self.ledger_public):
            private_dir(path.parent)
        self._adopt_flat_keys()
        ledger, _ = keys.load_or_create_private(self.ledger)
        issuer, _ = keys.load_or_create_private(self.issuer)
        write_did_file(ledger, self.ledger_public)  # what the read API hands to kiosks
        write_did_file(issuer, self.issuer_public)
        return ledger, issuer

    def _adopt_flat_keys(self) -> None:
        """Move the keys of an older flat layout (beside the config) into their folders."""
        for path in (self.ledger, self.issuer, self.data_master):
            flat = self.base / path.name  # the same file names, all beside aggregator.toml
            if flat.exists() and not path.exists():
                os.replace(flat, path)
                keys.public_file(flat).unlink(missing_ok=True)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.base).as_posix()
