"""What each `streamledger` command does with its parsed options: cli.py parses and dispatches, this runs.

Every function takes the settings (or, for `doctor`, the environment it checks) and the options as typed
values, prints what the command prints and returns its exit status; a known failure is a
StreamledgerError, which the command line prints as one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from streamledger.errors import StreamledgerError
from streamledger.poll import PollRun
from streamledger.progress import Progress
from streamledger.settings import Settings

if TYPE_CHECKING:
    import polars as pl
    from prefect.client.schemas.objects import State

TEMPORARY_SERVER = (
    "streamledger: no Prefect server is running (PREFECT_API_URL is unset and `streamledger serve` is not "
    "running), so this run starts a temporary one first, about 10 s: run `streamledger serve`, or set "
    "PREFECT_API_URL, to skip it"
)


def snapshot(settings: Settings) -> int:
    """Run one poll as one Prefect flow run and print its summary."""
    settings.with_api()  # a missing credential is reported here, in one line, before Prefect starts
    _use_a_running_server(settings)
    from streamledger.flows.snapshot import snapshot as flow

    return _one_run(flow, "snapshot")


def reconcile(settings: Settings) -> int:
    """Read Cloudflare's daywise and monthly analytics as one Prefect flow run."""
    settings.with_api()
    _use_a_running_server(settings)
    from streamledger.flows.reconcile import reconcile as flow

    return _one_run(flow, "reconcile")


def _use_a_running_server(settings: Settings) -> None:
    """Before Prefect is imported: without PREFECT_API_URL, use the server `streamledger serve` started, if
    it answers (a temporary server of the run's own costs about 10 s)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from streamledger.prefect_server import running_server

    api_url = running_server(settings.prefect_home)
    if api_url is not None:
        os.environ["PREFECT_API_URL"] = api_url


def _one_run(flow: Callable[..., object], name: str) -> int:
    """Run one flow run in this process and print its one line; a failed run is one line and status 1."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    if get_current_settings().api.url is None:
        print(TEMPORARY_SERVER, file=sys.stderr, flush=True)
    # Heartbeats tell a server that a long run still lives; this one runs in the foreground for about a
    # second, and joining the heartbeat thread at its end would cost up to another.
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        state = cast("State[object]", flow(return_state=True))
    if not state.is_completed():
        raise StreamledgerError(state.message or f"the {name} flow run failed")
    result = state.result()
    print(result.summary() if isinstance(result, PollRun) else state.message)
    _print_failed_reads(result)
    return 0


def _print_failed_reads(result: object) -> None:
    """Print, on stderr, which reads a partial poll could not do (its message: one failure per line)."""
    if isinstance(result, PollRun) and result.outcome == "partial" and result.message:
        for line in result.message.splitlines():
            print(f"  {line}", file=sys.stderr)


def rebuild(settings: Settings) -> int:
    """Re-derive every normalized table from the raw-response archive and raw_responses."""
    from streamledger.rebuild import rebuild as rebuild_tables

    with Progress("rebuild") as progress:
        counts = rebuild_tables(
            settings.database,
            archive_dir=settings.archive_dir,
            progress=progress.step,
            settle_seconds=settings.settle_seconds,
        )
    print("rebuilt from raw_responses: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def archive(settings: Settings, *, dry_run: bool) -> int:
    """Move raw responses older than the retention (STREAMLEDGER_RAW_RETENTION_DAYS) to Parquet files."""
    from streamledger.archive import archive_raw_responses

    days, database, folder = settings.raw_retention_days, settings.database, settings.archive_dir
    with Progress("archive" + (" (dry run)" if dry_run else "")) as progress:
        archived = archive_raw_responses(database, folder, days, dry_run=dry_run, progress=progress.step)
    if not archived:
        print(f"nothing to archive: no whole UTC day of raw responses older than {days} days in {database}")
        return 0
    rows = sum(day.responses for day in archived)
    if dry_run:
        print(f"would archive {len(archived)} day(s), {rows:,} raw responses, to {folder} (nothing changed)")
    else:
        size = sum(day.bytes for day in archived)
        print(
            f"archived {len(archived)} day(s), {rows:,} raw responses, to {folder} "
            f"({size / 1e6:,.1f} MB of Parquet) and deleted them from {database}"
        )
    for day in archived:
        written = "" if dry_run else f", {day.bytes:,} bytes, sha256 {day.sha256[:16]}…"
        merged = f", {day.merged:,} kept from the earlier file" if day.merged else ""
        counts = f"{day.polls:>6,} polls {day.responses:>10,} raw responses"
        print(f"  {day.day}  {counts}  {day.file}{written}{merged}")
    return 0


def serve(settings: Settings) -> int:
    """Serve the deployments on their schedules; without PREFECT_API_URL, on a local Prefect server."""
    from streamledger.prefect_server import local_prefect_server, stop_on_sigterm

    stop_on_sigterm()
    with contextlib.ExitStack() as stack:
        if not settings.token_block:
            settings.with_api()  # a missing setting is one line now, not after a server has started
        if not os.environ.get("PREFECT_API_URL"):
            home = settings.prefect_home
            print(f"starting a local Prefect server (state in {home})...", flush=True)
            api_url = stack.enter_context(local_prefect_server(home))
            os.environ["PREFECT_API_URL"] = api_url  # before Prefect is imported below
            print(f"Prefect UI: {api_url.removesuffix('/api')} (stops with this command)", flush=True)
        from streamledger.flows.serve import serve_snapshots

        serve_snapshots(settings)
    return 0


def doctor_api(settings: Settings, *, timeout: float, as_json: bool, save: Path | None) -> int:
    """Check the RealtimeKit API's answers against docs/api-assumptions.md (`doctor --api`)."""
    from streamledger.doctor import run_doctor

    return run_doctor(settings, timeout_seconds=timeout, as_json=as_json, save=save)


def checkup(environment: Mapping[str, str], *, timeout: float, as_json: bool, save: Path | None) -> int:
    """Check this setup (`doctor`); it reads the settings itself, so that every bad variable is a line."""
    from streamledger.checkup import run_checkup

    if save is not None:
        raise StreamledgerError("doctor: --save keeps the answers of --api; add --api")
    return run_checkup(environment, timeout_seconds=timeout, as_json=as_json)


def status(settings: Settings, *, with_checks: bool, fmt: str, wait: float) -> int:
    """Print the health of the history; `with_checks`: exit 1 on a failed check, else 2 when unwell."""
    from streamledger.health import read_checks, read_soundness, read_status

    database = settings.database
    if not database.exists():
        raise StreamledgerError(f"database {database} does not exist yet (run a snapshot first)")
    window, budget = settings.budget_window_seconds, settings.budget_requests
    stale_after = settings.stale_after_seconds
    row = read_status(database, window_seconds=window, wait_seconds=wait)
    now = datetime.now(UTC)
    last = row["last_success_at"]
    age = (now - last).total_seconds() if last is not None else None
    stale = age is None or age > stale_after
    landing = settings.landing_dir
    landed = list(landing.glob("*.jsonl"))
    quarantined = list((landing / "quarantine").glob("*.jsonl"))
    soundness = read_soundness(database, wait_seconds=wait) if with_checks else None
    # A file this version cannot trust has no invariants worth asking about.
    sound = soundness is not None and soundness.sound
    results = read_checks(database, wait_seconds=wait) if sound else []
    failed = sum(1 for _, failure in results if failure is not None)
    unwell = stale or row["last_outcome"] == "failed"
    code = 0
    if soundness is not None:
        code = 1 if failed or not sound else 2 if unwell else 0
    if fmt == "json":
        print(
            json_text(
                {
                    "database": str(database),
                    "checked_at": now,
                    "healthy": not unwell and not failed and (soundness is None or sound),
                    "stale": stale,
                    "stale_after_seconds": stale_after,
                    "last_success_age_seconds": None if age is None else round(age, 3),
                    "budget_requests": budget,
                    "budget_window_seconds": window,
                    "landed_not_loaded": len(landed),
                    "quarantined": len(quarantined),
                    "status": row,
                    "soundness": None
                    if soundness is None
                    else {
                        "sound": sound,
                        "schema": soundness.schema,
                        "damage": soundness.damage,
                        "rows_read": soundness.rows,
                    },
                    "checks": None
                    if soundness is None
                    else [
                        {
                            "name": check.name,
                            "description": check.description,
                            "ok": failure is None,
                            "violations": 0 if failure is None else failure.violations,
                            "rows": [] if failure is None else list(failure.rows),
                        }
                        for check, failure in results
                    ],
                    "exit_status": code,
                }
            )
        )
        return code
    print(f"database            {database}")
    print(
        "last successful poll "
        + (f"{last.isoformat(timespec='seconds')} ({age:.0f} s ago)" if last is not None else "none")
        + ("  STALE" if stale else "")
    )
    if row["last_poll_at"] is not None:
        print(
            f"last poll            {row['last_poll_at'].isoformat(timespec='seconds')}: {row['last_outcome']}"
        )
        if row["last_outcome"] != "ok" and row["last_message"]:
            print(f"                     {row['last_message'].splitlines()[0]}")
    print(
        f"polls, last hour     {row['polls_ok_last_hour']} ok, {row['polls_partial_last_hour']} partial, "
        f"{row['polls_failed_last_hour']} failed; {row['rate_limited_last_hour']} 429s, "
        f"{row['parse_issues_last_hour']} parse issues"
    )
    print(
        f"sessions             {row['sessions_open']} open, {row['sessions_not_final']} stopped but not final"
    )
    print(
        f"request budget       {row['requests_in_window']} of {budget} used in the last {window:g} s "
        f"({100 * row['requests_in_window'] / budget:.0f} %)"
    )
    if landed:
        print(f"landed, not loaded   {len(landed)} poll(s) wait for the next run in {landing}")
    if quarantined:
        print(f"quarantined          {len(quarantined)} landing file(s) that could not be loaded, kept in")
        print(f"                     {landing / 'quarantine'}")
    if soundness is not None:
        print(f"check {'schema_known':<32} " + (f"FAILED: {soundness.schema}" if soundness.schema else "ok"))
        print(
            f"check {'read_whole':<32} "
            + (f"FAILED: {soundness.damage}" if soundness.damage else f"ok ({soundness.rows:,} rows read)")
        )
    for check, failure in results:
        if failure is None:
            print(f"check {check.name:<32} ok")
            continue
        rows = "row" if failure.violations == 1 else "rows"
        print(f"check {check.name:<32} FAILED: {failure.violations} {rows} ({check.description})")
        for violation in failure.rows:
            print("      " + ", ".join(f"{name}={value}" for name, value in violation.items()))
        if failure.violations > len(failure.rows):
            print(f"      ... and {failure.violations - len(failure.rows)} more")
    return code


def json_text(value: object) -> str:
    """Return `value` as one line of JSON: instants as ISO 8601 UTC text, other values as text."""

    def plain(item: object) -> object:
        if isinstance(item, datetime):
            return item.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return str(item)

    return json.dumps(value, default=plain, sort_keys=True)


def sql(
    settings: Settings,
    statement: str,
    *,
    fmt: str,
    output: Path | None,
    columns: Sequence[str] | None,
    wait: float,
) -> int:
    """Run one read-only statement against the warehouse and write its result."""
    from streamledger import tables
    from streamledger.reports import run_sql

    with ended_by_signals():
        limits = settings.query_limits
        frame = run_sql(settings.database, statement, wait_seconds=wait, limits=limits)
        tables.write_output(frame, fmt, output, columns=columns, pager=settings.pager)
    return 0


@contextlib.contextmanager
def ended_by_signals() -> Iterator[None]:
    """Let Ctrl-C and SIGTERM end a reading as exceptions, so that its connection closes and its temporary
    files are removed on the way out: exit status 130 and 143, as if killed, without a traceback.

    DuckDB reports a signal that arrives while a statement runs as its own "Query interrupted" error: the
    signal received is what is raised instead.
    """
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except Exception:
        if not received:
            raise
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + received[0]) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def report_list() -> int:
    """Print every report: name, question, grain, parameters and units (`report --list`)."""
    from streamledger import reports

    print(reports.catalog_text().rstrip("\n"))
    return 0


def report_describe(name: str) -> int:
    """Print one report's question, grain, parameters with defaults and units, and columns."""
    from streamledger import reports

    print(reports.describe(reports.find(name).name).rstrip("\n"))
    return 0


def report(
    settings: Settings,
    name: str,
    parameters: Mapping[str, str | None],
    *,
    fmt: str,
    output: Path | None,
    columns: Sequence[str] | None,
    chart: Path | None,
    wait: float,
) -> int:
    """Run one report with its parameters (as text, by parameter name) and write its result."""
    from streamledger import reports, tables

    report = reports.find(name)
    values = reports.parse_parameters(report, parameters)
    if chart is not None and report.name != "daily-usage":
        raise StreamledgerError("--chart draws the daily-usage report only")
    with ended_by_signals():
        frame = reports.run_report(
            settings.database, report.name, values, wait_seconds=wait, limits=settings.query_limits
        )
        title = f"{report.name}: {report.description}"
        tz = cast(str | None, values.get("tz"))
        tables.write_output(frame, fmt, output, title=title, tz=tz, columns=columns, pager=settings.pager)
    if chart is not None:
        _daily_chart(frame, values, chart)
    return 0


def _daily_chart(frame: pl.DataFrame, values: Mapping[str, object], path: Path) -> None:
    from streamledger.charts import daily_usage_png
    from streamledger.files import write_atomically

    zone = str(values.get("tz") or "UTC")
    today = datetime.now(ZoneInfo(zone)).date()  # the report's own default period: this month to date
    first = cast(date, values.get("from_date") or today.replace(day=1))
    last = cast(date, values.get("to_date") or today)
    title = f"Daily usage {first} to {last} ({zone})"
    try:
        write_atomically(path, daily_usage_png(frame, first, last, title))
    except OSError as exc:
        raise StreamledgerError(f"--chart {path}: {exc.strerror or exc}") from None
    print(f"chart written to {path}", file=sys.stderr)


def export(
    settings: Settings, month: str, *, formats: Sequence[str], price: Decimal | None, wait: float
) -> int:
    """Write a month's finance files to the export folder (STREAMLEDGER_EXPORT_DIR) and print a summary."""
    from streamledger import export as exports

    with Progress(f"export {month}") as progress:
        result = exports.export_month(
            settings.database,
            month,
            settings.export_dir,
            formats=formats,
            price_per_ingest_minute=price,
            wait_seconds=wait,
            progress=progress.step,
            group=settings.export_group or None,
        )
    for line in exports.summary_lines(result):
        print(line)
    return 0


def docs(output: Path) -> int:
    """Write the catalog, the report catalog and the settings as Markdown and HTML pages to `output`."""
    from streamledger.catalog import write_docs

    for path in write_docs(output):
        print(f"wrote {path}")
    return 0


def dashboard(
    settings: Settings,
    *,
    host: str,
    port: int,
    month: str | None,
    tz: str,
    output: Path | None,
    wait: float,
) -> int:
    """Serve the dashboard on host:port until stopped, or with `output` write it as one static HTML file."""
    from streamledger import dashboard as page

    if output is None:
        page.serve_dashboard(settings, host=host, port=port, month=month, tz=tz, wait_seconds=wait)
        return 0
    written = page.write_dashboard(settings, output, month=month, tz=tz, wait_seconds=wait)
    print(f"dashboard written to {written}", file=sys.stderr)
    return 0
