"""Aggregator configuration read from TOML (aggregator.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import AggregatorConfig, ConfigError, load_config
from protocol.broker import MqttSettings

FULL = """\
[aggregator]
origin = "ledger.example/safecode"
database_url = "sqlite:///data/ledger.sqlite"
ledger_key = "keys/ledger.key"
issuer_key = "issuer.key"
batch_size = 250
batch_interval_s = 0.5
window_s = 20
skew_s = 3
http_port = 8080

[mqtt]
host = "broker.internal"
port = 8883
username = "aggregator"
password = "s3cret"
tls = true
ca_file = "/etc/ssl/ca.pem"
keepalive = 60
"""

MINIMAL = {
    "origin": '"ledger.example/safecode"',
    "database_url": '"sqlite:///ledger.sqlite"',
    "ledger_key": '"ledger.key"',
    "issuer_key": '"issuer.key"',
}


def write(folder: Path, text: str, name: str = "aggregator.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def minimal(**changes: str | None) -> str:
    """The [aggregator] table with only required keys; None leaves a key out."""
    items = {**MINIMAL, **changes}
    body = "".join(f"{k} = {v}\n" for k, v in items.items() if v is not None)
    return "[aggregator]\n" + body


def test_full_file(tmp_path: Path) -> None:
    folder = tmp_path / "site" / "aggregator"
    config = load_config(write(folder, FULL))
    assert config == AggregatorConfig(
        origin="ledger.example/safecode",
        database_url=f"sqlite:///{folder.resolve() / 'data' / 'ledger.sqlite'}",
        ledger_key_path=folder / "keys" / "ledger.key",
        issuer_key_path=folder / "issuer.key",
        batch_size=250,
        batch_interval_s=0.5,
        window_s=20,
        skew_s=3,
        http_port=8080,
        mqtt=MqttSettings(
            host="broker.internal",
            port=8883,
            username="aggregator",
            password="s3cret",
            tls=True,
            ca_file="/etc/ssl/ca.pem",
            keepalive=60,
        ),
    )
    assert config.database_url.startswith("sqlite:////")


def test_minimal_file_takes_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, minimal()))
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/ledger.sqlite"
    assert config.ledger_key_path == tmp_path / "ledger.key"
    assert config.issuer_key_path == tmp_path / "issuer.key"
    assert (config.batch_size, config.batch_interval_s) == (1000, 0.25)
    assert (config.window_s, config.skew_s, config.http_port) == (30, 5, None)
    assert config.mqtt == MqttSettings()
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1883)


def test_relative_sqlite_path_is_taken_from_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf", minimal(database_url='"sqlite:///db/ledger.sqlite"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/aggregator.toml"))
    expected = tmp_path.resolve() / "conf" / "db" / "ledger.sqlite"
    assert config.database_url == f"sqlite:///{expected}"
    monkeypatch.chdir(elsewhere)
    assert load_config(tmp_path / "conf" / "aggregator.toml").database_url == config.database_url


def test_relative_parent_path_is_resolved(tmp_path: Path) -> None:
    path = write(tmp_path / "a" / "b", minimal(database_url='"sqlite:///../ledger.sqlite"'))
    assert load_config(path).database_url == f"sqlite:///{tmp_path.resolve()}/a/ledger.sqlite"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/safecode/ledger.sqlite",
        "postgresql://safecode@db.internal:5432/ledger",
        "postgres://localhost/ledger",
    ],
)
def test_absolute_and_server_urls_are_kept(tmp_path: Path, url: str) -> None:
    assert load_config(write(tmp_path, minimal(database_url=f'"{url}"'))).database_url == url


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "aggregator.toml"
    with pytest.raises(ConfigError, match="no such config file") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "[aggregator\norigin = 1\n",
        "[aggregator]\norigin = \n",
        '[aggregator]\norigin = "a"\norigin = "b"\n',
        "just words\n",
    ],
    ids=["unclosed-table", "no-value", "duplicate-key", "not-toml"],
)
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.toml"
    path.write_bytes(b'[aggregator]\norigin = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_aggregator_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lacks 'aggregator'"):
        load_config(write(tmp_path, '[mqtt]\nhost = "x"\n'))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lacks 'aggregator'"):
        load_config(write(tmp_path, ""))


@pytest.mark.parametrize("key", sorted(MINIMAL))
def test_missing_required_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"lacks '{key}'"):
        load_config(write(tmp_path, minimal(**{key: None})))


def test_unknown_aggregator_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid.*batchsize"):
        load_config(write(tmp_path, minimal(batchsize="10")))


def test_unknown_mqtt_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid.*hostname"):
        load_config(write(tmp_path, minimal() + '[mqtt]\nhostname = "x"\n'))


def test_database_url_must_be_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="database_url"):
        load_config(write(tmp_path, minimal(database_url="5")))


def test_aggregator_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aggregator"):
        load_config(write(tmp_path, 'aggregator = "x"\n'))


def test_config_path_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path)
