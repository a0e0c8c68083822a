"""The demo's crowd: a regular phone is only ever at one door (no same-second replays)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.demo_wallet import with_regulars


@given(
    crowd_size=st.integers(1, 60),
    regulars=st.integers(1, 4),
    kiosks=st.integers(1, 20),
    visits=st.integers(0, 20),
)
def test_each_regular_sits_in_one_kiosks_share(
    crowd_size: int, regulars: int, kiosks: int, visits: int
) -> None:
    crowd_size = max(crowd_size, kiosks)
    crowd = [f"visitor-{n}" for n in range(crowd_size)]
    names = [f"regular-{n}" for n in range(regulars)]
    out = with_regulars(crowd, names, kiosks, visits)
    assert out[:crowd_size] == crowd
    shares = [out[k::kiosks] for k in range(kiosks)]
    for name in [*crowd, *names]:
        holders = [k for k, share in enumerate(shares) if name in share]
        assert len(holders) <= 1, (name, holders)
    for name in names:
        assert out.count(name) == visits


def test_the_demos_two_regulars_share_a_venue() -> None:
    """Kiosks 1 and 2 are one venue (provisioning/site.py): the case meets its contact."""
    out = with_regulars([f"v{n}" for n in range(120)], ["case", "contact"], 3, 15)
    assert "case" in out[0::3] and "contact" in out[1::3]
    assert "case" not in out[1::3] + out[2::3] and "contact" not in out[0::3] + out[2::3]


def test_a_kiosk_without_a_visitor_of_its_own_is_refused() -> None:
    with pytest.raises(ValueError, match="visitor of its own"):
        with_regulars(["v"], ["a"], kiosks=2, visits=1)
