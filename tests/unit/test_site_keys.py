"""``provision init-site`` lays the aggregator's keys out by role (provisioning/site_keys.py)."""

from __future__ import annotations

import stat
from pathlib import Path

from aggregator import key_files
from aggregator.config import load_config
from protocol import keys
from simulator.site import init_simulated_site


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_site_gives_each_key_its_own_folder(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    folder = site.keys.folder
    assert folder == site.aggregator_config.parent / "keys"
    contents = {p.name: sorted(c.name for c in p.iterdir()) for p in folder.iterdir()}
    assert contents == {
        "ledger": ["ledger.key"],
        "issuer": ["issuer.key"],
        "data": [],  # ingest makes the data master key on its first run
        "public": ["issuer.key.pub", "ledger.key.pub"],
    }
    assert {_mode(p) for p in (folder, *folder.iterdir())} == {0o700}
    assert _mode(site.keys.ledger) == _mode(site.keys.issuer) == 0o600
    assert _mode(site.keys.ledger_public) == _mode(site.keys.issuer_public) == 0o644
    assert not list(site.aggregator_config.parent.glob("*.key*")), "no key left flat"
    # aggregator.toml names every file: no role depends on the fallbacks.
    config = load_config(site.aggregator_config)
    assert (config.ledger_key_path, config.issuer_key_path) == (site.keys.ledger, site.keys.issuer)
    assert config.data_master_key_path == site.keys.data_master
    assert config.ledger_public_key_path == site.keys.ledger_public
    assert config.issuer_public_key_path == site.keys.issuer_public
    ledger = keys.load_private(site.keys.ledger)
    assert key_files.read_did_file(site.keys.ledger_public) == keys.did_key(ledger)
    key_files.data_vault(config)
    assert [p.name for p in (folder / "data").iterdir()] == ["data-master.key"]
    assert _mode(site.keys.data_master) == 0o600


def test_init_site_again_over_a_flat_site_keeps_its_keys(tmp_path: Path) -> None:
    site = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    key_files.data_vault(load_config(site.aggregator_config))
    flat = site.aggregator_config.parent
    made = [site.keys.ledger, site.keys.issuer, site.keys.data_master]
    before = [p.read_bytes() for p in made]
    for path in [*made, site.keys.ledger_public, site.keys.issuer_public]:
        path.rename(flat / path.name)  # the layout of sites laid out before keys had folders
    again = init_simulated_site(tmp_path / "site", kiosks=1, visitors=1)
    assert [p.read_bytes() for p in made] == before
    assert again.ledger_vkey == site.ledger_vkey
    assert not list(flat.glob("*.key*"))


def test_a_site_given_the_authority_key_issues(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from aggregator.issuer.settings import parse_issuer_table
    from protocol.authority_key import format_public_key
    from safecode.cli import cli

    text = format_public_key(X25519PrivateKey.generate())
    (tmp_path / "ha.pub").write_text(text + "\n")
    args = ["provision", "init-site", str(tmp_path / "site"), "--kiosks", "1", "--visitors", "0"]
    result = CliRunner().invoke(cli, [*args, "--authority-key", str(tmp_path / "ha.pub")])
    assert result.exit_code == 0, result.output
    config_path = tmp_path / "site" / "aggregator" / "aggregator.toml"
    config = load_config(config_path)
    assert config.issuer is not None
    settings = parse_issuer_table(config.issuer, base=config_path.parent)
    assert settings.authority_key_text == text and len(settings.pepper) == 32
    pepper = config_path.parent / "keys" / "issuer" / "phone-tag.pepper"
    assert _mode(pepper) == 0o600
    again = init_simulated_site(tmp_path / "site", kiosks=1, visitors=0, authority_key=text)
    assert again.keys.pepper.read_bytes() == settings.pepper  # never replaced: tags stay valid
    (tmp_path / "junk.pub").write_text("safecode-ha-x25519:nope\n")
    junk = CliRunner().invoke(cli, [*args, "--authority-key", str(tmp_path / "junk.pub")])
    assert junk.exit_code != 0 and "health authority key" in junk.output
