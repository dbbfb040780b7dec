"""The monthly export flow: last UTC month's finance statement, session log and chart, with a manifest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.events import emit_event
from prefect.states import Completed

from streamledger.errors import StreamledgerError
from streamledger.export import MANIFEST, ExportResult, export_month, month_period
from streamledger.files import private_files
from streamledger.flows.tasks import failed, failed_run, reported
from streamledger.settings import Settings
from streamledger.summaries import export_markdown

# The monthly deployment runs on days 1 to 7 (flows/serve.py): a month still incomplete on the last is
# announced with this event, which an automation of `serve` turns into an alert.
LAST_SCHEDULED_DAY = 7
INCOMPLETE_EVENT = "streamledger.export.incomplete"


def previous_month(today: date) -> str:
    """Return the calendar month before the one `today` is in, as 'YYYY-MM'."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def utc_today() -> date:
    """Return today's UTC date (the scheduled run's day)."""
    return datetime.now(UTC).date()


def is_final(manifest: dict[str, Any]) -> bool:
    """Whether a manifest says its month is complete and its cross-check with Cloudflare final."""
    cross_check = manifest.get("cloudflare_cross_check", {}).get("verdict")
    return bool(manifest.get("coverage", {}).get("complete")) and cross_check != "not final"


def already_complete(directory: Path) -> bool:
    """Whether the export in `directory` has a manifest that is final (is_final): until then the
    scheduled run (days 1 to 7) exports the month again, after the daily reconcile has read Cloudflare's
    totals again."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and is_final(manifest)


@task(cache_policy=NO_CACHE, task_run_name="export {month}")
@reported
def write_export(database: Path, month: str, out_dir: Path, group: str | None) -> ExportResult:
    """Export one month to out_dir/month (shared with `group`, if any); return the files and the manifest."""
    return export_month(database, month, out_dir, progress=get_run_logger().info, group=group)


@task(cache_policy=NO_CACHE, task_run_name="publish {result.manifest[month]}")
def publish(result: ExportResult) -> None:
    """Publish the export's files, rows and checksums as a table artifact, and its folder, totals and
    coverage as a markdown artifact."""
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
    create_markdown_artifact(
        key="monthly-export-report",
        markdown=export_markdown(manifest, str(result.directory)),
        description=f"Export of {manifest['month']}: {state.split(':')[0]}",
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


def incomplete_on_last_day(result: ExportResult, today: date) -> State[Any]:
    """Announce an export still not final on the schedule's last day (INCOMPLETE_EVENT); return Failed."""
    manifest = result.manifest
    month = manifest["month"]
    notes = list(manifest["coverage"]["notes"])
    if manifest["cloudflare_cross_check"]["verdict"] == "not final":
        notes.append("Cloudflare's totals of the month are not final yet (see the manifest's cross-check).")
    message = f"the export of {month} is still not complete on day {today.day}: {' '.join(notes)}"
    emit_event(
        event=INCOMPLETE_EVENT,
        resource={"prefect.resource.id": f"streamledger.export.{month}", "prefect.resource.name": month},
        payload={"month": month, "folder": str(result.directory), "day": today.day, "notes": notes},
    )
    get_run_logger().error(
        "%s\nWhat to do: fix what the notes name, then `streamledger export --month %s` writes it again "
        "to %s",
        message,
        month,
        result.directory.parent,
    )
    return failed_run(message)


def run_name() -> str:
    """Return the run's name: the month it exports."""
    from prefect.runtime import flow_run

    return f"export {flow_run.parameters.get('month') or previous_month(utc_today())}"


@flow(
    name="monthly-export",
    description="Export a UTC month's finance statement and session log.",
    flow_run_name=run_name,
)
def monthly_export(month: str | None = None) -> dict[str, Any] | State[Any]:
    """Export `month` ('YYYY-MM'; default: the previous UTC month); return its manifest, or Failed.

    A scheduled run whose month is still not final on the schedule's last day fails and announces it.
    """
    private_files()
    try:
        settings = Settings.from_env()
        database, out_dir = settings.database, settings.export_dir
        scheduled = month is None
        today = utc_today()
        month = month or previous_month(today)
        month_period(month)  # a bad parameter fails the run before any task starts
        if scheduled and already_complete(out_dir / month):
            return Completed(
                message=f"{month} is already exported, complete and cross-checked; nothing to do"
            )
        result = write_export(database, month, out_dir, settings.export_group or None)
        publish(result)
        if scheduled and today.day >= LAST_SCHEDULED_DAY and not is_final(result.manifest):
            return incomplete_on_last_day(result, today)
        return result.manifest
    except StreamledgerError as exc:
        return failed("monthly-export", exc)
