"""protocol.schema.one_of: a value of the same exact type as one of the choices, and equal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import MalformedError
from protocol.schema import one_of

_VALUES = st.recursive(
    st.one_of(
        st.integers(min_value=-3, max_value=3),
        st.booleans(),
        st.none(),
        st.sampled_from(["entrance", "exit", "both", "", "Exit"]),
        st.binary(max_size=2),
        st.floats(allow_nan=True),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.text(), inner)),
    max_leaves=4,
)


def _reference(choices: tuple[Any, ...], value: Any) -> bool:
    """The check as first written: a linear scan comparing exact types, then values."""
    return any(type(value) is type(c) and value == c for c in choices)


def _accepts(check: Any, value: Any) -> bool:
    try:
        check(value, "field")
    except MalformedError:
        return False
    return True


@given(st.lists(_VALUES.filter(lambda v: not isinstance(v, list | dict)), max_size=4), _VALUES)
def test_one_of_agrees_with_the_linear_scan(choices: list[Any], value: Any) -> None:
    assert _accepts(one_of(*choices), value) == _reference(tuple(choices), value)


@pytest.mark.parametrize(
    ("choices", "value", "ok"),
    [
        (("entrance", "exit"), "exit", True),
        (("entrance", "exit"), b"exit", False),
        (("entrance", "exit"), ["exit"], False),
        (("entrance", "exit"), {"exit": 1}, False),
        ((1,), True, False),  # True == 1, but a boolean is not an integer here
        ((1,), 1, True),
        ((True,), 1, False),
        ((0,), 0.0, False),
    ],
)
def test_one_of_cases(choices: tuple[Any, ...], value: Any, ok: bool) -> None:
    assert _accepts(one_of(*choices), value) is ok
