"""Reading a component's TOML config file, with errors that name the file."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Parsed = TypeVar("Parsed")


class ConfigError(ValueError):
    """A configuration is missing, malformed or inconsistent; the message says what."""


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML at ``path``, or ConfigError naming the file and the problem."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_config_file(path: Path, parse: Callable[..., Parsed]) -> Parsed:
    """Read the TOML at ``path`` and build a config with ``parse(data, base=...)``: relative
    paths in a config file are taken from the file's folder."""
    path = Path(path)
    return parse(read_toml(path), base=path.parent)
