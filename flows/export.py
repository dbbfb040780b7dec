"""The monthly export flow: last UTC month's finance statement, session log and chart, with a manifest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from streamledger.errors import StreamledgerError
from streamledger.export import MANIFEST, ExportResult, export_month, month_period
from streamledger.files import private_files
from streamledger.settings import Settings


def previous_month(today: date) -> str:
    """Return the calendar month before the one `today` is in, as 'YYYY-MM'."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def already_complete(directory: Path) -> bool:
    """Whether the export in `directory` has a manifest that says its month is complete and its cross-check
    with Cloudflare final: until then the scheduled run (days 1 to 7) exports the month again, after the
    daily reconcile has read Cloudflare's totals again."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    cross_check = manifest.get("cloudflare_cross_check", {}).get("verdict")
    return bool(manifest.get("coverage", {}).get("complete")) and cross_check != "not final"


@task(cache_policy=NO_CACHE)
def write_export(database: Path, month: str, out_dir: Path) -> ExportResult:
    """Export one month to out_dir/month; return the files written and the manifest."""
    return export_month(database, month, out_dir, progress=get_run_logger().info)


@task(cache_policy=NO_CACHE)
def publish(result: ExportResult) -> None:
    """Publish the export's files, rows and checksums as a Prefect table artifact."""
    manifest = result.manifest
    coverage = manifest["coverage"]
    state = "complete" if coverage["complete"] else "not complete: " + " ".join(coverage["notes"])
    create_table_artifact(
        key="monthly-export",
        table=[
            {key: file[key] for key in ("name", "format", "rows", "bytes", "sha256")}
            for file in manifest["files"]
        ],
        description=f"Export of {manifest['month']} in {result.directory}: {state}",
    )
    if not coverage["complete"]:
        get_run_logger().warning("export of %s is %s", manifest["month"], state)
    cross_check = manifest["cloudflare_cross_check"]
    if cross_check["verdict"] != "agrees":
        reasons = "; ".join(f"{app['app_id']}: {app['verdict_reason']}" for app in cross_check["apps"])
        get_run_logger().warning(
            "Cloudflare's totals of %s: %s (%s)",
            manifest["month"],
            cross_check["verdict"],
            reasons or cross_check["note"],
        )


@flow(name="monthly-export", description="Export a UTC month's finance statement and session log.")
def monthly_export(month: str | None = None) -> dict[str, Any] | State[Any]:
    """Export `month` ('YYYY-MM'; default: the previous UTC month); return its manifest, or Failed."""
    private_files()
    try:
        settings = Settings.from_env()
        database, out_dir = settings.database, settings.export_dir
        scheduled = month is None
        month = month or previous_month(datetime.now(UTC).date())
        month_period(month)  # a bad parameter fails the run before any task starts
        if scheduled and already_complete(out_dir / month):
            return Completed(
                message=f"{month} is already exported, complete and cross-checked; nothing to do"
            )
        result = write_export(database, month, out_dir)
        publish(result)
        return result.manifest
    except StreamledgerError as exc:
        return Failed(message=str(exc))
