"""Each aggregator role starts with only the key files its job needs (aggregator/key_files.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator import key_files
from aggregator.config import ConfigError, load_config
from aggregator.service import AggregatorService
from aggregator.vault import MASTER_KEY_FILE
from aggregator.web import create_app_from_config
from protocol import keys
from safecode.cli import cli
from simulator.site import init_simulated_site
from tests.unit.fake_bus import QueueBus


class Site:
    """A simulated site, its keys laid out by role by init-site; ``hide`` takes a folder away."""

    def __init__(self, root: Path) -> None:
        laid_out = init_simulated_site(root / "site", kiosks=0, visitors=1)
        self.config_path = laid_out.aggregator_config
        self.key_paths = laid_out.keys
        self.keys = laid_out.keys.folder
        self.aside = root / "aside"
        self.aside.mkdir()
        self.ledger_did = laid_out.keys.ledger_public.read_text().strip()
        self.issuer_did = laid_out.keys.issuer_public.read_text().strip()

    def hide(self, *names: str) -> None:
        for name in names:
            shutil.move(str(self.keys / name), str(self.aside / name))


def flatten(site: Site) -> Path:
    """Move the keys back to the flat layout of older sites (beside the config); its folder."""
    folder = site.config_path.parent
    paths = site.key_paths
    for path in (paths.ledger, paths.issuer, paths.ledger_public, paths.issuer_public):
        path.rename(folder / path.name)
    shutil.rmtree(site.keys)
    text = site.config_path.read_text()
    for name in ("data_master_key", "ledger_public_key", "issuer_public_key"):
        text = "".join(line for line in text.splitlines(True) if not line.startswith(name))
    text = text.replace('"keys/ledger/ledger.key"', '"ledger.key"')
    site.config_path.write_text(text.replace('"keys/issuer/issuer.key"', '"issuer.key"'))
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_the_config_names_each_key_file(site: Site) -> None:
    config = load_config(site.config_path)
    assert config.ledger_key_path == site.keys / "ledger" / "ledger.key"
    assert config.issuer_key_path == site.keys / "issuer" / "issuer.key"
    assert key_files.data_master_key_path(config) == site.keys / "data" / MASTER_KEY_FILE
    assert key_files.ledger_public_path(config) == site.keys / "public" / "ledger.key.pub"
    assert key_files.issuer_public_path(config) == site.keys / "public" / "issuer.key.pub"


def test_older_configs_find_the_keys_where_they_were(site: Site) -> None:
    folder = flatten(site)
    config = load_config(site.config_path)
    assert key_files.data_master_key_path(config) == folder / MASTER_KEY_FILE
    assert key_files.ledger_public_path(config) == folder / "ledger.key.pub"
    assert key_files.issuer_public_path(config) == folder / "issuer.key.pub"
    # A layout with no public file yet: ingest writes it once from the key, as before.
    (folder / "issuer.key.pub").unlink()
    issuer = keys.load_private(folder / "issuer.key")
    assert key_files.issuer_public_keys(config)[0] == issuer.public_key()
    assert (folder / "issuer.key.pub").read_text().strip() == keys.did_key(issuer)


@pytest.mark.parametrize("value", ['""', "3", "[]"])
def test_a_key_file_setting_must_be_a_path(site: Site, value: str) -> None:
    text = site.config_path.read_text()
    site.config_path.write_text(text.replace('"keys/data/data-master.key"', value))
    with pytest.raises(ConfigError, match="data_master_key"):
        load_config(site.config_path)


def start(site: Site, *roles: str) -> AggregatorService:
    service = AggregatorService(
        load_config(site.config_path), QueueBus(), on_event=lambda line: None, roles=set(roles)
    )
    service.db.close()
    return service


def test_ingest_needs_no_issuer_private_key(site: Site) -> None:
    site.hide("issuer")
    service = start(site, "ingest")
    assert [keys.did_key(k) for k in service.ingestor.issuer_keys] == [site.issuer_did]
    assert (site.keys / "data" / MASTER_KEY_FILE).exists()  # made on first use, in its folder


def test_the_sequencer_needs_only_the_ledger_key(site: Site) -> None:
    site.hide("issuer", "data")
    service = start(site, "sequence")
    assert keys.did_key(service.sequencer.ledger_key) == site.ledger_did
    assert not (site.keys / "data").exists()  # no data master key made or read


def test_the_read_api_needs_no_private_key(site: Site) -> None:
    site.hide("ledger", "issuer", "data")
    app = create_app_from_config(site.config_path)
    trust = app.config["KIOSK_TRUST"]
    assert trust is not None  # enrolment works from the public files alone
    assert (trust.ledger_key, trust.issuer_keys) == (site.ledger_did, (site.issuer_did,))
    assert app.test_client().get("/healthz").status_code == 200


def test_retention_needs_no_key(site: Site) -> None:
    site.hide("ledger", "issuer", "data")
    result = CliRunner().invoke(cli, ["aggregator", "retention", "--config", str(site.config_path)])
    assert result.exit_code == 0, result.output
