"""The snapshot flow: one flow run is one poll of every app's livestream sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed

from streamledger.errors import StreamledgerError
from streamledger.files import private_files
from streamledger.flows.tasks import as_is, fetch, land_and_load, plan, recover_interrupted
from streamledger.health import stale_problem
from streamledger.settings import Settings


@flow(name="snapshot", description="Poll the livestream sessions of every app once.")
def snapshot() -> dict[str, Any] | State[Any]:
    """Run one poll: plan, fetch, then land, normalize, load and publish; return the poll_runs row.

    The run fails when the poll failed, and when it loaded nothing and polling has gone stale, so that
    Prefect's notifications can alert on either.
    """
    private_files()
    try:
        settings = Settings.from_env()
        late = lateness_seconds()
        if late > settings.poll_interval_seconds:
            # After downtime Prefect runs every missed slot; a stale snapshot is worth nothing.
            message = f"skipped: this scheduled run started {late:.0f} s late; the next on-time run polls"
            get_run_logger().warning(message)
            return unless_stale(settings, Completed(message=message))
        database_free = recover_interrupted(settings)
        result = land_and_load(settings, fetch(settings, as_is(plan(settings, database_free))))
        if isinstance(result, State) and result.is_completed():  # landed for the next run, not loaded
            return unless_stale(settings, result)
        return result
    except StreamledgerError as exc:
        return Failed(message=str(exc))


def unless_stale(settings: Settings, state: State[Any]) -> State[Any]:
    """Return `state`, or Failed saying why when no poll has succeeded for stale_after_seconds."""
    problem = stale_problem(settings)
    if problem is None:
        return state
    get_run_logger().error(problem)
    return Failed(message=problem)


def lateness_seconds() -> float:
    """Return how late a scheduled run started (0 for runs started by hand)."""
    # From the run's context: prefect.runtime.deployment.id asks the API for the flow run on every call.
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None or run.deployment_id is None or run.expected_start_time is None:
        return 0.0
    return max(0.0, (datetime.now(UTC) - run.expected_start_time).total_seconds())
