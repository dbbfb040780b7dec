"""Monthly exports for finance: a UTC month's finance statement, session log and chart, with a manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from streamledger import charts, reports
from streamledger.files import write_atomically
from streamledger.reports import ReportError
from streamledger.warehouse import bind_variables, query

EXPORT_FORMATS = ("csv", "parquet")
TABLES = ("finance-statement", "session-log")
CHART = "daily-usage.png"
MANIFEST = "manifest.json"
# The finance statement's own default (sql/reports/finance-statement.sql); bound explicitly so that the
# manifest states the price the statement used.
DEFAULT_PRICE_PER_INGEST_MINUTE = Decimal("0.010")
# The statement casts the price to decimal(18, 6); the manifest states it at that scale.
PRICE_SCALE = Decimal("0.000001")
MAX_GAP_SECONDS = 150.0
TIME_ZONE = "UTC"
MAX_YEAR = 9998  # the month after must still be a date
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class ExportResult:
    """One month's export: its folder, every file written (manifest.json last) and the manifest."""

    directory: Path
    files: tuple[Path, ...]
    manifest: dict[str, Any]


def month_period(month: str) -> tuple[date, date]:
    """Return the first and last day of a 'YYYY-MM' month, or raise ReportError naming the bad value."""
    match = _MONTH.fullmatch(month)
    if match is None or not 1 <= int(match.group(1)) <= MAX_YEAR:
        raise ReportError(f"month {month!r}: expected a calendar month as YYYY-MM, e.g. 2026-10")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def export_month(
    database: Path,
    month: str,
    out_dir: Path,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    price_per_ingest_minute: Decimal | None = None,
    wait_seconds: float = reports.READ_WAIT_SECONDS,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Write one UTC month's export to out_dir/month and return what was written, with its manifest."""
    first_day, last_day = month_period(month)
    chosen = _formats(formats)
    price = _price(price_per_ingest_minute)
    if now is not None and now.tzinfo is None:
        raise ReportError(f"export {month}: now={now.isoformat()} has no time zone")
    exported_at = (now or datetime.now(UTC)).astimezone(UTC)
    tell = progress or _silent
    values: dict[str, object] = {"from_date": first_day, "to_date": last_day, "tz": TIME_ZONE}

    tell(f"reading {database} for {month} ({first_day} to {last_day}, UTC)")
    # The chart (the slowest part, in matplotlib, which holds the GIL) and the files' encoding run on two
    # worker threads while the next query runs: DuckDB and polars release the GIL, so two cores share it.
    workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="export")
    with workers:
        # One connection for every query, so all files describe the same state of the warehouse; it is
        # closed before any file is written so that the poller is held up as briefly as possible.
        with reports.reader(database, wait_seconds=wait_seconds, on_wait=progress) as con:
            # One transaction too: a consistent snapshot even if a writer could ever work beside readers.
            con.execute("begin transaction")
            # The chart's figures first, so that it is drawn while everything else is read and encoded.
            daily = reports.query_report(con, reports.find("daily-usage"), values)
            tell(f"daily usage: {daily.height} rows")
            title = f"Daily usage, {month} (UTC)"
            chart = workers.submit(charts.daily_usage_png, daily, first_day, last_day, title)
            tables: dict[str, pl.DataFrame] = {}
            encoded: dict[tuple[str, str], Future[bytes]] = {}
            for name, extra in (
                ("finance-statement", {"price_per_ingest_minute": price}),
                ("session-log", {}),
            ):
                tables[name] = reports.query_report(con, reports.find(name), values | extra)
                tell(f"{name.replace('-', ' ')}: {tables[name].height} rows")
                for fmt in chosen:
                    encoded[name, fmt] = workers.submit(_encode, tables[name], fmt)
            coverage_row = _coverage_row(con, values, exported_at)
            cross_check = _cross_check(con, values, coverage_row)
            con.execute("rollback")
        outputs = [
            (f"{name}.{fmt}", fmt, tables[name].height, encoded[name, fmt].result())
            for name in TABLES
            for fmt in chosen
        ]
        png = chart.result()

    days = (last_day - first_day).days + 1
    outputs.append((CHART, "png", days, png))

    directory = out_dir / month
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"export: cannot create {directory}: {exc.strerror or exc}") from None
    # Without a manifest the folder is visibly an unfinished export until the new manifest lands.
    (directory / MANIFEST).unlink(missing_ok=True)
    written: list[Path] = []
    entries: list[dict[str, Any]] = []
    for file_name, fmt, rows, data in outputs:
        path = directory / file_name
        sha256 = _write(path, data)
        entries.append({"name": file_name, "format": fmt, "rows": rows, "bytes": len(data), "sha256": sha256})
        written.append(path)
        tell(f"{file_name} written ({rows} {'days' if fmt == 'png' else 'rows'}, {len(data):,} bytes)")
    for stale in sorted(_export_names() - {path.name for path in written} - {MANIFEST}):
        if (directory / stale).exists():
            (directory / stale).unlink()
            tell(f"{stale} removed (left by an earlier export of {month})")

    manifest = {
        "month": month,
        "period": {
            "from": first_day.isoformat(),
            "to": last_day.isoformat(),
            "time_zone": TIME_ZONE,
            "start": _instant(coverage_row["period_start"]),
            "end": _instant(coverage_row["period_end"]),
        },
        "exported_at": _instant(exported_at),
        "streamledger_version": _version(),
        "price_per_ingest_minute_usd": format(price, "f"),
        "files": entries,
        "totals": _totals(tables["finance-statement"]),
        "coverage": _coverage(coverage_row),
        "cloudflare_cross_check": cross_check,
    }
    manifest_path = directory / MANIFEST
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    _write(manifest_path, text.encode("utf-8"))
    written.append(manifest_path)
    tell(f"{MANIFEST} written")
    return ExportResult(directory, tuple(written), manifest)


def _write(path: Path, data: bytes) -> str:
    """Write one export file atomically; a file system error names the file."""
    try:
        return write_atomically(path, data)
    except OSError as exc:
        raise ReportError(f"export: cannot write {path}: {exc.strerror or exc}") from None


def _silent(message: str) -> None:
    pass


def _formats(formats: Sequence[str]) -> tuple[str, ...]:
    # A bare string is a sequence too; "csv" must not be read as the formats c, s and v.
    listed = [formats] if isinstance(formats, str) else list(formats)
    if not listed or any(fmt not in EXPORT_FORMATS for fmt in listed):
        raise ReportError(
            f"export formats {', '.join(map(repr, listed)) or 'none'}: "
            f"choose one or more of {', '.join(EXPORT_FORMATS)}"
        )
    return tuple(fmt for fmt in EXPORT_FORMATS if fmt in listed)


def _price(price: Decimal | None) -> Decimal:
    value = DEFAULT_PRICE_PER_INGEST_MINUTE if price is None else Decimal(price)
    try:
        return reports.check_price(value).quantize(PRICE_SCALE, rounding=ROUND_HALF_UP)
    except ValueError as exc:
        raise ReportError(f"price per ingest minute {price!r}: {exc}") from None


def _export_names() -> set[str]:
    return {f"{name}.{fmt}" for name in TABLES for fmt in EXPORT_FORMATS} | {CHART, MANIFEST}


def _encode(frame: pl.DataFrame, fmt: str) -> bytes:
    return reports.to_csv(frame) if fmt == "csv" else reports.to_parquet(frame)


def _coverage_row(
    con: duckdb.DuckDBPyConnection, values: dict[str, object], as_of: datetime
) -> dict[str, Any]:
    """Return the one row of sql/queries/export_coverage.sql for the period, as of the export's instant."""
    bound = values | {"max_gap_seconds": MAX_GAP_SECONDS, "as_of": as_of}
    try:
        bind_variables(con, bound)
        frame = query(con, "queries/export_coverage.sql")
    except duckdb.Error as exc:
        raise ReportError(f"export coverage: {' '.join(str(exc).split())[:300]}") from None
    return frame.row(0, named=True)


# Where the cross-check's Cloudflare figures come from, for the reader of the manifest.
CROSS_CHECK_SOURCE = (
    "GET /accounts/{account_id}/realtime/kit/{app_id}/analytics/livestreams/overall for the month's window, "
    "read by the daily reconcile flow into analytics_overall (the export reads only the warehouse)"
)


def _cross_check(
    con: duckdb.DuckDBPyConnection, values: dict[str, object], period: dict[str, Any]
) -> dict[str, Any]:
    """Return the manifest's cross-check: per app, Cloudflare's overall totals of the month beside the
    warehouse's, the tolerance and the verdict (sql/queries/export_cross_check.sql); never invented zeros."""
    try:
        bind_variables(con, values)
        rows = query(con, "queries/export_cross_check.sql").rows(named=True)
    except duckdb.Error as exc:
        raise ReportError(f"export cross-check: {' '.join(str(exc).split())[:300]}") from None
    apps = [
        {
            "app_id": row["app_id"],
            "read_at": _instant(row["cloudflare_fetched_at"]),
            "cloudflare": None
            if row["cloudflare_fetched_at"] is None
            else {
                "sessions": row["cloudflare_sessions"],
                "ingest_seconds": _number(row["cloudflare_ingest_seconds"]),
                "viewer_seconds": _number(row["cloudflare_viewer_seconds"]),
            },
            "warehouse": {
                "sessions": row["warehouse_sessions"] or 0,
                "sessions_not_final": row["warehouse_sessions_not_final"],
                "ingest_seconds": _number(row["warehouse_ingest_seconds"] or 0),
                "viewer_seconds": _number(row["warehouse_viewer_seconds"] or 0),
            },
            "ingest_difference_seconds": _number(row["ingest_difference_seconds"]),
            "viewer_difference_seconds": _number(row["viewer_difference_seconds"]),
            "tolerance_seconds": row["tolerance_seconds"],
            "verdict": row["verdict"],
            "verdict_reason": row["verdict_reason"],
        }
        for row in rows
    ]
    verdicts = {app["verdict"] for app in apps}
    verdict = "differs" if "differs" in verdicts else "not final" if "not final" in verdicts else "agrees"
    unread = [app["app_id"] for app in apps if app["cloudflare"] is None]
    note = None
    if not apps:
        note = "No read of Cloudflare's overall totals for this month, and no session in it."
    elif unread:
        note = (
            f"No read of Cloudflare's overall totals for this month for {', '.join(unread)}: run "
            "`streamledger reconcile` (the daily reconcile reads this month and the one before)."
        )
    return {
        "source": CROSS_CHECK_SOURCE,
        "window": {"start": _instant(period["period_start"]), "end": _instant(period["period_end"])},
        "rule": (
            "A session counts when it started (or was invoked, if it never started) in [start, end), with "
            "its latest figures. Cloudflare's totals are integers: an app agrees when the session counts are "
            "equal and both differences are within tolerance_seconds = its sessions + 1; it is not final "
            "until Cloudflare's totals were read after the month was over and after its last session was "
            "final."
        ),
        "verdict": verdict if apps else "not final",
        "apps": apps,
        "note": note,
    }


def _number(value: float | None) -> int | float | None:
    """A figure for the manifest: whole numbers as integers (Cloudflare's totals are), others as they are."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def _totals(statement: pl.DataFrame) -> dict[str, Any]:
    """Return the statement's totals: session counts as numbers, minutes and cost as decimal strings."""
    totals: dict[str, Any] = {name: int(statement[name].sum()) for name in ("sessions", "sessions_not_final")}
    for name in ("viewer_minutes", "ingest_minutes", "estimated_cost_usd"):
        total = sum((v for v in statement[name].to_list() if v is not None), Decimal("0.000000"))
        totals[name] = format(total, "f")
    return totals


def _coverage(row: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest's coverage: the figures, `complete`, and notes saying why it is not complete."""
    notes = []
    if not row["period_ended"]:
        notes.append(f"The month has not ended yet (exported at {_instant(row['as_of'])}).")
    if row["sessions_not_final"]:
        count, total = row["sessions_not_final"], row["sessions"]
        notes.append(
            f"{count} of {total} sessions {'is' if count == 1 else 'are'} not final yet, "
            "so their figures may still grow."
        )
    troubled = {"failed": row["polls_failed"], "partial": row["polls_partial"]}
    for outcome, count in troubled.items():
        if count:
            polls = "1 snapshot poll" if count == 1 else f"{count} snapshot polls"
            verb = "failed" if outcome == "failed" else ("was partial" if count == 1 else "were partial")
            missed = "nothing" if outcome == "failed" else "not everything"
            notes.append(f"{polls} {verb} (see the data-quality report): {missed} was read then.")
    if row["gaps"]:
        count = row["gaps"]
        notes.append(
            f"Polling had {count} gap{'' if count == 1 else 's'} longer than {row['max_gap_seconds']:g} s "
            f"({_duration(row['gap_seconds'])} in all; the longest from {_instant(row['longest_gap_from'])} "
            f"to {_instant(row['longest_gap_to'])}): a session that started and stopped in a gap may be "
            "missing."
        )
    return {
        "complete": not notes,
        "notes": notes,
        "covered_until": _instant(row["covered_until"]),
        "polls": {
            "snapshot_polls": row["snapshot_polls"],
            "by_outcome": {
                "ok": row["polls_ok"],
                "partial": row["polls_partial"],
                "failed": row["polls_failed"],
            },
            "first_at": _instant(row["first_poll_at"]),
            "last_at": _instant(row["last_poll_at"]),
        },
        "polling_gaps": {
            "max_gap_seconds": row["max_gap_seconds"],
            "count": row["gaps"],
            "total_seconds": row["gap_seconds"],
            "longest_seconds": row["longest_gap_seconds"],
            "longest_from": _instant(row["longest_gap_from"]),
            "longest_to": _instant(row["longest_gap_to"]),
        },
        "sessions": row["sessions"],
        "sessions_not_final": row["sessions_not_final"],
        "parse_issues": row["parse_issues"],
        "reconciliation": {
            "days_with_cloudflare_figures": row["days_with_cloudflare_figures"],
            "days_with_difference": row["days_with_difference"],
            "verdicts": {
                "agrees": row["app_days_agreeing"],
                "differs": row["app_days_differing"],
                "not final": row["app_days_not_final"],
            },
            "ingest_difference_seconds": row["ingest_difference_seconds"],
            "viewer_difference_seconds": row["viewer_difference_seconds"],
        },
    }


def _duration(seconds: float) -> str:
    """Return a duration for a sentence: '45 s', '12 min', '3 h 20 min' or '30 d 23 h'."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _instant(value: datetime | None) -> str | None:
    """Return an instant as ISO 8601 UTC text ending in Z (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _version() -> str:
    """Return the installed streamledger version ('unknown' when run from an uninstalled tree)."""
    try:
        return metadata.version("streamledger")
    except metadata.PackageNotFoundError:
        return "unknown"
