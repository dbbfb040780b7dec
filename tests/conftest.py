"""Shared fixtures: a simulator over real HTTP, settings pointing at it, a fresh warehouse per test."""

from __future__ import annotations

import os
import tempfile

# Prefect reads its settings at import: a private home, no telemetry, room for a cold start.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="streamledger-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import RunningSimulator, running_simulator
from streamledger.settings import Settings
from tests.helpers import settings_for, simulator_config


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    """A healthy manual-clock simulator over real HTTP on 127.0.0.1."""
    with running_simulator(simulator_config()) as running:
        yield running


@pytest.fixture
def settings(sim: RunningSimulator, tmp_path: Path) -> Settings:
    """Settings for the `sim` fixture."""
    return settings_for(sim, tmp_path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist (`--dist loadgroup`): a worker takes a whole test file, so each
    module-scoped warehouse is built once; and every test that runs flows goes to one worker, so one
    Prefect server starts."""
    for item in items:
        flows = "prefect_api" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("prefect" if flows else item.nodeid.split("::")[0]))
