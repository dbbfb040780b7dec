"""What tests share: a simulator and settings pointing at it, a poll without Prefect, a second process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prefect.logging import disable_run_logger
from prefect.tasks import Task

from streamledger.fetch import fetch_poll
from streamledger.flows import tasks
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Secret, Settings
from streamledger.simulator import RunningSimulator, SimulatorConfig

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


# The names of the snapshot flow's tasks that poll_steps ran, in order (a test holds them to the flow's).
STEPS_TAKEN: list[str] = []


def _step(task: Task[..., Any], *args: Any) -> Any:
    STEPS_TAKEN.append(task.name)
    return task.fn(*args)


def run_poll(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> PollRun:
    """One poll without Prefect (see poll_or_landed) that the test needs loaded; return its ledger row."""
    run = poll_or_landed(settings, transport=transport)
    assert run is not None, "the poll stayed landed: the database was held"
    return run


def poll_or_landed(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> PollRun | None:
    """One poll without Prefect: the snapshot flow's own tasks, as plain calls, in the flow's order.

    Returns its ledger row, or None when the database was held and the poll stays landed.

    A test that must stand between the client and the network gives a transport: the fetch task's one call,
    fetch_poll, is then made with it.
    """
    with disable_run_logger():
        _step(tasks.recover, settings)
        poll_plan = _step(tasks.plan, settings)
        if transport is None:
            fetched: FetchedPoll = _step(tasks.fetch, settings, poll_plan)
        else:
            STEPS_TAKEN.append(tasks.fetch.name)
            fetched = fetch_poll(settings, poll_plan, transport=transport)
    return finish(settings, fetched)


def finish(settings: Settings, fetched: FetchedPoll) -> PollRun | None:
    """Land, normalize and load a fetched poll as the flow does; None when it stays landed (database held)."""
    with disable_run_logger():
        _step(tasks.land, settings, fetched)
        normalized, seconds = _step(tasks.normalize, fetched)
        run: PollRun | None = _step(tasks.load, settings, fetched, normalized, seconds)
    return run


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
        if holder.stdout is not None:
            holder.stdout.close()
