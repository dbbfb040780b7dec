"""Real Prefect flow runs of the snapshot flow, under one session-scoped Prefect test harness."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.settings import get_current_settings

import streamledger.flows.snapshot as snapshot_module
from simulator import RunningSimulator
from streamledger import warehouse
from streamledger.cli import main
from streamledger.flows.reconcile import reconcile
from streamledger.flows.snapshot import snapshot
from streamledger.poll import PollRun
from tests.helpers import (
    STEPS_TAKEN,
    aged_history,
    command_env,
    held,
    run_poll,
    settings_for,
    snapshot_command,
)

pytestmark = pytest.mark.prefect


def test_a_flow_run_is_one_poll_with_its_ledger_row_and_artifact(prefect_api: None, sim_env: Path) -> None:
    state = snapshot(return_state=True)
    assert state.is_completed()
    row = state.result()
    assert isinstance(row, PollRun)
    assert row.outcome == "ok"
    assert row.sessions > 0
    con = warehouse.connect(sim_env, read_only=True)
    try:
        ledger = con.execute("select poll_id, sessions from poll_runs").fetchall()
    finally:
        con.close()
    assert ledger == [(row.poll_id, row.sessions)]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["snapshot-summary"]))
        )
    assert any(row.poll_id in str(artifact.data) for artifact in artifacts)
    assert not list((sim_env.parent / "landing").glob("*.jsonl"))


def test_bad_credentials_fail_the_flow_run_with_a_one_line_message(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-the-token")
    state = snapshot(return_state=True)
    assert state.is_failed()
    assert (
        state.message
        == "list_livestreams on app sim-app, status LIVE page 1: HTTP 403, code 10000: Authentication error"
    )


def test_the_cli_reports_bad_credentials_in_one_line(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-the-token")
    assert main(["snapshot"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "streamledger: error: list_livestreams on app sim-app, status LIVE page 1: "
        "HTTP 403, code 10000: Authentication error\n"
    )


def test_the_cli_fails_a_snapshot_of_a_wrong_app_in_one_line(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REALTIMEKIT_APP_ID", "no-such-app")
    assert main(["snapshot"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "streamledger: error: no livestream listing could be read: "
        "list_livestreams on app no-such-app, status LIVE page 1: HTTP 404"
    )
    assert err.count("\n") == 1


def test_the_cli_snapshot_of_a_partial_poll_names_the_reads_that_failed(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REALTIMEKIT_APP_ID", "sim-app,no-such-app")
    assert main(["snapshot"]) == 0
    captured = capsys.readouterr()
    assert ": partial, 12 livestreams, " in captured.out
    assert captured.err.startswith("  list_livestreams on app no-such-app, status LIVE page 1: HTTP 404")


def test_the_cli_snapshot_prints_a_summary_line(
    prefect_api: None, sim_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("poll ")
    assert ": ok, 12 livestreams, " in out


def test_the_token_appears_nowhere_in_prefects_database(
    prefect_api: None, sim_env: Path, sim: RunningSimulator
) -> None:
    assert snapshot(return_state=True).is_completed()
    url = get_current_settings().server.database.connection_url
    assert url is not None
    path = Path(url.get_secret_value().split("///", 1)[1])
    assert path.exists()
    assert sim.config.token.encode() not in path.read_bytes()


def test_a_snapshot_command_in_its_own_process_logs_nothing_secret(
    prefect_api: None, sim: RunningSimulator, tmp_path: Path
) -> None:
    sim.advance(60)
    # The harness's server: a first run's own temporary server is what .ci/wheel-check runs, secrets
    # checked there too; here its 15 s start would only repeat that.
    server = str(get_current_settings().api.url)
    done, _ = snapshot_command(
        command_env(sim, tmp_path, PREFECT_API_URL=server, PREFECT_LOGGING_LEVEL="DEBUG")
    )
    assert ": ok, 12 livestreams, " in done.stdout
    keys = [
        ls["stream_key"] for ls in httpx.get(f"{sim.root_url}/_simulator/livestreams").json()["livestreams"]
    ]
    for secret in [sim.config.token, *keys]:
        assert secret not in done.stdout
        assert secret not in done.stderr


def test_a_late_scheduled_run_is_skipped_and_says_so(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(snapshot_module, "lateness_seconds", lambda: 600.0)
    state = snapshot(return_state=True)
    assert state.is_completed()
    assert state.message == "skipped: this scheduled run started 600 s late; the next on-time run polls"
    assert "started 600 s late" in caplog.text
    assert not sim_env.exists()  # nothing was polled, so not even the database was created


def test_a_skipped_run_fails_when_polling_has_gone_stale(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert snapshot(return_state=True).is_completed()
    monkeypatch.setattr(snapshot_module, "lateness_seconds", lambda: 600.0)
    assert snapshot(return_state=True).is_completed()  # the last success is seconds old: fresh
    monkeypatch.setenv("STREAMLEDGER_STALE_AFTER_SECONDS", "0.001")
    state = snapshot(return_state=True)
    assert state.is_failed()
    assert state.message is not None
    assert state.message.startswith("stale: the last successful poll finished at ")
    assert state.message.endswith("(more than STREAMLEDGER_STALE_AFTER_SECONDS = 0.001)")


def test_status_prints_the_health_of_the_warehouse_and_checks_staleness(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert snapshot(return_state=True).is_completed()
    capsys.readouterr()
    assert main(["status", "--database", str(sim_env), "--check"]) == 0
    out = capsys.readouterr().out
    assert "last poll            " in out
    assert ": ok" in out
    assert "polls, last hour     1 ok, 0 partial, 0 failed; 0 429s, 0 parse issues" in out
    assert "request budget       " in out
    assert " of 1200 used in the last 300 s" in out
    monkeypatch.setenv("STREAMLEDGER_STALE_AFTER_SECONDS", "0.001")
    assert main(["status", "--database", str(sim_env), "--check"]) == 2
    assert "STALE" in capsys.readouterr().out


def test_the_reconcile_flow_loads_cloudflares_daywise_totals(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMLEDGER_RECONCILE_DAYS", "90")  # the simulator's clock is in 2026-10
    today = datetime.now(UTC).date()
    back_to_october = (today.year - 2026) * 12 + today.month - 10 + 1  # this month and those back to 2026-10
    monkeypatch.setenv("STREAMLEDGER_RECONCILE_MONTHS", str(back_to_october))
    assert snapshot(return_state=True).is_completed()
    state = reconcile(return_state=True)
    assert state.is_completed(), state.message
    row = state.result()
    assert isinstance(row, PollRun)
    assert (row.kind, row.outcome) == ("reconcile", "ok")
    con = warehouse.connect(sim_env, read_only=True)
    try:
        days = con.execute("select count(*) from analytics_daily").fetchall()
        kinds = con.execute("select kind, count(*) from poll_runs group by kind order by kind").fetchall()
        months = con.execute(
            "select start_time, end_time - start_time, count from analytics_overall order by start_time"
        ).fetchall()
    finally:
        con.close()
    assert days[0][0] >= 1
    # The month of now and those before it back to October, each its whole window.
    assert len(months) == back_to_october
    assert all(start.day == 1 and start.hour == 0 for start, _, _ in months)
    assert all(28 <= span.days <= 31 for _, span, _ in months)
    (october,) = [count for start, _, count in months if (start.year, start.month) == (2026, 10)]
    assert october >= 1
    assert kinds == [("reconcile", 1), ("snapshot", 1)]


def test_the_daily_reconcile_flow_archives_after_reconciling(
    prefect_api: None, sim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, _ = aged_history(tmp_path / "history", polls=6, shifts=((3, 4),))
    archive_dir = tmp_path / "archive"
    monkeypatch.setenv("STREAMLEDGER_DATABASE", str(database))  # instead of sim_env's fresh one
    monkeypatch.setenv("STREAMLEDGER_ARCHIVE_DIR", str(archive_dir))
    monkeypatch.setenv("STREAMLEDGER_RAW_RETENTION_DAYS", "1")
    old = "select * from raw_responses where fetched_at < current_date - interval 1 day order by poll_id, seq"
    con = warehouse.connect(database, read_only=True)
    try:
        before = con.sql(old).pl()
    finally:
        con.close()
    assert before.height > 0
    state = reconcile(return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, PollRun)
    assert result.kind == "reconcile"
    con = warehouse.connect(database, read_only=True)
    try:
        after = con.sql(old).pl()
    finally:
        con.close()
    assert after.height == 0
    files = sorted((archive_dir / "raw_responses").glob("*.parquet"))
    archived = pl.concat([pl.read_parquet(f) for f in files])
    assert_frame_equal(archived, before, check_exact=True, check_column_order=False)


def test_a_snapshot_run_while_a_reader_holds_the_database_lands_its_poll_for_the_next_run(
    prefect_api: None, sim_env: Path, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert snapshot(return_state=True).is_completed()
    monkeypatch.setenv("STREAMLEDGER_LOCK_WAIT_SECONDS", "0.5")
    with held(sim_env, read_only=True, seconds=120):
        sim.advance(60)
        deferred = snapshot(return_state=True)
    assert deferred.is_completed()
    assert deferred.message is not None
    assert "landed; the database was busy, the next run loads it" in deferred.message
    (landed,) = (sim_env.parent / "landing").glob("*.jsonl")
    sim.advance(60)
    after = snapshot(return_state=True)
    assert after.is_completed()
    con = warehouse.connect(sim_env, read_only=True)
    try:
        polls = {row[0]: row[1] for row in con.execute("select poll_id, recovered from poll_runs").fetchall()}
    finally:
        con.close()
    assert len(polls) == 3
    assert polls[landed.stem] is True
    assert not list((sim_env.parent / "landing").glob("*.jsonl"))


def test_a_poll_without_prefect_takes_the_flow_tasks_in_the_flow_order(
    prefect_api: None, sim_env: Path, sim: RunningSimulator, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    state = snapshot(return_state=True)
    assert state.is_completed()
    assert state.state_details.flow_run_id is not None
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:  # task runs reach the server as events, after the flow run has returned
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
            if len(task_runs) == 7 and all(run.start_time is not None for run in task_runs):
                break
            assert time.monotonic() < deadline, f"{len(task_runs)} task runs recorded"
            time.sleep(0.2)
    by_start = sorted(task_runs, key=lambda run: str(run.start_time))
    flow_steps = [run.name.split()[0] for run in by_start]
    STEPS_TAKEN.clear()
    sim.advance(60)
    run_poll(settings_for(sim, tmp_path / "plain"))
    # The Prefect artifact is the flow's alone; everything before it is the same call in the same order.
    assert flow_steps == [*STEPS_TAKEN, "publish"]
    assert STEPS_TAKEN == ["recover", "plan", "fetch", "land", "normalize", "load"]
