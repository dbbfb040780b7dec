"""Exact history: app discovery, finalization, the request plan, and replay from raw_responses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator import RunningSimulator, running_simulator, verify
from streamledger import fetch, warehouse
from streamledger.cli import main
from streamledger.poll import PollPlan, PollRun
from streamledger.rebuild import rebuild
from streamledger.settings import Settings
from streamledger.transforms import normalize
from tests.helpers import (
    HISTORY_TABLES,
    assert_checks_pass,
    assert_same_tables,
    run_poll,
    settings_for,
    simulator_config,
    table_contents,
)

# Bookkeeping, not derived from the raw responses: a rebuild keeps them.
DERIVED = tuple(t for t in HISTORY_TABLES if t not in ("raw_responses", "poll_runs", "listing_rounds"))


def polls(sim: RunningSimulator, settings: Settings, count: int, step: float = 7.0) -> list[PollRun]:
    rows = []
    for _ in range(count):
        sim.advance(step)
        rows.append(run_poll(settings))
    return rows


def test_rebuild_from_raw_responses_gives_exactly_the_incrementally_built_tables(
    sim: RunningSimulator,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    polls(sim, settings, 20)
    incremental = table_contents(settings.database)
    counts = rebuild(settings.database, settle_seconds=settings.settle_seconds)
    rebuilt = table_contents(settings.database)
    assert counts["sessions"] == len(incremental["sessions"]) > 10
    assert_same_tables({t: incremental[t] for t in DERIVED}, {t: rebuilt[t] for t in DERIVED})
    assert_same_tables(
        {t: incremental[t] for t in ("raw_responses", "poll_runs")},
        {t: rebuilt[t] for t in ("raw_responses", "poll_runs")},
    )
    # The command line reads the settle time the warehouse was loaded with, as a deployment does.
    monkeypatch.setenv("STREAMLEDGER_SETTLE_SECONDS", str(settings.settle_seconds))
    assert main(["rebuild", "--database", str(settings.database)]) == 0
    assert capsys.readouterr().out.startswith(
        f"rebuilt from raw_responses: 12 livestreams, {counts['sessions']} sessions"
    )
    assert_same_tables(
        {t: incremental[t] for t in DERIVED}, {t: table_contents(settings.database)[t] for t in DERIVED}
    )


def test_a_rebuild_recounts_each_polls_ledger_counts_with_the_normalization_it_replays_with(
    sim: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls(sim, settings, 6)
    ledger = "select poll_id, livestreams, sessions, parse_issues, unknown_statuses from poll_runs order by 1"
    con = warehouse.connect(settings.database)
    try:
        loaded = con.execute(ledger).fetchall()
        con.execute("update poll_runs set sessions = 0, parse_issues = 7, livestreams = 0")  # gone wrong
    finally:
        con.close()
    rebuild(settings.database, settle_seconds=settings.settle_seconds)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        assert con.execute(ledger).fetchall() == loaded  # recounted, exactly as the load counted
    finally:
        con.close()
    assert all(unknown == 0 for *_, unknown in loaded)
    # A normalization that no longer knows LIVE: the rebuild's ledger follows it, and the checks still hold.
    monkeypatch.setattr(normalize, "DOCUMENTED_STATUSES", ("IDLE", "ERRORED", "INVOKED"))
    rebuild(settings.database, settle_seconds=settings.settle_seconds)
    con = warehouse.connect(settings.database, read_only=True)
    try:
        recounted = con.execute(ledger).fetchall()
        live = con.execute(
            "select poll_id, count(*) from session_snapshots where status = 'LIVE' group by 1 order by 1"
        ).fetchall()
    finally:
        con.close()
    assert [row[:4] for row in recounted] == [row[:4] for row in loaded]
    assert sum(row[4] for row in recounted) > sum(count for _, count in live) > 0  # livestreams LIVE too
    assert_checks_pass(settings.database)


def test_without_app_ids_every_app_of_the_account_is_discovered_and_polled(tmp_path: Path) -> None:
    with running_simulator(simulator_config(app_ids=("app-a", "app-b"), livestreams=4)) as sim:
        settings = settings_for(sim, tmp_path, app_ids=())
        sim.advance(60)
        row = run_poll(settings)
    assert row.outcome == "ok", row.message
    assert row.app_ids == ("app-a", "app-b")
    assert row.livestreams == 8
    con = warehouse.connect(settings.database, read_only=True)
    try:
        assert con.execute("select app_id from apps order by app_id").fetchall() == [("app-a",), ("app-b",)]
        per_app = con.execute("select app_id, count(*) from livestreams group by all order by all").fetchall()
        listed = con.execute("select count(*) from raw_responses where endpoint = 'list_apps'").fetchall()
    finally:
        con.close()
    assert per_app == [("app-a", 4), ("app-b", 4)]
    assert listed == [(1,)]


def test_stopped_sessions_become_final_with_the_true_final_figures(
    sim: RunningSimulator, settings: Settings
) -> None:
    polls(sim, settings, 30)
    truth = verify.fetch_truth(sim.root_url)
    now = sim.now()
    con = warehouse.connect(settings.database, read_only=True)
    try:
        rows = con.sql(
            "select session_id, stopped_time, is_final, finalized_at, ingest_seconds, viewer_seconds"
            " from sessions"
        ).pl()
    finally:
        con.close()
    ended_long_ago = {
        sid
        for sid, s in truth.items()
        if s["is_final"] and verify.seconds_before(s["stopped_time"], sim, now) > 30
    }
    final = rows.filter(rows["is_final"])
    assert ended_long_ago <= set(rows["session_id"])
    assert ended_long_ago <= set(final["session_id"])
    for row in final.iter_rows(named=True):
        true = truth[row["session_id"]]
        assert (row["ingest_seconds"], row["viewer_seconds"]) == (
            true["ingest_seconds"],
            true["viewer_seconds"],
        )
        assert row["finalized_at"] is not None
    assert len(final) >= 10


def test_a_tight_budget_reads_by_priority_and_defers_the_rest(tmp_path: Path) -> None:
    with running_simulator(simulator_config(livestreams=30)) as sim:
        # 60 requests per 300 s at one poll a minute: 12 per poll, and 2 slots of the window kept free for
        # retries once it fills (six polls in a few real seconds fill it).
        settings = settings_for(sim, tmp_path, budget_requests=60, budget_window_seconds=300)
        rows = polls(sim, settings, 6, step=20)
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()
    for row in rows:
        assert row.allowance <= 12
        spent = row.discovery_requests + row.planned_final + row.planned_live + row.planned_sweep
        # The list page is read even by a poll whose allowance the window has used up.
        assert spent == row.requests <= max(row.allowance, row.discovery_requests)
        if row.deferred_live:
            assert row.planned_sweep == 0
    assert sum(r.deferred_live + r.deferred_sweep for r in rows) > 0
    assert stats["max_in_window"] <= 60
    assert stats["rate_limited"] == 0


def test_finalization_reads_come_before_live_reads_when_the_budget_is_short(
    sim: RunningSimulator, settings: Settings
) -> None:
    sim.advance(120)
    truth = verify.fetch_truth(sim.root_url)
    stopped = [(s["app_id"], s["livestream_id"], s["id"]) for s in truth.values() if s["is_final"]][:6]
    assert len(stopped) == 6
    # 50 per 300 s at one poll a minute: 10 per poll (the slot kept free for retries is one of the window's
    # other 40), 2 for the LIVE and INVOKED listings.
    tight = settings.with_overrides(budget_requests=50)
    plan = PollPlan(livestreams={}, open_sessions={}, to_finalize=tuple(stopped) * 2, recent_sends=())
    fetched = fetch.fetch_poll(tight, plan)
    assert fetched.plan["planned_final"] == 8
    assert fetched.plan["deferred_final"] == 4
    assert fetched.plan["planned_live"] == fetched.plan["planned_sweep"] == fetched.plan["planned_list"] == 0
    assert fetched.plan["deferred_live"] > 0
    assert fetched.plan["deferred_list"] == 1  # the full listing waits too
    assert [r["endpoint"] for r in fetched.responses] == ["list_livestreams"] * 2 + ["session_by_id"] * 8
