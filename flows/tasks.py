"""The Prefect tasks both flows are made of; each is a thin call into streamledger.poll or .fetch."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from prefect.utilities.annotations import opaque

from streamledger import poll
from streamledger.errors import DatabaseBusy
from streamledger.fetch import PLAN_COUNTS, FetchedPoll, PollPlan, fetch_daywise, fetch_poll
from streamledger.settings import Settings
from streamledger.transforms.normalize import NormalizedPoll

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
    *PLAN_COUNTS,
    "network_seconds",
    "normalize_seconds",
    "load_seconds",
)


@task(cache_policy=NO_CACHE)
def recover_interrupted(settings: Settings) -> bool:
    """Load polls an earlier run landed but did not load; return False if the database was busy."""
    _rows, problems, busy = poll.recover_landed(settings)
    for problem in problems:
        if busy:
            get_run_logger().warning(problem)
        else:
            get_run_logger().error(problem)
    return not busy


@task(cache_policy=NO_CACHE)
def plan(settings: Settings, database_free: bool = True) -> PollPlan:
    """Read open sessions, sessions to finalize, read times and recent request times from the warehouse.

    When the database was just found busy, the poll goes straight to the cached plan instead of waiting.
    """
    return poll.plan_poll(settings, wait_seconds=None if database_free else 0.0)


@task(cache_policy=NO_CACHE)
def fetch(settings: Settings, poll_plan: PollPlan) -> FetchedPoll:
    """Discover livestreams and read by priority within the poll's allowance, all in one batch."""
    return fetch_poll(settings, poll_plan)


@task(cache_policy=NO_CACHE)
def fetch_analytics(settings: Settings) -> FetchedPoll:
    """Read Cloudflare's daywise livestream totals for the recent days."""
    return fetch_daywise(settings, settings.reconcile_days)


@task(cache_policy=NO_CACHE)
def land(settings: Settings, fetched: FetchedPoll) -> str:
    """Write the raw responses to a landing file before anything else can fail."""
    return str(poll.land(settings.landing_dir, fetched))


@task(cache_policy=NO_CACHE)
def normalize(fetched: FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type and audit every field of the responses."""
    return poll.normalize_poll(fetched)


@task(cache_policy=NO_CACHE)
def load(
    settings: Settings, fetched: FetchedPoll, normalized: NormalizedPoll, seconds: float
) -> dict[str, Any] | None:
    """Load the whole poll in one DuckDB transaction and drop its landing file.

    Returns None when another process held the database past the wait: the poll stays landed and the
    next run loads it first, so a reader never costs a poll.
    """
    try:
        row = poll.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    except DatabaseBusy as exc:
        get_run_logger().warning(f"poll {fetched.poll_id} stays landed for the next run: {exc}")
        return None
    (settings.landing_dir / f"{fetched.poll_id}.jsonl").unlink(missing_ok=True)
    return row


@task(cache_policy=NO_CACHE)
def publish(row: dict[str, Any]) -> None:
    """Publish the poll's ledger row as a Prefect table artifact."""
    message = f"\n\n{row['message']}" if row["message"] else ""
    create_table_artifact(
        key=f"{row['kind']}-summary",
        table=[{column: row[column] for column in SUMMARY_COLUMNS}],
        description=f"Poll {row['poll_id']}: {row['outcome']}{message}",
    )


def as_is(value: T) -> T:
    """Return `value` marked for one task call's argument (only there: it is not a T to anything else).

    Prefect still records the task the value came from, but does not walk through its contents: a poll's
    every response, twice per task call, took about 25 ms per 100 responses.
    """
    return cast(T, opaque(value))


def land_and_load(settings: Settings, fetched: FetchedPoll) -> dict[str, Any] | State[Any]:
    """Land, normalize, load and publish a fetched poll; return its ledger row, or Failed when it failed."""
    land(settings, as_is(fetched))
    normalized, seconds = normalize(as_is(fetched))
    row = load(settings, as_is(fetched), normalized, seconds)
    if row is None:
        busy = f"poll {fetched.poll_id} landed; the database was busy, the next run loads it"
        return Completed(message=busy)
    publish(row)
    if row["outcome"] == "failed":
        return Failed(message=row["message"].splitlines()[0])
    return row
