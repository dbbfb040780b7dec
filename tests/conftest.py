"""Shared fixtures: a simulator over real HTTP, settings pointing at it, a fresh warehouse per test."""

from __future__ import annotations

import os
import tempfile

# Prefect reads its settings at import: a private home, no telemetry, room for a cold start.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="streamledger-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamledger.settings import Secret, Settings
from streamledger.simulator import RunningSimulator, SimulatorConfig, running_simulator

# Crossing a month boundary during tests exercises UTC day/month attribution.
SIM_START = datetime(2026, 10, 31, 23, 58, 0, tzinfo=UTC)


def simulator_config(**changes: object) -> SimulatorConfig:
    """A manual-clock simulator config for tests."""
    base: dict[str, object] = {"clock": "manual", "start_at": SIM_START, "livestreams": 12, "seed": 11}
    return SimulatorConfig(**(base | changes))  # type: ignore[arg-type]


def settings_for(sim: RunningSimulator, tmp_path: Path, **changes: object) -> Settings:
    """Settings pointing at a running simulator and a database under tmp_path."""
    settings = Settings(
        api_token=Secret(sim.config.token),
        account_id=sim.config.account_id,
        app_ids=sim.config.app_ids,
        base_url=sim.base_url,
        database=tmp_path / "history.duckdb",
        landing_dir=tmp_path / "landing",
        max_retry_wait_seconds=5.0,
    )
    return settings.with_overrides(**changes)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    """A healthy manual-clock simulator over real HTTP on 127.0.0.1."""
    with running_simulator(simulator_config()) as running:
        yield running


@pytest.fixture
def settings(sim: RunningSimulator, tmp_path: Path) -> Settings:
    """Settings for the `sim` fixture."""
    return settings_for(sim, tmp_path)


@contextmanager
def held(database: Path, *, read_only: bool, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that opens the DuckDB file and keeps it for `seconds` (or until killed)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time; "
            f"c = duckdb.connect({str(database)!r}, read_only={read_only}); print('ready', flush=True); "
            f"time.sleep({seconds})",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One real Prefect API server (a test harness) for every flow-run test of the session."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
