"""What tests share: a simulator and settings for it, a checked poll without Prefect, a second process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
from polars.testing import assert_frame_equal

from simulator import RunningSimulator, SimulatorConfig
from streamledger import fetch, landing, load, plan, warehouse
from streamledger.errors import DatabaseBusy
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Secret, Settings
from streamledger.timing import timed
from streamledger.transforms.normalize import normalize_responses

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


# The snapshot flow's tasks that poll_or_landed took, by name, in order (a flow test holds them to the
# task runs of a real flow run).
STEPS_TAKEN: list[str] = []


def run_poll(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, check: bool = True
) -> PollRun:
    """One poll without Prefect (see poll_or_landed) that the test needs loaded; return its ledger row."""
    run = poll_or_landed(settings, transport=transport, check=check)
    assert run is not None, "the poll stayed landed: the database was held"
    return run


def poll_or_landed(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, check: bool = True
) -> PollRun | None:
    """One poll without Prefect: what each of the snapshot flow's tasks calls, in the flow's order.

    Returns its ledger row, or None when the database was held and the poll stays landed. Calls go through
    the stage modules, so that the crash child can wrap them. Without Prefect a process starts in under a
    second instead of four. A test that must stand between the client and the network gives a transport.
    After the load, every check of sql/checks must hold (see finish).
    """
    STEPS_TAKEN.append("recover")
    load.load_landed(settings)
    STEPS_TAKEN.append("plan")
    poll_plan = plan.read_plan(settings)
    STEPS_TAKEN.append("fetch")
    fetched = fetch.fetch_poll(settings, poll_plan, transport=transport)
    return finish(settings, fetched, check=check)


def finish(settings: Settings, fetched: FetchedPoll, *, check: bool = True) -> PollRun | None:
    """Land, normalize and load a fetched poll as the flow does; None when it stays landed (database held).

    After a load, every check of sql/checks must hold (assert_checks_pass). Benchmarks, which time the
    poll, and the crash child, whose kill points count statements, pass check=False; the crash test runs
    the checks itself after every child.
    """
    STEPS_TAKEN.append("land")
    landing.land(settings.landing_dir, fetched)
    STEPS_TAKEN.append("normalize")
    normalized, seconds = timed(normalize_responses, fetched.responses)
    STEPS_TAKEN.append("load")
    try:
        run = load.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    except DatabaseBusy:
        return None
    if check:
        assert_checks_pass(settings.database)
    return run


def assert_checks_pass(database: Path) -> None:
    """Assert that every check of sql/checks holds on the database (read on a read-only connection)."""
    con = warehouse.connect(database, read_only=True)
    try:
        failures = warehouse.run_checks(con)
    finally:
        con.close()
    assert failures == [], "\n".join(
        f"check {f.name} failed ({f.description}): {f.violations} rows, e.g. {list(f.rows)}" for f in failures
    )


HISTORY_TABLES = (
    "raw_responses",
    "poll_runs",
    "livestreams",
    "sessions",
    "session_snapshots",
    "parse_issues",
    "session_usage",
)


def table_contents(path: Path) -> dict[str, pl.DataFrame]:
    """Every history table, sorted by all columns, for content comparison."""
    con = warehouse.connect(path, read_only=True)
    try:
        return {t: con.sql(f"select * from {t} order by all").pl() for t in HISTORY_TABLES}
    finally:
        con.close()


def assert_same_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    """Assert that two table_contents are equal, exactly."""
    assert left.keys() == right.keys()
    for table in left:
        assert_frame_equal(left[table], right[table], check_exact=True)


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
