"""Shared fixtures: shared test data, a private Mosquitto broker, a laid-out site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.broker import BrokerError, LocalBroker
from tests.shared_data import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip saying it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Mosquitto on a free loopback port, for the whole session."""
    try:
        with LocalBroker(workdir=tmp_path_factory.mktemp("broker")) as running:
            yield running
    except BrokerError as exc:
        pytest.fail(f"cannot start Mosquitto (./dev test installs it): {exc}")
