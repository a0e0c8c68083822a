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

from aggregator.issuer.settings import new_pepper
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

    @property
    def pepper(self) -> Path:
        """The issuer's phone-tag pepper: beside the issuer key, out of the database."""
        return self.folder / "issuer" / "phone-tag.pepper"

    @property
    def authority_public(self) -> Path:
        """The health authority's public key text (its private half never comes here)."""
        return self.folder / "public" / "authority.pub"

    def issuer_settings(self, authority_key_text: str, time_zone: str) -> dict[str, str]:
        """The ``[issuer]`` table: the HA key and pepper files are written if missing.

        The pepper is made once and never replaced: a new pepper would orphan every
        phone-number tag already stored.
        """
        private_dir(self.pepper.parent)
        if not self.pepper.exists():
            fd = os.open(self.pepper, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(new_pepper())
        private_dir(self.authority_public.parent)
        self.authority_public.write_text(authority_key_text + "\n", encoding="ascii")
        self.authority_public.chmod(0o644)
        return {
            "authority_public_key": self._relative(self.authority_public),
            "pepper_file": self._relative(self.pepper),
            "time_zone": time_zone,
        }

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
