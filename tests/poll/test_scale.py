"""Slow tests: scale and soak against the simulator (make test-slow)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator import running_simulator, verify
from streamledger import warehouse
from tests.helpers import run_poll, settings_for, simulator_config

pytestmark = pytest.mark.slow


def test_a_poll_of_1000_live_livestreams_matches_the_ground_truth(tmp_path: Path) -> None:
    config = simulator_config(
        livestreams=1000,
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(3600.0, 7200.0),
        budget_requests=100_000,
        default_per_page=100,
    )
    with running_simulator(config) as sim:
        sim.advance(60)
        settings = settings_for(sim, tmp_path, budget_requests=100_000, burst_requests=100_000)
        row = run_poll(settings)
        truth = verify.fetch_truth(sim.root_url)
    assert row.outcome == "ok"
    # 10 pages of LIVE livestreams, 1 of INVOKED ones (none), the 10 pages of the full listing, 1,000
    # active-session reads, and the first sweep of every livestream's session list.
    assert (row.livestreams, row.planned_live, row.planned_sweep, row.planned_list) == (1000, 1000, 1000, 10)
    assert row.requests == 10 + 1 + 10 + 1000 + 1000
    comparison = verify.compare(settings.database, truth, frozen_clock=True)
    assert comparison.mismatches == []
    assert comparison.missing == []


def test_soak_of_200_polls_with_faults_keeps_every_count_consistent(tmp_path: Path) -> None:
    config = simulator_config(
        livestreams=30,
        fault_5xx=0.05,
        fault_malformed=0.02,
        # 200 polls in a few real minutes would spend several budget windows: both budgets are lifted
        # here (the budget is proven by the fast tests); this test is about faults and consistency.
        budget_requests=1_000_000,
        gap_seconds=(2.0, 20.0),
        live_seconds=(5.0, 60.0),
    )
    with running_simulator(config) as sim:
        settings = settings_for(
            sim, tmp_path, max_attempts=8, max_retry_wait_seconds=10, budget_requests=1_000_000
        )
        rows = []
        for _ in range(200):
            sim.advance(3)
            rows.append(run_poll(settings))
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()
        truth = verify.fetch_truth(sim.root_url)
    assert [r.outcome for r in rows].count("ok") == 200, [r.message for r in rows if r.message]
    assert stats["rate_limited"] == 0
    con = warehouse.connect(settings.database, read_only=True)
    try:
        polls, snapshot_rows = con.execute("select count(*), sum(sessions) from poll_runs").fetchall()[0]
        counted = con.execute("select count(*) from session_snapshots").fetchall()[0][0]
        requests = con.execute("select sum(requests) from poll_runs").fetchall()[0][0]
        responses = con.execute("select count(*) from raw_responses").fetchall()[0][0]
    finally:
        con.close()
    assert polls == 200
    assert counted == snapshot_rows
    assert responses == requests  # no transport errors here: every request got a response row
    comparison = verify.compare(settings.database, truth, frozen_clock=True)
    assert comparison.mismatches == []
    assert comparison.final_seen > 50
