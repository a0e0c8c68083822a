"""Batch inventories: a CSV file, one device per line, as a spreadsheet exports it.

Header line required. Columns: ``host`` and ``venue`` (required), ``port``, ``user``,
``kiosk_id``, ``door``, ``host_key`` (the SHA256 fingerprint to accept on first
contact), ``prefix``. Empty cells take the command-line defaults; ``#`` lines are
comments. Every bad line is reported with its line number; a bad line stops nothing
but itself.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from protocol.ids import KIOSK_ID_PATTERN, VENUE_ID_PATTERN

from .hostkeys import check_fingerprint
from .layout import DeviceLayout

COLUMNS = ("host", "venue", "port", "user", "kiosk_id", "door", "host_key", "prefix")
MAX_DEVICES = 5000
_HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")


class InventoryError(ValueError):
    """The inventory cannot be read at all (no header, unknown column, too big)."""


@dataclass(frozen=True)
class Device:
    """One inventory line."""

    line: int
    host: str
    venue: str
    port: int = 22
    user: str | None = None
    kiosk_id: str | None = None
    door: str | None = None
    host_key: str | None = None
    prefix: str | None = None


@dataclass(frozen=True)
class BadLine:
    """A line that names no usable device, and why."""

    line: int
    text: str
    problem: str


def _check(row: dict[str, str], line: int) -> Device:
    host = row.get("host", "")
    if not _HOST.fullmatch(host):
        raise ValueError(f"host {host[:40]!r} is not a host name or address")
    venue = row.get("venue", "")
    if not re.fullmatch(VENUE_ID_PATTERN, venue):
        raise ValueError(f"venue {venue[:40]!r} is not 1-63 lowercase letters, digits or -")
    port_text = row.get("port") or "22"
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text[:10]!r} is not 1-65535")
    user = row.get("user") or None
    if user is not None and not _USER.fullmatch(user):
        raise ValueError(f"user {user[:40]!r} is not a user name")
    kiosk_id = row.get("kiosk_id") or None
    if kiosk_id is not None and not re.fullmatch(KIOSK_ID_PATTERN, kiosk_id):
        raise ValueError(f"kiosk_id {kiosk_id[:40]!r} is not a kiosk id")
    door = row.get("door") or None
    if door not in (None, "entrance", "exit"):
        raise ValueError(f"door {door[:20]!r} is not entrance or exit")
    host_key = row.get("host_key") or None
    if host_key is not None:
        check_fingerprint(host_key)
    prefix = row.get("prefix") or None
    if prefix is not None:
        DeviceLayout(prefix)
    return Device(line, host, venue, int(port_text), user, kiosk_id, door, host_key, prefix)


def parse_inventory(text: str) -> tuple[list[Device], list[BadLine]]:
    """Devices and bad lines of an inventory; InventoryError if it is unusable as a whole."""
    text = text.removeprefix("\ufeff")  # spreadsheets write a byte-order mark
    lines = [
        (n, t)
        for n, t in enumerate(text.splitlines(), 1)
        if t.strip() and not t.lstrip().startswith("#")
    ]
    if not lines:
        raise InventoryError("the inventory is empty: a header line (host,venue,...) is needed")
    if len(lines) > MAX_DEVICES + 1:
        raise InventoryError(f"more than {MAX_DEVICES} devices: split the inventory")
    header_no, header_text = lines[0]
    header = [c.strip().lower() for c in next(csv.reader([header_text]))]
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise InventoryError(
            f"line {header_no}: unknown column {unknown[0][:30]!r} (known: {', '.join(COLUMNS)})"
        )
    for needed in ("host", "venue"):
        if needed not in header:
            raise InventoryError(f"line {header_no}: the header needs a {needed!r} column")
    if len(set(header)) != len(header):
        raise InventoryError(f"line {header_no}: a column appears twice")
    devices: list[Device] = []
    bad: list[BadLine] = []
    seen: dict[tuple[str, int, str | None], int] = {}
    for number, text_line in lines[1:]:
        try:
            cells = next(csv.reader(io.StringIO(text_line)))
        except csv.Error as exc:
            bad.append(BadLine(number, text_line[:80], f"not CSV: {exc}"))
            continue
        if len(cells) != len(header):
            bad.append(
                BadLine(number, text_line[:80], f"{len(cells)} cells, the header has {len(header)}")
            )
            continue
        row = {k: v.strip() for k, v in zip(header, cells, strict=True)}
        try:
            device = _check(row, number)
        except ValueError as exc:
            bad.append(BadLine(number, text_line[:80], str(exc)))
            continue
        key = (device.host, device.port, device.prefix)
        if key in seen:
            bad.append(BadLine(number, text_line[:80], f"same device as line {seen[key]}"))
            continue
        seen[key] = number
        devices.append(device)
    return devices, bad


def read_inventory(path: Path) -> tuple[list[Device], list[BadLine]]:
    """``parse_inventory`` of a file; InventoryError if it cannot be read."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc}") from exc
    if len(raw) > 4 << 20:
        raise InventoryError(f"{path} is larger than 4 MiB")
    try:
        return parse_inventory(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path} is not UTF-8 text: {exc}") from exc
