"""What the Prefect UI shows of a run, read back from the API: a failure red at the task that failed, its
cause and what to do at ERROR and no traceback; runs named after their poll and tagged; a markdown summary
per poll, per reconcile and per export."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Log, TaskRun
from prefect.client.schemas.sorting import LogSort

import streamledger.flows.export as export_flow
from simulator import RunningSimulator
from streamledger.flows.export import monthly_export
from streamledger.flows.reconcile import reconcile
from streamledger.flows.snapshot import snapshot
from streamledger.poll import PollRun

pytestmark = pytest.mark.prefect


class Recorded:
    """A flow run as the API holds it once its task runs, logs and artifacts have arrived."""

    def __init__(self, client: SyncPrefectClient, flow_run_id: UUID, tasks: int) -> None:
        deadline = time.monotonic() + 30
        while True:  # task runs and logs reach the server after the flow run has returned
            self.flow_run = client.read_flow_run(flow_run_id)
            this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            runs = client.read_task_runs(flow_run_filter=this_run)
            self.logs: list[Log] = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                sort=LogSort.TIMESTAMP_ASC,
            )
            final = [run for run in runs if run.state is not None and run.state.is_final()]
            ended = any(log.task_run_id is None and "Finished in state" in log.message for log in self.logs)
            if len(final) == tasks and ended:
                break
            assert time.monotonic() < deadline, f"{len(final)} of {tasks} task runs recorded"
            time.sleep(0.2)
        self.tasks: dict[str, TaskRun] = {run.name.split()[0]: run for run in runs}
        self.artifacts = {
            artifact.key: artifact
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        }

    def state_of(self, task: str) -> str:
        state = self.tasks[task].state
        assert state is not None
        return state.type.value

    def errors_of(self, task: str | None) -> list[str]:
        """The ERROR records of a task run (None: of the flow run itself), but Prefect's "Finished in"."""
        run_id = None if task is None else self.tasks[task].id
        return [
            log.message
            for log in self.logs
            if log.level >= 40 and log.task_run_id == run_id and not log.message.startswith("Finished in")
        ]

    def markdown(self, key: str) -> str:
        return str(self.artifacts[key].data)


def recorded(state: Any, tasks: int) -> Recorded:
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return Recorded(client, flow_run_id, tasks)


def test_a_failed_poll_is_red_at_its_fetch_with_the_cause_and_what_to_do_and_no_traceback(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "not-the-token")
    state = snapshot(return_state=True)
    assert state.is_failed()
    cause = "list_livestreams on app sim-app, status LIVE page 1: HTTP 403, code 10000: Authentication error"
    assert state.message == cause
    run = recorded(state, tasks=7)
    assert run.state_of("fetch") == "FAILED"
    # The failed poll is still landed and loaded: its ledger row records the failure.
    for task in ("recover", "plan", "land", "normalize", "load", "publish"):
        assert run.state_of(task) == "COMPLETED", task
    (error,) = run.errors_of("fetch")
    assert error == (
        f"{cause}\nWhat to do: the API refused the token or the account: check `CLOUDFLARE_API_TOKEN` "
        "(Realtime read access) and `CLOUDFLARE_ACCOUNT_ID`; `streamledger doctor` checks the settings, the "
        "database and the API"
    )
    assert not any("Traceback" in log.message or "NoneType: None" in log.message for log in run.logs)
    poll_id = run.tasks["land"].name.split()[1]
    assert run.flow_run.name == poll_id
    assert set(run.flow_run.tags) >= {"snapshot", "app:sim-app"}
    summary = run.markdown("snapshot-report")
    assert summary.startswith(f"## Snapshot poll `{poll_id}`: **failed**\n")
    assert "**Cause:** list\\_livestreams on app sim-app, status LIVE page 1: HTTP 403" in summary
    assert "**What to do:** the API refused the token or the account" in summary
    assert "| requests | 1 of an allowance of 240 (1 to discover, 1 failed) |" in summary
    assert "snapshot-summary" in run.artifacts


def test_a_failure_inside_a_task_is_red_there_logged_once_with_what_to_do_without_a_traceback(
    prefect_api: None, sim_env: Path
) -> None:
    sim_env.write_bytes(b"not a DuckDB file, but something left where the database should be" * 100)
    state = snapshot(return_state=True)
    assert state.is_failed()
    assert state.message is not None
    assert str(sim_env) in state.message
    run = recorded(state, tasks=2)
    assert run.state_of("recover") == "COMPLETED"
    assert run.state_of("plan") == "FAILED"
    (error,) = run.errors_of("plan")
    assert error.startswith(state.message + "\nWhat to do: ")
    assert "`streamledger doctor`" in error
    assert not any("Traceback" in log.message for log in run.logs)
    assert run.errors_of(None) == []
    summary = run.markdown("snapshot-report")
    assert summary.startswith("## Snapshot: **failed**\n")
    assert "**What to do:** " in summary


def test_a_poll_is_named_tagged_and_summed_up_beside_its_ledger_row(prefect_api: None, sim_env: Path) -> None:
    state = snapshot(return_state=True)
    assert state.is_completed()
    row = state.result()
    assert isinstance(row, PollRun)
    run = recorded(state, tasks=7)
    assert run.flow_run.name == row.poll_id
    assert set(run.flow_run.tags) >= {"snapshot", "app:sim-app"}
    assert run.tasks["load"].name == f"load {row.poll_id}"
    summary = run.markdown("snapshot-report")
    assert summary.startswith(f"## Snapshot poll `{row.poll_id}`: **ok**\n")
    assert "**Cause:**" not in summary
    assert f"| livestreams seen | {row.livestreams} |" in summary
    assert f"| sessions read | {row.sessions} |" in summary
    assert f"| requests | {row.requests} of an allowance of {row.allowance}" in summary
    assert "| reads | planned | deferred to the next poll |" in summary
    assert f"| listing pages | {row.planned_list} | {row.deferred_list} |" in summary
    assert f"| budget | {row.budget} |" in summary


def test_a_partial_poll_stays_green_and_warns_which_reads_failed(
    prefect_api: None, sim_env: Path, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert snapshot(return_state=True).is_completed()  # sessions are live: the next poll reads them
    monkeypatch.setenv("STREAMLEDGER_MAX_ATTEMPTS", "1")
    sim.set_faults(fault_routes=("active_session",), fault_5xx=1.0)
    sim.advance(30)
    state = snapshot(return_state=True)
    assert state.is_completed()
    row = state.result()
    assert isinstance(row, PollRun)
    assert row.outcome == "partial"
    assert row.message is not None
    problems = row.message.splitlines()
    run = recorded(state, tasks=7)
    assert run.state_of("fetch") == "COMPLETED"
    warnings = [
        log.message for log in run.logs if log.level == 30 and log.task_run_id == run.tasks["fetch"].id
    ]
    assert warnings == [
        f"poll {row.poll_id} is partial: {len(problems)} read(s) failed, the rest is kept:\n"
        + "\n".join(problems[:10])
        + (f"\n... and {len(problems) - 10} more" if len(problems) > 10 else "")
    ]
    summary = run.markdown("snapshot-report")
    assert summary.startswith(f"## Snapshot poll `{row.poll_id}`: **partial**\n")
    assert f"**Problems** ({len(problems)}):" in summary
    assert "active\\_session on app sim-app" in summary


def test_the_reconcile_summary_shows_cloudflare_beside_the_warehouse(
    prefect_api: None, sim_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMLEDGER_RECONCILE_DAYS", "90")  # the simulator's clock is in 2026-10
    assert snapshot(return_state=True).is_completed()
    state = reconcile(return_state=True)
    assert state.is_completed(), state.message
    row = state.result()
    assert isinstance(row, PollRun)
    run = recorded(state, tasks=8)  # recover, fetch, land, normalize, load, compare, archive, publish
    assert run.flow_run.name == row.poll_id
    assert "reconcile" in run.flow_run.tags
    summary = run.markdown("reconcile-report")
    assert summary.startswith(f"## Reconcile poll `{row.poll_id}`: **ok**\n")
    assert "### Cloudflare against the warehouse, " in summary
    # The simulator's day has sessions still running: its verdict waits, and the summary says why.
    assert "App-days: " in summary
    assert "| app | day | sessions (Cloudflare / warehouse) |" in summary
    assert "not final" in summary


def test_the_export_summary_names_its_folder_and_totals_and_a_month_incomplete_on_day_7_fails_loudly(
    prefect_api: None,
    sim_env: Path,
    sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert snapshot(return_state=True).is_completed()
    month = sim.now_iso()[:7]
    state = monthly_export(month=month, return_state=True)
    assert state.is_completed()
    run = recorded(state, tasks=2)
    assert run.flow_run.name == f"export {month}"
    summary = run.markdown("monthly-export-report")
    assert summary.startswith(f"## Export of {month}: **not complete**\n")
    assert f"**Folder:** `{tmp_path / 'exports' / month}`" in summary
    assert "| sessions | " in summary
    assert "| estimated cost | " in summary
    assert "| finance-statement.csv | " in summary

    # The scheduled run on the 7th of the month after: the month is still incomplete (a few minutes of
    # polls in a whole month), so the run fails and says so; `serve`'s automation alerts on its event.
    year, number = map(int, month.split("-"))
    monkeypatch.setattr(export_flow, "utc_today", lambda: date(year + number // 12, number % 12 + 1, 7))
    overdue = monthly_export(return_state=True)
    assert overdue.is_failed()
    assert overdue.message is not None
    assert overdue.message.startswith(f"the export of {month} is still not complete on day 7: ")
    run = recorded(overdue, tasks=2)
    assert run.errors_of(None) == [
        f"{overdue.message}\nWhat to do: fix what the notes name, then `streamledger export --month {month}` "
        f"writes it again to {tmp_path / 'exports'}"
    ]
