"""Strict field checks for decoded messages: exact keys, exact types, bounded sizes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import MalformedError, OutOfRangeError

Check = Callable[[Any, str], Any]

# Counters, sizes and times are stored in signed 64-bit database columns
# (SQLite INTEGER, PostgreSQL BIGINT), so the wire formats stop there too.
UINT_MAX = 2**63 - 1

# What a kiosk sends is bounded far below that: integers stay within 2**53 (exact
# in a double, I-JSON's safe range), so a seq floor (seq + 1), a gap count or a
# counter total built from them cannot overflow a 64-bit column.
KIOSK_INT_MAX = 2**53
# Milliseconds (Unix time, or since boot) end with the year 9999, the last
# instant Python's datetime can hold.
TIME_MS_MAX = 253_402_300_799_999


def uint(maximum: int = UINT_MAX) -> Check:
    """An unsigned integer no larger than ``maximum`` (booleans refused)."""

    def check(value: Any, name: str) -> int:
        if type(value) is not int or not 0 <= value <= maximum:
            raise MalformedError(f"{name} must be an integer from 0 to {maximum}")
        return value

    return check


def bounded(minimum: int, maximum: int) -> Check:
    """An integer from ``minimum`` to ``maximum``; OutOfRangeError outside (booleans refused)."""

    def check(value: Any, name: str) -> int:
        if type(value) is not int:
            raise MalformedError(f"{name} must be an integer")
        if not minimum <= value <= maximum:
            raise OutOfRangeError(f"{name} must be from {minimum} to {maximum}")
        return value

    return check


def raw(size: int | None = None, *, max_size: int | None = None) -> Check:
    """A byte string of exactly ``size`` bytes, or at most ``max_size``."""

    def check(value: Any, name: str) -> bytes:
        if type(value) is not bytes:
            raise MalformedError(f"{name} must be a byte string")
        if size is not None and len(value) != size:
            raise MalformedError(f"{name} must be {size} bytes, not {len(value)}")
        if max_size is not None and len(value) > max_size:
            raise MalformedError(f"{name} is over {max_size} bytes")
        return value

    return check


def text(pattern: str, max_length: int) -> Check:
    """A text string of at most ``max_length`` characters matching ``pattern`` in full."""
    regex = re.compile(pattern)

    def check(value: Any, name: str) -> str:
        if type(value) is not str:
            raise MalformedError(f"{name} must be a text string")
        if len(value) > max_length or not regex.fullmatch(value):
            raise MalformedError(f"{name} is not a valid value (pattern {pattern})")
        return value

    return check


#: Types of ``one_of`` choices looked up in a set (hash and equality agree, no NaN).
_PLAIN_CHOICES = frozenset({str, int, bytes, bool, type(None)})


def one_of(*choices: Any) -> Check:
    """One of a fixed set of values of the same type as the choices."""
    # Looked up as (exact type, value) pairs (True == 1, but a boolean is not the
    # integer 1) when every choice is of a type whose equality is plain; else scanned.
    plain = all(type(c) in _PLAIN_CHOICES for c in choices)
    allowed = frozenset((type(c), c) for c in choices) if plain else frozenset()

    def check(value: Any, name: str) -> Any:
        if plain:
            try:
                known = (type(value), value) in allowed
            except TypeError:  # unhashable (an array or a map): none of the choices
                known = False
        else:
            known = any(type(value) is type(c) and value == c for c in choices)
        if not known:
            raise MalformedError(f"{name} must be one of {', '.join(map(str, choices))}")
        return value

    return check


def boolean() -> Check:
    """True or false."""

    def check(value: Any, name: str) -> bool:
        if type(value) is not bool:
            raise MalformedError(f"{name} must be a boolean")
        return value

    return check


def array(item: Check, max_items: int, *, min_items: int = 0) -> Check:
    """An array of ``min_items`` to ``max_items`` values, each passing ``item``."""

    def check(value: Any, name: str) -> list[Any]:
        if type(value) is not list:
            raise MalformedError(f"{name} must be an array")
        if not min_items <= len(value) <= max_items:
            raise MalformedError(f"{name} must hold {min_items} to {max_items} items")
        return [item(v, f"{name}[{i}]") for i, v in enumerate(value)]

    return check


def tuple_of(*items: Check) -> Check:
    """An array of fixed length whose positions each pass their own check."""

    named: dict[str, list[tuple[Check, str]]] = {}

    def check(value: Any, name: str) -> list[Any]:
        if type(value) is not list or len(value) != len(items):
            raise MalformedError(f"{name} must be an array of {len(items)} items")
        plan = named.get(name) or _remember(
            named, name, [(c, f"{name}[{i}]") for i, c in enumerate(items)]
        )
        return [c(v, n) for (c, n), v in zip(plan, value, strict=True)]

    return check


#: Parent names whose children's names a record or tuple check keeps (parsers name
#: their messages with a few fixed names; items of long arrays are not kept).
_NAMES_KEPT = 64


def _remember(named: dict[str, Any], name: str, plan: Any) -> Any:
    """``plan`` (each child's check and name under ``name``), kept while there is room."""
    if len(named) < _NAMES_KEPT:
        named[name] = plan
    return plan


def record(fields: Mapping[str, Check]) -> Check:
    """A map with exactly the given text keys, each value passing its check."""

    wanted = frozenset(fields)
    named: dict[str, list[tuple[str, Check, str]]] = {}

    def check(value: Any, name: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise MalformedError(f"{name} must be a map")
        if value.keys() != wanted:
            keys = set(value)
            missing = wanted - keys
            extra = keys - wanted
            if missing:
                raise MalformedError(f"{name} lacks field(s) {', '.join(sorted(missing))}")
            shown = ", ".join(sorted(repr(k) for k in extra))[:120]
            raise MalformedError(f"{name} has unknown field(s) {shown}")
        plan = named.get(name) or _remember(
            named, name, [(k, c, f"{name}.{k}") for k, c in fields.items()]
        )
        return {k: c(value[k], n) for k, c, n in plan}

    return check
