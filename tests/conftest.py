"""Shared fixtures: shared test data, a private Mosquitto broker, a laid-out site.

Also the ``spawns``/``slow`` marks (tests/markers.py) and the Hypothesis profiles:
``HYPOTHESIS_PROFILE=long`` runs every property test with many more examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from simulator.broker import BrokerError, LocalBroker
from tests import markers
from tests.pg_cluster import SERVER
from tests.shared_data import SHARED_DATA

#: ``HYPOTHESIS_PROFILE=long``: every property test gets at least this many examples,
#: whatever its own ``@settings(max_examples=...)`` says (those are sized for every run).
LONG_RUN_EXAMPLES = 2000
settings.register_profile("long", max_examples=LONG_RUN_EXAMPLES, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _raise_example_counts(items: list[pytest.Item]) -> None:
    """Under the long profile, lift each test's own example count to LONG_RUN_EXAMPLES."""
    if os.environ.get("HYPOTHESIS_PROFILE") != "long":
        return
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples < LONG_RUN_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(
                own, max_examples=LONG_RUN_EXAMPLES, deadline=None
            )


def pytest_configure(config: pytest.Config) -> None:
    markers.register(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    SERVER.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SERVER.describe():
        terminalreporter.write_line(SERVER.describe())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    markers.mark_spawning(items)
    _raise_example_counts(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    with markers.watched(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    with markers.watched(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    with markers.watched(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    problem = markers.unmarked_spawns(item)
    if problem and not report.failed:
        report.outcome = "failed"
        report.longrepr = problem
    return report


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


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own: persistent sessions from other tests cannot leak in."""
    try:
        with LocalBroker(workdir=tmp_path / "broker") as running:
            yield running
    except BrokerError as exc:
        pytest.fail(f"cannot start Mosquitto (./dev test installs it): {exc}")
