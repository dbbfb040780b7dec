"""The Prefect tasks both flows are made of; each is a thin call into streamledger.poll or .fetch."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Failed

from streamledger import poll
from streamledger.fetch import PLAN_COUNTS, FetchedPoll, PollPlan, fetch_daywise, fetch_poll
from streamledger.settings import Settings
from transforms.normalize import NormalizedPoll

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
def recover_interrupted(settings: Settings) -> int:
    """Load polls an interrupted run landed but did not load; return how many (failures are logged)."""
    rows, problems = poll.recover_landed(settings)
    for problem in problems:
        get_run_logger().error(problem)
    return len(rows)


@task(cache_policy=NO_CACHE)
def plan(settings: Settings) -> PollPlan:
    """Read open sessions, sessions to finalize, read times and recent request times from the warehouse."""
    return poll.plan_poll(settings)


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
) -> dict[str, Any]:
    """Load the whole poll in one DuckDB transaction and drop its landing file."""
    row = poll.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
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


def land_and_load(settings: Settings, fetched: FetchedPoll) -> dict[str, Any] | State[Any]:
    """Land, normalize, load and publish a fetched poll; return its ledger row, or Failed when it failed."""
    land(settings, fetched)
    normalized, seconds = normalize(fetched)
    row = load(settings, fetched, normalized, seconds)
    publish(row)
    if row["outcome"] == "failed":
        return Failed(message=row["message"].splitlines()[0])
    return row
