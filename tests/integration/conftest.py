"""Fixtures the integration tests share across modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.provision_rig import wheel_for_tests


@pytest.fixture(scope="session")
def kiosk_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel, built once per test run (per worker under xdist)."""
    return wheel_for_tests(tmp_path_factory.mktemp("wheel"))
