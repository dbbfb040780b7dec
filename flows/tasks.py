"""The Prefect tasks the flows are made of: each is one stage of a poll, a thin call into streamledger."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from prefect.utilities.annotations import opaque

from streamledger import fetch as fetching
from streamledger import landing
from streamledger import load as loading
from streamledger import plan as planning
from streamledger.errors import DatabaseBusy
from streamledger.poll import PLAN_COUNTS, FetchedPoll, PollPlan, PollRun
from streamledger.settings import Settings
from streamledger.timing import timed
from streamledger.transforms.normalize import NormalizedPoll, normalize_responses

T = TypeVar("T")

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


@task(cache_policy=NO_CACHE)
def recover(settings: Settings) -> list[PollRun]:
    """Load the polls earlier runs landed but did not load (a crash, a busy database), oldest first."""
    recovery = loading.load_landed(settings)
    for problem in recovery.quarantined:
        get_run_logger().error(problem)
    if recovery.waiting:
        get_run_logger().warning(recovery.waiting)
    return recovery.runs


@task(cache_policy=NO_CACHE)
def plan(settings: Settings) -> PollPlan:
    """Read open sessions, sessions to finalize, read times and recent requests from the warehouse."""
    return planning.read_plan(settings)


@task(cache_policy=NO_CACHE)
def fetch(settings: Settings, poll_plan: PollPlan) -> FetchedPoll:
    """Discover livestreams and read by priority within the poll's allowance, all in one batch."""
    return fetching.fetch_poll(settings, poll_plan)


@task(cache_policy=NO_CACHE)
def fetch_analytics(settings: Settings) -> FetchedPoll:
    """Read Cloudflare's daywise livestream totals for the recent days, and its overall totals of the
    recent calendar months (for the monthly export's cross-check)."""
    return fetching.fetch_analytics(settings, settings.reconcile_days, settings.reconcile_months)


@task(cache_policy=NO_CACHE)
def land(settings: Settings, fetched: FetchedPoll) -> str:
    """Write the raw responses to a landing file before anything else can fail."""
    return str(landing.land(settings.landing_dir, fetched))


@task(cache_policy=NO_CACHE)
def normalize(fetched: FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type and audit every field of the responses; return the frames and the seconds it took."""
    return timed(normalize_responses, fetched.responses)


@task(cache_policy=NO_CACHE)
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


@task(cache_policy=NO_CACHE)
def publish(run: PollRun) -> None:
    """Publish the poll's ledger row as a Prefect table artifact."""
    message = f"\n\n{run.message}" if run.message else ""
    create_table_artifact(
        key=f"{run.kind}-summary",
        table=[{column: getattr(run, column) for column in SUMMARY_COLUMNS}],
        description=f"Poll {run.poll_id}: {run.outcome}{message}",
    )


def published(run: PollRun) -> PollRun | State[Any]:
    """Publish the ledger row; return it, or Failed with the first line of why when the poll failed."""
    publish(run)
    if run.outcome == "failed":
        return Failed(message=(run.message or "the poll failed").splitlines()[0])
    return run


def left_landed(fetched: FetchedPoll) -> State[Any]:
    """Return the Completed state of a run whose poll stays landed because the database was held."""
    return Completed(message=f"poll {fetched.poll_id} landed; the database was busy, the next run loads it")


def as_is(value: T) -> T:
    """Return `value` marked for one task call's argument (only there: it is not a T to anything else).

    Prefect still records the task the value came from, but does not walk through its contents: a poll's
    every response, twice per task call, took about 25 ms per 100 responses.
    """
    return cast(T, opaque(value))
