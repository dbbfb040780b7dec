"""The reconcile flow: once a day, Cloudflare's daywise and monthly totals beside the warehouse's, then the
archive."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Failed

from streamledger.archive import archive_raw_responses
from streamledger.errors import DatabaseBusy, StreamledgerError
from streamledger.files import private_files
from streamledger.flows.tasks import (
    as_is,
    fetch_analytics,
    land,
    left_landed,
    load,
    normalize,
    published,
    recover,
)
from streamledger.poll import PollRun
from streamledger.settings import Settings


@task(cache_policy=NO_CACHE)
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


@flow(
    name="reconcile",
    description="Read Cloudflare's livestream analytics: daywise into analytics_daily, the recent months' "
    "overall totals into analytics_overall.",
)
def reconcile() -> PollRun | State[Any]:
    """Fetch, land, normalize and load the recent days' and months' analytics, then archive old responses."""
    private_files()
    try:
        settings = Settings.from_env(api=True)
        recover(settings)
        fetched = fetch_analytics(settings)
        land(settings, as_is(fetched))
        normalized, seconds = normalize(as_is(fetched))
        run = load(settings, as_is(fetched), normalized, seconds)
        archive_old_responses(settings)
        return published(run) if run else left_landed(fetched)
    except StreamledgerError as exc:
        return Failed(message=str(exc))
