"""The `streamledger` command: polls, schedules, health, reports, ad-hoc SQL, exports and the archive."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

import polars as pl

from streamledger.errors import StreamledgerError
from streamledger.files import private_files
from streamledger.poll import PollRun
from streamledger.progress import Progress
from streamledger.reports import FORMATS, READ_WAIT_SECONDS
from streamledger.settings import Settings, checked_retention_days

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

DOCTOR_TIMEOUT_SECONDS = 10.0
TEMPORARY_SERVER = (
    "streamledger: no Prefect server is running (PREFECT_API_URL is unset and `streamledger serve` is not "
    "running), so this run starts a temporary one first, about 10 s: run `streamledger serve`, or set "
    "PREFECT_API_URL, to skip it"
)
# Prefect reads these at import time: quiet, no telemetry, and room for a cold temporary server.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every known failure is one line on stderr and exit status 1 or 2."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    private_files()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.run is _doctor and not args.api:
            return _checkup(args)  # reads the settings itself: every bad variable is one of its lines
        settings = Settings.from_env(_environment(args))
        return int(args.run(args, settings))
    except StreamledgerError as exc:
        print(f"streamledger: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`streamledger report ... | head`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamledger", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    snapshot = commands.add_parser(
        "snapshot", help="run one poll (one Prefect flow run) against the configured API"
    )
    snapshot.set_defaults(run=_snapshot)

    reconcile = commands.add_parser(
        "reconcile", help="read Cloudflare's daywise and monthly analytics (one flow run)"
    )
    reconcile.set_defaults(run=_reconcile)

    rebuild = commands.add_parser(
        "rebuild", help="re-derive every normalized table from the raw-response archive and raw_responses"
    )
    rebuild.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    _archive_dir_argument(rebuild)
    rebuild.set_defaults(run=_rebuild)

    archive = commands.add_parser(
        "archive",
        help="move raw responses older than the retention to Parquet files and delete them from the database",
    )
    archive.add_argument(
        "--retention-days",
        type=int,
        metavar="DAYS",
        help="keep this many days (default: STREAMLEDGER_RAW_RETENTION_DAYS or 90)",
    )
    archive.add_argument("--dry-run", action="store_true", help="only list the days that would be archived")
    archive.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    _archive_dir_argument(archive)
    archive.set_defaults(run=_archive)

    serve = commands.add_parser(
        "serve",
        help="serve the deployments on their schedules (without PREFECT_API_URL, a local Prefect server)",
    )
    serve.set_defaults(run=_serve)

    doctor = commands.add_parser(
        "doctor",
        help="check this setup: settings, folders, the database read whole, the API per app, Prefect",
        description="Without --api: one line per check, ok or FAIL with the fix: every setting, each folder "
        "the pipeline writes (writable, free space), the database (opened read-only, its schema, read whole, "
        "sql/checks), one request per configured app, the Prefect API. With --api: read a few endpoints "
        "(at most 12 requests, none retried) and print, for each, its status, its shape and the assumptions "
        "it confirms or contradicts. Writes nothing to the warehouse. Exit status 1 when a check failed.",
    )
    doctor.add_argument(
        "--api",
        action="store_true",
        help="check the RealtimeKit API's answers against docs/api-assumptions.md",
    )
    doctor.add_argument("--json", action="store_true", help="print the result as JSON")
    doctor.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="with --api: also write the redacted bodies and the result to DIR",
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=DOCTOR_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"timeout of each request (default {DOCTOR_TIMEOUT_SECONDS:g})",
    )
    doctor.set_defaults(run=_doctor)

    status = commands.add_parser(
        "status", help="the last successful poll, the last hour's polls, open sessions, the request budget"
    )
    status.add_argument(
        "--check",
        action="store_true",
        help="also read the database whole (a damaged block fails) and run the warehouse's checks "
        "(sql/checks); exit with status 1 when one fails, else 2 when polling is stale or the last poll "
        "failed",
    )
    status.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: one object for a probe (the status row, staleness, the checks with --check)",
    )
    _reader_arguments(status)
    status.set_defaults(run=_status)

    report = commands.add_parser(
        "report",
        help="run a report from sql/reports/ (see --list)",
        description="Run one report. Parameters are bound, never formatted into the SQL.",
    )
    report.add_argument("name", nargs="?", help="the report, e.g. usage-by-livestream (see --list)")
    report.add_argument("--list", action="store_true", help="list the reports with what each answers")
    report.add_argument("--from", dest="from_date", metavar="DATE", help="first day, YYYY-MM-DD (inclusive)")
    report.add_argument("--to", dest="to_date", metavar="DATE", help="last day, YYYY-MM-DD (inclusive)")
    report.add_argument("--tz", metavar="ZONE", help="IANA time zone for days and hours (default UTC)")
    _price_argument(report)
    report.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="any other declared parameter"
    )
    _output_arguments(report)
    report.add_argument("--chart", type=Path, metavar="PATH", help="daily-usage only: also draw a PNG chart")
    _reader_arguments(report)
    report.set_defaults(run=_report)

    sql = commands.add_parser(
        "sql", help="run ad-hoc read-only SQL against the warehouse and print the result"
    )
    sql.add_argument("statement", help='e.g. "select * from session_log limit 5"')
    _output_arguments(sql)
    _reader_arguments(sql)
    sql.set_defaults(run=_sql)

    dashboard = commands.add_parser(
        "dashboard",
        help="serve a read-only dashboard of a month on 127.0.0.1, or write it as one HTML file (--output)",
    )
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8050, help="port (default 8050; 0: any free port)")
    dashboard.add_argument("--month", metavar="YYYY-MM", help="the month shown first (default this month)")
    dashboard.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA time zone (default UTC)")
    dashboard.add_argument(
        "--output",
        type=Path,
        metavar="FILE.html",
        help="write one self-contained HTML file instead of serving",
    )
    _reader_arguments(dashboard)
    dashboard.set_defaults(run=_dashboard)

    export = commands.add_parser(
        "export", help="write a month's finance statement and session log for finance, with a manifest"
    )
    export.add_argument("--month", required=True, metavar="YYYY-MM", help="the UTC calendar month")
    export.add_argument("--format", choices=("csv", "parquet", "both"), default="both", help="default both")
    export.add_argument(
        "--out", type=Path, metavar="DIR", help="default: STREAMLEDGER_EXPORT_DIR or data/exports"
    )
    _price_argument(export)
    _reader_arguments(export)
    export.set_defaults(run=_export)
    return parser


def _snapshot(args: argparse.Namespace, settings: Settings) -> int:
    settings.with_api()  # a missing credential is reported here, in one line, before Prefect starts
    _use_a_running_server(settings)
    from streamledger.flows.snapshot import snapshot

    return _one_run(snapshot, "snapshot")


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    settings.with_api()
    _use_a_running_server(settings)
    from streamledger.flows.reconcile import reconcile

    return _one_run(reconcile, "reconcile")


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


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.rebuild import rebuild

    with Progress("rebuild") as progress:
        counts = rebuild(
            settings.database,
            archive_dir=settings.archive_dir,
            progress=progress.step,
            settle_seconds=settings.settle_seconds,
        )
    print("rebuilt from raw_responses: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def _archive(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.archive import archive_raw_responses

    if args.retention_days is None:
        days = settings.raw_retention_days
    else:
        days = checked_retention_days("--retention-days", args.retention_days)
    database, folder = settings.database, settings.archive_dir
    with Progress("archive" + (" (dry run)" if args.dry_run else "")) as progress:
        archived = archive_raw_responses(database, folder, days, dry_run=args.dry_run, progress=progress.step)
    if not archived:
        print(f"nothing to archive: no whole UTC day of raw responses older than {days} days in {database}")
        return 0
    rows = sum(day.responses for day in archived)
    if args.dry_run:
        print(f"would archive {len(archived)} day(s), {rows:,} raw responses, to {folder} (nothing changed)")
    else:
        size = sum(day.bytes for day in archived)
        print(
            f"archived {len(archived)} day(s), {rows:,} raw responses, to {folder} "
            f"({size / 1e6:,.1f} MB of Parquet) and deleted them from {database}"
        )
    for day in archived:
        written = "" if args.dry_run else f", {day.bytes:,} bytes, sha256 {day.sha256[:16]}…"
        merged = f", {day.merged:,} kept from the earlier file" if day.merged else ""
        counts = f"{day.polls:>6,} polls {day.responses:>10,} raw responses"
        print(f"  {day.day}  {counts}  {day.file}{written}{merged}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
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


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.doctor import run_doctor

    return run_doctor(settings, timeout_seconds=args.timeout, as_json=args.json, save=args.save)


def _checkup(args: argparse.Namespace) -> int:
    from streamledger.checkup import run_checkup

    if args.save is not None:
        raise StreamledgerError("doctor: --save keeps the answers of --api; add --api")
    if not args.timeout > 0:
        raise StreamledgerError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    return run_checkup(_environment(args), timeout_seconds=args.timeout, as_json=args.json)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.health import read_checks, read_soundness, read_status

    database = settings.database
    if not database.exists():
        raise StreamledgerError(f"database {database} does not exist yet (run a snapshot first)")
    window, budget = settings.budget_window_seconds, settings.budget_requests
    stale_after = settings.stale_after_seconds
    row = read_status(database, window_seconds=window, wait_seconds=args.wait)
    now = datetime.now(UTC)
    last = row["last_success_at"]
    age = (now - last).total_seconds() if last is not None else None
    stale = age is None or age > stale_after
    landing = settings.landing_dir
    landed = list(landing.glob("*.jsonl"))
    quarantined = list((landing / "quarantine").glob("*.jsonl"))
    soundness = read_soundness(database, wait_seconds=args.wait) if args.check else None
    # A file this version cannot trust has no invariants worth asking about.
    sound = soundness is not None and soundness.sound
    results = read_checks(database, wait_seconds=args.wait) if sound else []
    failed = sum(1 for _, failure in results if failure is not None)
    unwell = stale or row["last_outcome"] == "failed"
    code = 0
    if soundness is not None:
        code = 1 if failed or not sound else 2 if unwell else 0
    if args.format == "json":
        print(
            _json_text(
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


def _json_text(value: object) -> str:
    """Return `value` as one line of JSON: instants as ISO 8601 UTC text, other values as text."""

    def plain(item: object) -> object:
        if isinstance(item, datetime):
            return item.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return str(item)

    return json.dumps(value, default=plain, sort_keys=True)


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """Return the environment with the command's path options in place of their variables."""
    options = {
        "STREAMLEDGER_DATABASE": getattr(args, "database", None),
        "STREAMLEDGER_ARCHIVE_DIR": getattr(args, "archive_dir", None),
        "STREAMLEDGER_EXPORT_DIR": getattr(args, "out", None),
    }
    return dict(os.environ) | {name: str(value) for name, value in options.items() if value is not None}


def _archive_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive-dir",
        type=Path,
        metavar="DIR",
        help="the raw-response archive (default: STREAMLEDGER_ARCHIVE_DIR or archive/ beside the database)",
    )


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    parser.add_argument("--output", type=Path, metavar="PATH", help="write to a file instead of the terminal")


def _price_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--price",
        dest="price_per_ingest_minute",
        metavar="USD",
        help="price per minute of ingest (default 0.010, the published export price)",
    )


def _reader_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=READ_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait while the snapshot holds the database (default {READ_WAIT_SECONDS:g})",
    )


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.reports import run_sql, write_output

    with _ended_by_signals():
        limits = settings.query_limits
        frame = run_sql(settings.database, args.statement, wait_seconds=args.wait, limits=limits)
        write_output(frame, args.format, args.output)
    return 0


@contextlib.contextmanager
def _ended_by_signals() -> Iterator[None]:
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


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger import reports

    if args.list:
        for report in reports.catalog().values():
            print(f"{report.name:<22} {report.description}")
        return 0
    if not args.name:
        raise StreamledgerError("report: name a report, or --list them")
    report = reports.find(args.name)
    raw: dict[str, str | None] = {
        "from_date": args.from_date,
        "to_date": args.to_date,
        "tz": args.tz,
        "price_per_ingest_minute": args.price_per_ingest_minute,
    }
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise StreamledgerError(f"--param {item!r}: expected NAME=VALUE")
        raw[name.strip()] = value
    values = reports.parse_parameters(report, raw)
    if args.chart is not None and report.name != "daily-usage":
        raise StreamledgerError("--chart draws the daily-usage report only")
    with _ended_by_signals():
        frame = reports.run_report(
            settings.database, report.name, values, wait_seconds=args.wait, limits=settings.query_limits
        )
        title = f"{report.name}: {report.description}"
        tz = cast(str | None, values.get("tz"))
        reports.write_output(frame, args.format, args.output, title=title, tz=tz)
    if args.chart is not None:
        _daily_chart(frame, values, args.chart)
    return 0


def _daily_chart(frame: pl.DataFrame, values: dict[str, object], path: Path) -> None:
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


def _dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.dashboard import serve_dashboard, write_dashboard

    if args.output is None:
        serve_dashboard(
            settings, host=args.host, port=args.port, month=args.month, tz=args.tz, wait_seconds=args.wait
        )
        return 0
    path = write_dashboard(settings, args.output, month=args.month, tz=args.tz, wait_seconds=args.wait)
    print(f"dashboard written to {path}", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from streamledger.export import export_month
    from streamledger.reports import PARAMETERS

    out = settings.export_dir
    formats = ("csv", "parquet") if args.format == "both" else (args.format,)
    price = None
    if args.price_per_ingest_minute is not None:
        try:
            price = PARAMETERS["price_per_ingest_minute"](args.price_per_ingest_minute)
        except (ValueError, ArithmeticError) as exc:
            raise StreamledgerError(f"--price {args.price_per_ingest_minute!r}: {exc}") from None
    with Progress(f"export {args.month}") as progress:
        result = export_month(
            settings.database,
            args.month,
            out,
            formats=formats,
            price_per_ingest_minute=cast(Decimal | None, price),
            wait_seconds=args.wait,
            progress=progress.step,
        )
    manifest = result.manifest
    print(f"exported {args.month} to {result.directory}:")
    for file in manifest["files"]:
        unit = "days" if file["format"] == "png" else "rows"
        print(f"  {file['name']:<28} {file['rows']:>9,} {unit}  sha256 {file['sha256'][:16]}…")
    coverage = manifest["coverage"]
    print("  complete: " + ("yes" if coverage["complete"] else "no. " + " ".join(coverage["notes"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
