"""The snapshot flow's cheaper Prefect calls keep what Prefect records: each task's upstream tasks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from streamledger.flows.snapshot import snapshot

pytestmark = pytest.mark.prefect

TASKS_PER_POLL = 7  # recover_interrupted, plan, fetch, land, normalize, load, publish


def test_each_task_run_still_names_the_task_runs_its_inputs_came_from(
    prefect_api: None, sim_env: Path
) -> None:
    state = snapshot(return_state=True)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        # Task runs reach the server as events, after the flow run has returned.
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if len(runs) == TASKS_PER_POLL and all(run.state and run.state.is_completed() for run in runs):
                break
            assert time.monotonic() < deadline, f"{len(runs)} task runs recorded"
            time.sleep(0.2)
    by_id = {run.id: run.name.split()[0] for run in runs}
    upstream = {
        by_id[run.id]: {
            name: {by_id[i.id] for i in inputs if hasattr(i, "id")}
            for name, inputs in run.task_inputs.items()
        }
        for run in runs
    }
    assert upstream["fetch"]["poll_plan"] == {"plan"}
    assert upstream["land"]["fetched"] == {"fetch"}
    assert upstream["normalize"]["fetched"] == {"fetch"}
    assert upstream["load"]["fetched"] == {"fetch"}
    assert upstream["load"]["normalized"] == {"normalize"}
    assert upstream["publish"]["run"] == {"load"}
