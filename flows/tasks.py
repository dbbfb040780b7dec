"""The Prefect tasks the flows are made of: each is one stage of a poll, a thin call into streamledger.

And what a run shows in the Prefect UI: a failure is red at the task that failed, its cause logged there at
ERROR with what to do, once and without a traceback; a run is named after its poll and tagged with its kind
and apps; each poll has a markdown summary beside its ledger row.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

import httpx
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed
from prefect.utilities.annotations import opaque

from streamledger import fetch as fetching
from streamledger import landing
from streamledger import load as loading
from streamledger import plan as planning
from streamledger.errors import DatabaseBusy, StreamledgerError
from streamledger.poll import PLAN_COUNTS, FetchedPoll, PollPlan, PollRun
from streamledger.settings import Settings
from streamledger.summaries import failure_markdown, hint, poll_facts, poll_markdown, tags_of
from streamledger.timing import timed
from streamledger.transforms.normalize import NormalizedPoll, normalize_responses

T = TypeVar("T")
P = ParamSpec("P")

SUMMARY_COLUMNS = (
    "poll_id",
    "kind",
    "outcome",
    "livestreams",
    "sessions",
    "requests",
    "retries",
    "rate_limited",
    "parse_issues",
    "allowance",
    "listing",
    *PLAN_COUNTS,
    "network_seconds",
    "normalize_seconds",
    "load_seconds",
)
PROBLEMS_LOGGED = 10  # lines of a partial poll's problems its fetch task logs (all are in poll_runs.message)
_LOGGED = "_streamledger_logged"


class ExpectedFailures(logging.Filter):
    """Drops Prefect's own records of a failure that streamledger has logged already, with its cause and
    what to do, at ERROR: the task engine's "Task run failed with exception" and the flow engine's "Engine
    execution exited with unexpected exception", each with a traceback of an error that was expected, and
    the task engine's "Task run failed with state" of a task that failed on purpose (fetch)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.exc_info:
            return True
        error = record.exc_info[1]
        if isinstance(error, StreamledgerError):
            return False
        return not (error is None and record.getMessage().startswith("Task run failed with state"))


def quiet_expected_failures() -> None:
    """Put ExpectedFailures on the loggers of Prefect's task and flow engines (once)."""
    for name in ("prefect.task_runs", "prefect.flow_runs", "prefect.engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedFailures) for f in logger.filters):
            logger.addFilter(ExpectedFailures())


quiet_expected_failures()  # on import: also in the process Prefect starts for a deployment's run


def log_failure(cause: StreamledgerError | str) -> None:
    """Log a failure's cause and what to do about it at ERROR, on the current run, once per error."""
    if isinstance(cause, StreamledgerError):
        if getattr(cause, _LOGGED, False):
            return
        setattr(cause, _LOGGED, True)
    get_run_logger().error("%s\nWhat to do: %s", cause, hint(cause))


def reported(stage: Callable[P, T]) -> Callable[P, T]:
    """Wrap a task's function: a StreamledgerError it raises is logged (log_failure) on the task's own run
    before the task fails with it, red in the UI, and the flow with it."""

    @functools.wraps(stage)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return stage(*args, **kwargs)
        except StreamledgerError as exc:
            log_failure(exc)
            raise

    return run


@task(cache_policy=NO_CACHE, task_run_name="recover landed polls")
@reported
def recover(settings: Settings) -> list[PollRun]:
    """Load the polls earlier runs landed but did not load (a crash, a busy database), oldest first."""
    recovery = loading.load_landed(settings)
    for problem in recovery.quarantined:
        get_run_logger().error(problem)
    if recovery.waiting:
        get_run_logger().warning(recovery.waiting)
    return recovery.runs


@task(cache_policy=NO_CACHE, task_run_name="plan")
@reported
def plan(settings: Settings) -> PollPlan:
    """Read open sessions, sessions to finalize, read times and recent requests from the warehouse."""
    return planning.read_plan(settings)


@task(cache_policy=NO_CACHE, task_run_name="fetch")
@reported
def fetch(settings: Settings, poll_plan: PollPlan) -> FetchedPoll | State[Any]:
    """Discover livestreams and read by priority within the poll's allowance, all in one batch; a poll
    that failed is returned inside the task's Failed state (see judged)."""
    return judged(fetching.fetch_poll(settings, poll_plan))


@task(cache_policy=NO_CACHE, task_run_name="fetch analytics")
@reported
def fetch_analytics(settings: Settings) -> FetchedPoll | State[Any]:
    """Read Cloudflare's daywise livestream totals for the recent days, and its overall totals of the
    recent calendar months (for the monthly export's cross-check)."""
    return judged(fetching.fetch_analytics(settings, settings.reconcile_days, settings.reconcile_months))


def judged(poll: FetchedPoll) -> FetchedPoll | State[Any]:
    """Name the run after the poll; return the poll, or a Failed state carrying it when it failed.

    The fetch task then shows red with the cause logged on it, while the flow still lands and loads the
    poll (carried) so that its ledger row records the failure. A partial poll's failed reads are a warning.
    """
    name_run(poll)
    problems = [p for p in (poll.fatal, *poll.errors) if p]
    if poll.outcome == "failed":
        cause = problems[0] if problems else f"poll {poll.poll_id} failed"
        log_failure(cause)
        return Failed(message=cause.splitlines()[0], data=poll)
    if problems:
        shown = "\n".join(problems[:PROBLEMS_LOGGED])
        more = f"\n... and {len(problems) - PROBLEMS_LOGGED} more" if len(problems) > PROBLEMS_LOGGED else ""
        get_run_logger().warning(
            "poll %s is partial: %d read(s) failed, the rest is kept:\n%s%s",
            poll.poll_id,
            len(problems),
            shown,
            more,
        )
    return poll


def carried(outcome: T | State[Any]) -> T:
    """Return what a task returned, also from a Failed state that carries it (a failed fetch)."""
    if isinstance(outcome, State):
        return cast(T, outcome.result(raise_on_failure=False))
    return outcome


@task(cache_policy=NO_CACHE, task_run_name="land {fetched.poll_id}")
@reported
def land(settings: Settings, fetched: FetchedPoll) -> str:
    """Write the raw responses to a landing file before anything else can fail."""
    return str(landing.land(settings.landing_dir, fetched))


@task(cache_policy=NO_CACHE, task_run_name="normalize {fetched.poll_id}")
@reported
def normalize(fetched: FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type and audit every field of the responses; return the frames and the seconds it took.

    Then the fetched poll forgets its bodies: the frames hold them (see FetchedPoll.release_bodies)."""
    normalized = timed(normalize_responses, fetched.responses)
    fetched.release_bodies()
    return normalized


@task(cache_policy=NO_CACHE, task_run_name="load {fetched.poll_id}")
@reported
def load(
    settings: Settings, fetched: FetchedPoll, normalized: NormalizedPoll, seconds: float
) -> PollRun | None:
    """Load the whole poll in one DuckDB transaction and drop its landing file; return its ledger row.

    Returns None when another process held the database past the wait: the poll stays landed and the
    next run loads it first, so a reader never costs a poll.
    """
    try:
        return loading.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    except DatabaseBusy as exc:
        get_run_logger().warning(f"poll {fetched.poll_id} stays landed for the next run: {exc}")
        return None


@task(cache_policy=NO_CACHE, task_run_name="publish {run.poll_id}")
def publish(run: PollRun, summary: str | None = None) -> None:
    """Publish the poll's ledger row as a table artifact, and its summary (default: poll_markdown) as a
    markdown artifact beside it."""
    message = f"\n\n{run.message}" if run.message else ""
    create_table_artifact(
        key=f"{run.kind}-summary",
        table=[{column: getattr(run, column) for column in SUMMARY_COLUMNS}],
        description=f"Poll {run.poll_id}: {run.outcome}{message}",
    )
    create_markdown_artifact(
        key=f"{run.kind}-report",
        markdown=summary or poll_markdown(poll_facts(run)),
        description=f"Poll {run.poll_id}: {run.outcome}",
    )


def published(run: PollRun, summary: str | None = None) -> PollRun | State[Any]:
    """Publish the ledger row and summary; return the row, or Failed with the first line of why when the
    poll failed (its cause is logged on the fetch task already)."""
    publish(run, summary)
    if run.outcome == "failed":
        return failed_run((run.message or "the poll failed").splitlines()[0])
    return run


def failed(kind: str, exc: StreamledgerError, fetched: FetchedPoll | None = None) -> State[Any]:
    """Return the Failed state of a run that `exc` stopped; log it (unless its task did) and publish its
    summary: the poll's, not loaded, when it was fetched, else the failure's."""
    log_failure(exc)
    if fetched is not None:
        summary = poll_markdown(poll_facts(fetched), cause=str(exc), note=_where(fetched))
        description = f"Poll {fetched.poll_id}: not loaded"
    else:
        summary, description = failure_markdown(kind, exc), f"{kind}: failed"
    create_markdown_artifact(key=f"{kind}-report", markdown=summary, description=description)
    return failed_run(str(exc), exc)


def _where(fetched: FetchedPoll) -> str:
    return (
        f"The poll was fetched ({fetched.requests} requests) but not loaded: it stays landed, if it could be "
        "written, and the next run loads it."
    )


def failed_run(message: str, error: StreamledgerError | None = None) -> State[Any]:
    """Return a flow run's Failed state. It carries a StreamledgerError: Prefect raises it again when the
    run ends, and ExpectedFailures keeps the traceback of that out of the run's logs."""
    return Failed(message=message, data=error or StreamledgerError(message))


def left_landed(fetched: FetchedPoll) -> State[Any]:
    """Return the Completed state of a run whose poll stays landed because the database was held."""
    return Completed(message=f"poll {fetched.poll_id} landed; the database was busy, the next run loads it")


def name_run(poll: FetchedPoll) -> None:
    """Name the flow run after its poll and tag it with its kind and apps, as the UI lists runs."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or not isinstance(context.client, SyncPrefectClient):
        return
    tags = sorted({*context.flow_run.tags, *tags_of(poll.kind, poll.app_ids)})
    try:
        context.client.update_flow_run(context.flow_run.id, name=poll.poll_id, tags=tags)
    except httpx.HTTPError as exc:  # a name is not worth a poll
        get_run_logger().warning(f"the flow run keeps its name: {exc}")


def run_name(kind: str) -> Callable[[], str]:
    """Return a flow's run name until its poll names it: the kind and the UTC time it started."""
    return lambda: f"{kind} {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"


def as_is(value: T) -> T:
    """Return `value` marked for one task call's argument (only there: it is not a T to anything else).

    Prefect still records the task the value came from, but does not walk through its contents: a poll's
    every response, twice per task call, took about 25 ms per 100 responses.
    """
    return cast(T, opaque(value))
