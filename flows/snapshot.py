"""The snapshot flow: one flow run is one poll of every app's livestream sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Completed

from streamledger.errors import StreamledgerError
from streamledger.files import private_files
from streamledger.flows.tasks import (
    as_is,
    carried,
    failed,
    failed_run,
    fetch,
    land,
    left_landed,
    load,
    log_failure,
    normalize,
    plan,
    published,
    recover,
    run_name,
)
from streamledger.health import stale_problem
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Settings


@flow(
    name="snapshot",
    description="Poll the livestream sessions of every app once.",
    flow_run_name=run_name("snapshot"),
)
def snapshot() -> PollRun | State[Any]:
    """Run one poll and return its ledger row; the run fails when the poll failed, or polling is stale.

    A run that loaded nothing because the database was held stays Completed while polling is fresh: its
    poll is landed and the next run loads it.
    """
    private_files()
    fetched: FetchedPoll | None = None
    try:
        settings = Settings.from_env(api=True)
        late = lateness_seconds()
        if late > settings.poll_interval_seconds:
            # After downtime Prefect runs every missed slot; a stale snapshot is worth nothing. Named
            # Skipped, the run is not a completed poll to the automation that watches for them.
            message = f"skipped: this scheduled run started {late:.0f} s late; the next on-time run polls"
            get_run_logger().warning(message)
            return unless_stale(settings, Completed(message=message, name="Skipped"))
        recover(settings)
        poll_plan = plan(settings)
        fetched = carried(fetch(settings, poll_plan))
        land(settings, as_is(fetched))
        normalized, seconds = normalize(as_is(fetched))
        run = load(settings, as_is(fetched), normalized, seconds)
        return published(run) if run else unless_stale(settings, left_landed(fetched))
    except StreamledgerError as exc:
        return failed("snapshot", exc, fetched)


def unless_stale(settings: Settings, state: State[Any]) -> State[Any]:
    """Return `state`, or Failed saying why when no poll has succeeded for stale_after_seconds."""
    problem = stale_problem(settings)
    if problem is None:
        return state
    log_failure(problem)
    return failed_run(problem)


def lateness_seconds() -> float:
    """Return how late a scheduled run started (0 for runs started by hand)."""
    # From the run's context: prefect.runtime.deployment.id asks the API for the flow run on every call.
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None or run.deployment_id is None or run.expected_start_time is None:
        return 0.0
    return max(0.0, (datetime.now(UTC) - run.expected_start_time).total_seconds())
