"""The deployments: snapshot every minute (no overlap, late runs skipped), reconcile daily, export monthly."""

from __future__ import annotations

import os

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from streamledger.errors import ConfigError
from streamledger.flows.alerts import ensure_automations
from streamledger.flows.export import monthly_export
from streamledger.flows.reconcile import reconcile
from streamledger.flows.snapshot import snapshot
from streamledger.settings import Settings


def serve_snapshots(settings: Settings) -> None:
    """Serve the deployments on their schedules until stopped (schedules need a real Prefect server), with
    the automations that alert on them."""
    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "PREFECT_API_URL is not set: schedules need a running `prefect server start` "
            "(then PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
    for line in ensure_automations(settings):
        print(line, flush=True)
    deployment = snapshot.to_deployment(
        name=f"poll-every-{settings.poll_interval_seconds:g}s",
        interval=settings.poll_interval_seconds,
        # Overlapping runs would fight over the DuckDB file; a run that would overlap is dropped.
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="One poll per interval of every configured app's active livestream sessions.",
        tags=["snapshot"],
    )
    daily = reconcile.to_deployment(
        name="daily-00-15-utc",
        schedule=Cron("15 0 * * *", timezone="UTC"),  # once yesterday is complete
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="Cloudflare's daywise totals of the recent days and overall totals of the recent months.",
        tags=["reconcile"],
    )
    monthly = monthly_export.to_deployment(
        name="monthly-1st-to-7th-03-00-utc",
        # The month before, after the daily reconcile; again each day until its export is complete (a
        # session running at midnight is final only once it has stopped).
        schedule=Cron("0 3 1-7 * *", timezone="UTC"),
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        description="The previous UTC month's finance statement, session log, chart and manifest.",
        tags=["export"],
    )
    assert isinstance(deployment, RunnerDeployment)  # called from sync code, so not coroutines
    assert isinstance(daily, RunnerDeployment)
    assert isinstance(monthly, RunnerDeployment)
    # A restart must not leave the schedules paused (Prefect pauses them on shutdown by default).
    serve(deployment, daily, monthly, pause_on_shutdown=False)
