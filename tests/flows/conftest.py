"""The Prefect API server of the flow tests: started for this folder only, stopped when it is done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import RunningSimulator


@pytest.fixture(scope="package")
def prefect_api() -> Iterator[None]:
    """One real Prefect API server (a test harness) for every flow-run test of this folder.

    Package-scoped, so it is gone before the other folders run: its websocket keepalive must not draw
    from `random` while Hypothesis is generating elsewhere.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def sim_env(sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the flows' settings (read from the environment, as a scheduled run's are) at the simulator, a
    minute into its day; return the database path."""
    database = tmp_path / "flow.duckdb"
    for name, value in {
        "CLOUDFLARE_API_TOKEN": sim.config.token,
        "CLOUDFLARE_ACCOUNT_ID": sim.config.account_id,
        "REALTIMEKIT_APP_ID": "sim-app",
        "CLOUDFLARE_BASE_URL": sim.base_url,
        "STREAMLEDGER_DATABASE": str(database),
        "STREAMLEDGER_EXPORT_DIR": str(tmp_path / "exports"),
        # The simulator's manual clock runs weeks behind ours: every poll would carry the clock warning.
        "STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS": "1e12",
    }.items():
        monkeypatch.setenv(name, value)
    sim.advance(60)
    return database
