"""The reconcile flow: once a day, Cloudflare's daywise and monthly totals beside the warehouse's, then the
archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State

from streamledger import reports
from streamledger.archive import archive_raw_responses
from streamledger.errors import DatabaseBusy, StreamledgerError
from streamledger.files import private_files
from streamledger.flows.tasks import (
    as_is,
    carried,
    failed,
    fetch_analytics,
    land,
    left_landed,
    load,
    normalize,
    published,
    recover,
    reported,
    run_name,
)
from streamledger.poll import FetchedPoll, PollRun
from streamledger.settings import Settings
from streamledger.summaries import poll_facts, reconcile_markdown


@task(cache_policy=NO_CACHE, task_run_name="archive")
@reported
def archive_old_responses(settings: Settings) -> int:
    """Move raw responses older than the retention to Parquet and prune them; return the days archived.

    While another process holds the database the step is skipped: the next daily run archives those days.
    """
    logger = get_run_logger()
    try:
        archived = archive_raw_responses(
            settings.database,
            settings.archive_dir,
            settings.raw_retention_days,
            wait_seconds=settings.lock_wait_seconds,
        )
    except DatabaseBusy as exc:
        logger.warning(f"archive skipped, the next run archives those days: {exc}")
        return 0
    for day in archived:
        logger.info(
            f"archived {day.day}: {day.polls} polls, {day.responses} raw responses, {day.bytes} bytes "
            f"to {day.file}"
        )
    return len(archived)


@task(cache_policy=NO_CACHE, task_run_name="compare {run.poll_id}")
def compare(settings: Settings, run: PollRun) -> str:
    """Return the reconcile's summary: its poll, and Cloudflare's daywise totals beside the warehouse's for
    the days it read (the reconciliation report), each difference listed."""
    last = datetime.now(UTC).date()
    first = last - timedelta(days=settings.reconcile_days)
    try:
        days = reports.run_report(
            settings.database,
            "reconciliation",
            {"from_date": first, "to_date": last},
            wait_seconds=settings.lock_wait_seconds,
        ).rows(named=True)
    except StreamledgerError as exc:  # a busy database: the summary says so, the reconcile stands
        get_run_logger().warning(f"the differences are not in this run's summary: {exc}")
        return reconcile_markdown(poll_facts(run), [], first_day=first, last_day=last, unread=str(exc))
    return reconcile_markdown(poll_facts(run), days, first_day=first, last_day=last)


@flow(
    name="reconcile",
    description="Read Cloudflare's livestream analytics: daywise into analytics_daily, the recent months' "
    "overall totals into analytics_overall.",
    flow_run_name=run_name("reconcile"),
)
def reconcile() -> PollRun | State[Any]:
    """Fetch, land, normalize and load the recent days' and months' analytics, then archive old responses."""
    private_files()
    fetched: FetchedPoll | None = None
    try:
        settings = Settings.from_env(api=True)
        recover(settings)
        fetched = carried(fetch_analytics(settings))
        land(settings, as_is(fetched))
        normalized, seconds = normalize(as_is(fetched))
        run = load(settings, as_is(fetched), normalized, seconds)
        summary = compare(settings, run) if run else None
        archive_old_responses(settings)
        return published(run, summary) if run else left_landed(fetched)
    except StreamledgerError as exc:
        return failed("reconcile", exc, fetched)
