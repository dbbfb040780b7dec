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
from typing import Any

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


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """How pytest-xdist (`make test` runs -n 3) shares the tests out: a whole test file to one worker, so a
    module-scoped warehouse is built once; and all of tests/flows to one worker, so one Prefect server
    starts. (Grouping by the xdist_group mark is silently ignored on pytest 9.2: pytest-xdist#1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/flows" if path.startswith("tests/flows/") else path

    return FileScheduling(config, log)
