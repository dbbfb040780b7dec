"""An API whose Date header is far from our clock: each poll records the skew and says so past the limit,
and no reading, so no usage, is placed after the poll (polls through the real simulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator import running_simulator
from streamledger import warehouse
from streamledger.poll import PollRun
from tests.helpers import run_poll, settings_for, simulator_config

THREE_HOURS = 3 * 3600.0


def polls_against_a_skewed_date(
    tmp_path: Path, offset_seconds: float, max_skew_seconds: float, polls: int = 16
) -> tuple[list[PollRun], Path]:
    """Polls of a simulator whose clock runs 10 minutes behind ours (its sessions' times on it) and whose
    Date header alone is `offset_seconds` off that clock."""
    config = simulator_config(
        start_at=datetime.now(UTC) - timedelta(minutes=10), date_offset_seconds=offset_seconds, livestreams=6
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path, max_clock_skew_seconds=max_skew_seconds)
        rows = []
        for _ in range(polls):
            sim.advance(7)
            rows.append(run_poll(settings))
    return rows, settings.database


def test_a_date_header_hours_ahead_is_flagged_and_puts_no_usage_after_the_poll(tmp_path: Path) -> None:
    rows, database = polls_against_a_skewed_date(tmp_path, THREE_HOURS, 300.0)
    for row in rows:
        # About 2 h 50 min: the Date is 3 h ahead of a clock 10 minutes (less the time advanced) behind ours.
        assert row.clock_skew_seconds is not None
        assert THREE_HOURS - 600 - 5 < row.clock_skew_seconds < THREE_HOURS
        assert row.clock_skewed is True
        assert row.outcome == "ok"  # every read worked and is kept: a warning, not a failure
        assert row.message is not None
        assert row.message.startswith("clock: the API's Date header is ")
        assert " s ahead of our clock (more than STREAMLEDGER_MAX_CLOCK_SKEW_SECONDS=300); " in row.message
        assert row.message in row.summary()
    con = warehouse.connect(database, read_only=True)
    try:
        usage = con.execute("select count(*), max(hour) from session_usage").fetchall()
        last_poll = con.execute("select max(finished_at) from poll_runs").fetchall()[0][0]
        late = con.execute("select count(*) from session_snapshots where observed_at > fetched_at").fetchall()
        stored = con.execute(
            "select clock_skew_seconds, clock_skewed from poll_runs order by poll_id"
        ).fetchall()
        sessions_after = con.execute(
            "select count(*) from sessions where coalesce(stopped_time, last_observed_at) > ?", [last_poll]
        ).fetchall()
    finally:
        con.close()
    assert usage[0][0] > 0
    assert usage[0][1] <= last_poll.replace(minute=0, second=0, microsecond=0)
    assert late == [(0,)]
    assert sessions_after == [(0,)]
    assert stored == [(row.clock_skew_seconds, True) for row in sorted(rows, key=lambda r: r.poll_id)]


@pytest.mark.parametrize("offset_seconds", [-THREE_HOURS, 30.0])
def test_a_skew_within_the_limit_is_recorded_without_a_warning_and_one_behind_past_it_warns(
    tmp_path: Path, offset_seconds: float
) -> None:
    # Our clock is 10 minutes ahead of the simulator's: +30 s on its Date is still behind ours, within 15 min.
    rows, _ = polls_against_a_skewed_date(tmp_path, offset_seconds, 900.0, polls=3)
    for row in rows:
        assert row.clock_skew_seconds is not None
        assert row.outcome == "ok"
        if offset_seconds > 0:
            assert -600 - 5 < row.clock_skew_seconds < 0
            assert (row.clock_skewed, row.message) == (False, None)
        else:
            assert row.clock_skewed is True
            assert row.message is not None
            assert "s behind our clock" in row.message
