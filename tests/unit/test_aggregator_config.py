"""Aggregator configuration read from TOML (aggregator.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import AggregatorConfig, ConfigError, load_config
from transport.settings import MqttSettings

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


# --- values checked up front -----------------------------------------------------------------


def _parse(**changes: object) -> AggregatorConfig:
    from aggregator.config import parse_config

    section: dict[str, object] = {
        "origin": "ledger.example/safecode",
        "database_url": "sqlite:///ledger.sqlite",
        "ledger_key": "ledger.key",
        "issuer_key": "issuer.key",
    }
    section.update(changes)
    return parse_config({"aggregator": section}, base=Path("/srv/site"))


def test_checked_defaults_pass() -> None:
    config = _parse()
    assert (config.batch_size, config.batch_interval_s, config.http_port) == (1000, 0.25, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("origin", "a"),
        ("origin", "ledger.example/safecode"),
        ("origin", "x" * 128),
        ("origin", "A-1_b.c/d"),
        ("batch_size", 1),
        ("batch_size", 5000),
        ("batch_interval_s", 60),
        ("batch_interval_s", 0.001),
        ("batch_interval_s", 1),
        ("window_s", 0),
        ("window_s", 3600),
        ("skew_s", 0),
        ("skew_s", 3600),
        ("http_port", 1),
        ("http_port", 65535),
        ("ingest_workers", 1),
        ("ingest_workers", 64),
        ("ingest_batch", 5000),
        ("ingest_linger_s", 0),
        ("ingest_linger_s", 1),
        ("shared_group", "ingest-1_a"),
        ("client_id", "aggregator.a-1_b"),
        ("issuer_cache_size", 1),
        ("counter_flush_s", 0.1),
        ("log_lines_per_reason", 1),
        ("log_interval_s", 3600),
    ],
)
def test_values_at_the_limits_are_accepted(name: str, value: object) -> None:
    assert getattr(_parse(**{name: value}), name) == value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("origin", ""),
        ("origin", " x"),
        ("origin", "x "),
        ("origin", "a b"),
        ("origin", "x+y"),
        ("origin", "-x"),
        ("origin", "/x"),
        ("origin", "x\n"),
        ("origin", "x" * 129),
        ("origin", "\u00e9t\u00e9"),
        ("origin", 5),
        ("origin", ["x"]),
        ("batch_size", 0),
        ("batch_size", -1),
        ("batch_size", 5001),
        ("batch_size", 1.5),
        ("batch_size", 100.0),
        ("batch_size", True),
        ("batch_size", "10"),
        ("batch_interval_s", 0),
        ("batch_interval_s", 0.0),
        ("batch_interval_s", -1),
        ("batch_interval_s", 60.5),
        ("batch_interval_s", float("nan")),
        ("batch_interval_s", float("inf")),
        ("batch_interval_s", float("-inf")),
        ("batch_interval_s", "1"),
        ("batch_interval_s", True),
        ("batch_interval_s", None),
        ("window_s", -1),
        ("window_s", 1.5),
        ("window_s", 30.0),
        ("window_s", 3601),
        ("window_s", True),
        ("window_s", "30"),
        ("skew_s", -1),
        ("skew_s", 0.5),
        ("skew_s", 5.0),
        ("skew_s", 3601),
        ("skew_s", False),
        ("http_port", 0),
        ("http_port", -1),
        ("http_port", 65536),
        ("http_port", 70000),
        ("http_port", "80"),
        ("http_port", 80.0),
        ("http_port", True),
        ("ingest_workers", 0),
        ("ingest_workers", 65),
        ("ingest_workers", 2.0),
        ("ingest_workers", True),
        ("ingest_batch", 0),
        ("ingest_linger_s", -0.01),
        ("ingest_linger_s", 1.5),
        ("ingest_linger_s", float("nan")),
        ("ingest_linger_s", True),
        ("shared_group", ""),
        ("shared_group", "a/b"),
        ("shared_group", "#"),
        ("shared_group", 5),
        ("client_id", ""),
        ("client_id", "a b"),
        ("client_id", "x" * 65),
        ("issuer_cache_size", 0),
        ("counter_flush_s", 0),
        ("counter_flush_s", float("nan")),
        ("counter_flush_s", True),
        ("log_lines_per_reason", 0),
        ("log_interval_s", -1),
    ],
)
def test_bad_values_are_refused_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"aggregator\.{name}\b"):
        _parse(**{name: value})


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ('origin = "a b"', "origin"),
        ("batch_size = 0", "batch_size"),
        ("batch_size = 5001", "batch_size"),
        ("batch_size = 1.5", "batch_size"),
        ("batch_size = true", "batch_size"),
        ("batch_interval_s = 0", "batch_interval_s"),
        ("batch_interval_s = -1", "batch_interval_s"),
        ("batch_interval_s = nan", "batch_interval_s"),
        ("batch_interval_s = inf", "batch_interval_s"),
        ('batch_interval_s = "1"', "batch_interval_s"),
        ("window_s = -1", "window_s"),
        ("window_s = 2.5", "window_s"),
        ("skew_s = -5", "skew_s"),
        ("skew_s = 1.0", "skew_s"),
        ("http_port = 0", "http_port"),
        ("http_port = 70000", "http_port"),
        ('http_port = "80"', "http_port"),
    ],
)
def test_bad_values_in_a_file_are_refused_naming_the_field(
    tmp_path: Path, line: str, name: str
) -> None:
    key, value = line.split(" = ")
    text = minimal(**{key: value})
    with pytest.raises(ConfigError, match=rf"aggregator\.{name}\b"):
        load_config(write(tmp_path, text))
