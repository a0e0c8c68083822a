"""The issuer's settings: the ``[issuer]`` table of the aggregator config.

``authority_public_key``: a file holding the health authority's public key text
(``safecode-ha-x25519:...``, as ``safecode authority keygen`` writes it beside the
private key); the HA's private key never reaches an aggregator.
``pepper_file``: at least 32 random bytes keying the phone-number index tags; kept out
of the database, so a copy of the database alone cannot test guesses of numbers.
``time_zone``: the IANA zone whose calendar days the day credentials follow
(default ``Asia/Seoul``). ``days_ahead``: how many days one batch covers, today
included (default 7, at most 14).
Limits: ``requests_per_minute`` per client address (default 30), ``enrolments_per_minute``
for the whole site (default 120) and ``enrolments_per_phone`` (default 5).
``proxy_hops``: how many reverse proxies of this site stand in front of the web app
(default 0); with N, a client's address is the Nth from the right in
``X-Forwarded-For`` (what those proxies append), else every visitor behind the
proxy would share one address's limit.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from protocol.authority_key import parse_public_key
from protocol.errors import MalformedError
from support.config_file import ConfigError

from ..phone_tag import PEPPER_MIN_SIZE

DEFAULT_TIME_ZONE = "Asia/Seoul"
DEFAULT_DAYS_AHEAD = 7
MAX_DAYS_AHEAD = 14
PEPPER_MAX_SIZE = 4096
DEFAULT_REQUESTS_PER_MINUTE = 30
DEFAULT_ENROLMENTS_PER_MINUTE = 120
DEFAULT_ENROLMENTS_PER_PHONE = 5
#: Optional integer limits and their (default, largest) values.
LIMITS = {
    "requests_per_minute": (DEFAULT_REQUESTS_PER_MINUTE, 1_000_000),
    "enrolments_per_minute": (DEFAULT_ENROLMENTS_PER_MINUTE, 1_000_000),
    "enrolments_per_phone": (DEFAULT_ENROLMENTS_PER_PHONE, 100),
    "proxy_hops": (0, 5),
}


@dataclass(frozen=True)
class IssuerSettings:
    """What issuing day credentials and cards needs besides the issuer's signing key."""

    authority_key: X25519PublicKey
    authority_key_text: str
    pepper: bytes
    time_zone: ZoneInfo
    days_ahead: int = DEFAULT_DAYS_AHEAD
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    enrolments_per_minute: int = DEFAULT_ENROLMENTS_PER_MINUTE
    enrolments_per_phone: int = DEFAULT_ENROLMENTS_PER_PHONE
    proxy_hops: int = 0


def parse_issuer_table(table: Any, *, base: Path) -> IssuerSettings:
    """Build IssuerSettings from the ``[issuer]`` table; relative paths from ``base``."""
    section = check_issuer_table(table, base=base)
    key_text = read_authority_key_text(Path(section["authority_public_key"]))
    limits = {name: section.get(name, default) for name, (default, _) in LIMITS.items()}
    return IssuerSettings(
        authority_key=parse_public_key(key_text),
        authority_key_text=key_text,
        pepper=read_pepper(Path(section["pepper_file"])),
        time_zone=time_zone(section.get("time_zone", DEFAULT_TIME_ZONE)),
        days_ahead=section.get("days_ahead", DEFAULT_DAYS_AHEAD),
        **limits,
    )


def _limits(section: dict[str, Any]) -> dict[str, int]:
    """The optional limits, taken out of ``section`` and checked."""
    limits = {}
    for name, (default, top) in LIMITS.items():
        value = section.pop(name, default)
        least = 0 if name == "proxy_hops" else 1
        if type(value) is not int or not least <= value <= top:
            raise ConfigError(f"issuer.{name} must be an integer from {least} to {top}")
        limits[name] = value
    return limits


def check_issuer_table(table: Any, *, base: Path) -> dict[str, Any]:
    """Check the ``[issuer]`` table's shape without reading its files.

    Returns a copy whose file paths are absolute (taken from ``base``), for
    ``parse_issuer_table`` to load later in the process that issues; the processes
    that do not (ingest, sequencer) never read the pepper.
    """
    if not isinstance(table, dict):
        raise ConfigError("config [issuer] must be a table")
    section = dict(table)
    for name in ("authority_public_key", "pepper_file"):
        if name not in section:
            raise ConfigError(f"config [issuer] lacks {name!r}")
        section[name] = str((_path(section[name], base, name)).absolute())
    rest = dict(section)
    del rest["authority_public_key"], rest["pepper_file"]
    time_zone(rest.pop("time_zone", DEFAULT_TIME_ZONE))
    days = rest.pop("days_ahead", DEFAULT_DAYS_AHEAD)
    if type(days) is not int or not 1 <= days <= MAX_DAYS_AHEAD:
        raise ConfigError(f"issuer.days_ahead must be an integer from 1 to {MAX_DAYS_AHEAD}")
    _limits(rest)
    if rest:
        raise ConfigError(f"config [issuer] has unknown settings: {', '.join(sorted(rest))}")
    return section


def _path(value: Any, base: Path, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"issuer.{name} must be a file path")
    return base / value


def time_zone(name: Any) -> ZoneInfo:
    """The IANA time zone ``name``, or ConfigError."""
    if not isinstance(name, str) or not name:
        raise ConfigError("issuer.time_zone must be an IANA time zone name such as Asia/Seoul")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"issuer.time_zone: unknown time zone {name!r}") from exc


def read_authority_key_text(path: Path) -> str:
    """The HA public key text in ``path`` (one line), checked, or ConfigError."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the health authority key {path}: {exc}") from exc
    try:
        parse_public_key(text)
    except MalformedError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return text


def read_pepper(path: Path) -> bytes:
    """The pepper in ``path``: a private file (no group or other access) of 32+ bytes."""
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the issuer pepper {path}: {exc.strerror}") from exc
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigError(f"{path}: the issuer pepper must be readable by its owner only")
    if not PEPPER_MIN_SIZE <= len(data) <= PEPPER_MAX_SIZE:
        raise ConfigError(
            f"{path}: the issuer pepper must hold {PEPPER_MIN_SIZE} to {PEPPER_MAX_SIZE} bytes"
        )
    return data


def new_pepper() -> bytes:
    """32 fresh random bytes for a pepper file."""
    return os.urandom(PEPPER_MIN_SIZE)
