"""The reconcile flow: once a day, Cloudflare's own daywise totals beside the warehouse's."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Failed

from flows.tasks import fetch_analytics, land_and_load, recover_interrupted
from streamledger.errors import StreamledgerError
from streamledger.files import private_files
from streamledger.settings import Settings


@flow(name="reconcile", description="Read Cloudflare's daywise livestream analytics into analytics_daily.")
def reconcile() -> dict[str, Any] | State[Any]:
    """Fetch, land, normalize and load the recent days' analytics; see the reconciliation_daily view."""
    private_files()
    try:
        settings = Settings.from_env()
        recover_interrupted(settings)
        return land_and_load(settings, fetch_analytics(settings))
    except StreamledgerError as exc:
        return Failed(message=str(exc))
