"""The snapshot flow: one flow run is one poll of every configured app's active sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed

from streamledger import poll
from streamledger.errors import StreamledgerError
from streamledger.settings import Settings
from transforms.normalize import NormalizedPoll

SUMMARY_COLUMNS = (
    "poll_id",
    "outcome",
    "livestreams",
    "active_reads",
    "sessions",
    "requests",
    "retries",
    "rate_limited",
    "parse_issues",
    "network_seconds",
    "normalize_seconds",
    "load_seconds",
)


@task(cache_policy=NO_CACHE)
def recover_interrupted(settings: Settings) -> int:
    """Load polls an interrupted run landed but did not load; return how many."""
    return len(poll.recover_landed(settings))


@task(cache_policy=NO_CACHE)
def plan(settings: Settings) -> poll.PollPlan:
    """Read open sessions and recent request times from the warehouse."""
    return poll.plan_poll(settings)


@task(cache_policy=NO_CACHE)
def fetch(settings: Settings, poll_plan: poll.PollPlan) -> poll.FetchedPoll:
    """Discover livestreams and read active sessions, all requests of the poll in one batch."""
    return poll.fetch_poll(settings, poll_plan)


@task(cache_policy=NO_CACHE)
def land(settings: Settings, fetched: poll.FetchedPoll) -> str:
    """Write the raw responses to a landing file before anything else can fail."""
    return str(poll.land(settings.landing_dir, fetched))


@task(cache_policy=NO_CACHE)
def normalize(fetched: poll.FetchedPoll) -> tuple[NormalizedPoll, float]:
    """Type and audit every field of the poll's responses."""
    return poll.normalize_poll(fetched)


@task(cache_policy=NO_CACHE)
def load(
    settings: Settings, fetched: poll.FetchedPoll, normalized: NormalizedPoll, seconds: float
) -> dict[str, Any]:
    """Load the whole poll in one DuckDB transaction and drop its landing file."""
    row = poll.load_poll(settings, fetched, normalized, normalize_seconds=seconds)
    (settings.landing_dir / f"{fetched.poll_id}.jsonl").unlink(missing_ok=True)
    return row


@task(cache_policy=NO_CACHE)
def publish(row: dict[str, Any]) -> None:
    """Publish the poll's ledger row as a Prefect table artifact."""
    create_table_artifact(
        key="snapshot-summary",
        table=[{column: row[column] for column in SUMMARY_COLUMNS}],
        description=f"Poll {row['poll_id']}: {row['outcome']}"
        + (f"\n\n{row['message']}" if row["message"] else ""),
    )


@flow(name="snapshot", description="Poll the active livestream sessions of every configured app once.")
def snapshot() -> dict[str, Any] | State[Any]:
    """Run one poll: discover, fetch, land, normalize, load, publish; return the poll_runs row."""
    try:
        settings = Settings.from_env()
        late = _lateness_seconds()
        if late > settings.poll_interval_seconds:
            return Completed(message=f"skipped: this scheduled run is {late:.0f} s late; the next one polls")
        recover_interrupted(settings)
        fetched = fetch(settings, plan(settings))
        land(settings, fetched)
        normalized, seconds = normalize(fetched)
        row = load(settings, fetched, normalized, seconds)
        publish(row)
    except StreamledgerError as exc:
        return Failed(message=str(exc))
    if row["outcome"] == "failed":
        return Failed(message=row["message"].splitlines()[0], data=row)
    return row


def _lateness_seconds() -> float:
    """Return how late a scheduled run started (0 for runs started by hand)."""
    if deployment.id is None:
        return 0.0
    scheduled: datetime = flow_run.scheduled_start_time
    return max(0.0, (datetime.now(UTC) - scheduled).total_seconds())
