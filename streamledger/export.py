"""Monthly exports for finance: a UTC month's finance statement, session log, workbook and chart, with a
manifest. Every file states whether the month is provisional or final (MONTH_STATES)."""

from __future__ import annotations

import grp
import json
import os
import re
import stat
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
from streamledger.files import GROUP_FOLDER_MODE, write_atomically
from streamledger.reports import ReportError
from streamledger.tables import to_csv, to_parquet
from streamledger.warehouse import bind_variables, query
from streamledger.workbook import Sheet, workbook_bytes

EXPORT_FORMATS = ("csv", "parquet", "xlsx")
ALL_FORMATS = "all"  # every one of EXPORT_FORMATS (the command's default)
TABLES = ("finance-statement", "session-log")
WORKBOOK = "finance-statement.xlsx"
CHART = "daily-usage.png"
MANIFEST = "manifest.json"
# A month is final once it has ended and its coverage is complete (no note says why not); until then every
# file says provisional: its figures may still change.
PROVISIONAL, FINAL = "provisional", "final"
MONTH_STATES = (PROVISIONAL, FINAL)
# The statement's CSV and workbook end with a totals row, marked by this app_id; Parquet has none (a reader
# that sums a column would count everything twice), its totals are the manifest's.
TOTAL_LABEL = "TOTAL"
SUMMED = (
    "sessions",
    "sessions_not_final",
    "viewer_seconds",
    "ingest_seconds",
    "viewer_minutes",
    "ingest_minutes",
    "estimated_cost_usd",
)
COST_ROUNDING = (
    "estimated_cost_usd = ingest_minutes x price_per_ingest_minute_usd, per row, rounded half up to the cent "
    "(decimal(18, 2) USD). The totals row is the exact sum of the rows above it, so its cost is the sum of "
    "the rounded row costs (it may differ from the total ingest minutes priced at once by up to half a cent "
    "per row)."
)
GROUP_SETTING = "STREAMLEDGER_EXPORT_GROUP (or --group)"
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
    """One month's export: its folder, every file written (manifest.json last), the manifest, and warnings
    (e.g. a folder above the export that its group cannot enter)."""

    directory: Path
    files: tuple[Path, ...]
    manifest: dict[str, Any]
    warnings: tuple[str, ...] = ()


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
    out: Path,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    price_per_ingest_minute: Decimal | None = None,
    wait_seconds: float = reports.READ_WAIT_SECONDS,
    progress: Callable[[str], None] | None = None,
    group: str | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Write one UTC month's export to out/month and return what was written, with its manifest.

    A month not begun yet is refused before anything is read or written; the current month is exported
    as provisional. With `group`, the folder and files are shared with that group (read only).
    """
    first_day, last_day = month_period(month)
    chosen = _formats(formats)
    price = _price(price_per_ingest_minute)
    if now is not None and now.tzinfo is None:
        raise ReportError(f"export {month}: now={now.isoformat()} has no time zone")
    exported_at = (now or datetime.now(UTC)).astimezone(UTC)
    _refuse_future(month, first_day, exported_at)
    gid = group_id(group)
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
            # Coverage first: it decides the month's state, which every file states.
            coverage_row = _coverage_row(con, values, exported_at)
            coverage = _coverage(coverage_row)
            state = FINAL if coverage["complete"] else PROVISIONAL
            tables = {
                "finance-statement": _with_state(
                    reports.query_report(
                        con, reports.find("finance-statement"), values | {"price_per_ingest_minute": price}
                    ),
                    state,
                    after="period_to",
                ),
                "session-log": _with_state(
                    reports.query_report(con, reports.find("session-log"), values), state
                ),
            }
            totals = statement_totals(tables["finance-statement"], first_day, last_day, state)
            # The chart's figures, drawn while the rest is read and encoded.
            daily = reports.query_report(con, reports.find("daily-usage"), values)
            chart = workers.submit(
                charts.daily_usage_png,
                daily,
                first_day,
                last_day,
                f"Daily usage, {month} (UTC)",
                cost=charts.CostScale(price, totals["estimated_cost_usd"].item()),
                no_data=_no_data_spans(coverage_row),
                provisional=state == PROVISIONAL,
            )
            encoded: dict[str, Future[bytes]] = {}
            for name, frame in tables.items():
                tell(f"{name.replace('-', ' ')}: {frame.height} rows")
                for fmt in chosen:
                    if fmt != "xlsx":
                        with_totals = name == "finance-statement" and fmt == "csv"
                        table = pl.concat([frame, totals]) if with_totals else frame
                        encoded[f"{name}.{fmt}"] = workers.submit(_encode, table, fmt)
            cross_check = _cross_check(con, values, coverage_row)
            con.execute("rollback")
        notes = notes_rows(month, state, price, coverage, cross_check, coverage_row)
        if "xlsx" in chosen:
            sheets = [
                Sheet("Statement", tables["finance-statement"], totals, SUMMED),
                Sheet("Session log", tables["session-log"]),
                Sheet("Notes", notes, widths={"item": 34, "value": 110}),
            ]
            title = f"Finance statement {month} (UTC), {state}"
            created = coverage_row["covered_until"]  # what the data describes, never the wall clock
            encoded[WORKBOOK] = workers.submit(workbook_bytes, sheets, title=title, created=created)
        statement_rows, log_rows = tables["finance-statement"].height, tables["session-log"].height
        outputs: list[tuple[str, str, int, bytes, dict[str, Any]]] = []
        for name in TABLES:
            for fmt in chosen:
                if fmt == "xlsx":
                    continue
                rows = tables[name].height
                extra: dict[str, Any] = {}
                if name == "finance-statement" and fmt == "csv":
                    rows, extra = rows + 1, {"totals_row": True}
                file_name = f"{name}.{fmt}"
                outputs.append((file_name, fmt, rows, encoded[file_name].result(), extra))
        if "xlsx" in chosen:
            sheet_rows = {"Statement": statement_rows + 1, "Session log": log_rows, "Notes": notes.height}
            extra = {"totals_row": True, "sheets": sheet_rows}
            outputs.append((WORKBOOK, "xlsx", statement_rows + 1, encoded[WORKBOOK].result(), extra))
        png = chart.result()

    days = (last_day - first_day).days + 1
    outputs.append((CHART, "png", days, png, {}))

    directory = out / month
    warnings = _make_folder(directory, gid, group)
    for warning in warnings:
        tell(warning)
    # Without a manifest the folder is visibly an unfinished export until the new manifest lands.
    (directory / MANIFEST).unlink(missing_ok=True)
    written: list[Path] = []
    entries: list[dict[str, Any]] = []
    for file_name, fmt, rows, data, extra in outputs:
        path = directory / file_name
        sha256 = _write(path, data, gid)
        entry = {"name": file_name, "format": fmt, "rows": rows, "bytes": len(data), "sha256": sha256}
        entries.append(entry | extra)
        written.append(path)
        tell(f"{file_name} written ({rows} {'days' if fmt == 'png' else 'rows'}, {len(data):,} bytes)")
    for stale in sorted(_export_names() - {path.name for path in written} - {MANIFEST}):
        if (directory / stale).exists():
            (directory / stale).unlink()
            tell(f"{stale} removed (left by an earlier export of {month})")

    manifest = {
        "month": month,
        "month_state": state,
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
        "cost_rounding": COST_ROUNDING,
        "group": None if gid is None else _group_name(gid),
        "files": entries,
        "totals": _totals(totals),
        "coverage": coverage,
        "cloudflare_cross_check": cross_check,
    }
    manifest_path = directory / MANIFEST
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    _write(manifest_path, text.encode("utf-8"), gid)
    written.append(manifest_path)
    tell(f"{MANIFEST} written")
    return ExportResult(directory, tuple(written), manifest, tuple(warnings))


def summary_lines(result: ExportResult) -> list[str]:
    """Return what the export command prints: the folder and the month's state, each file with its rows
    and checksum, why the month is provisional (if it is), and any warning."""
    manifest = result.manifest
    lines = [f"exported {manifest['month']} to {result.directory} ({manifest['month_state']}):"]
    for file in manifest["files"]:
        unit = "days" if file["format"] == "png" else "rows"
        lines.append(f"  {file['name']:<28} {file['rows']:>9,} {unit}  sha256 {file['sha256'][:16]}…")
    totals = manifest["totals"]
    lines.append(
        f"  total: {totals['sessions']:,} sessions, {totals['ingest_minutes']} ingest minutes, "
        f"{totals['estimated_cost_usd']} USD at {manifest['price_per_ingest_minute_usd']} USD per minute"
    )
    if manifest["month_state"] == FINAL:
        lines.append("  final: the month is over and fully covered; its figures will not change")
    else:
        lines.append("  provisional: " + " ".join(manifest["coverage"]["notes"]))
    lines.extend(f"  warning: {warning}" for warning in result.warnings)
    return lines


def statement_totals(statement: pl.DataFrame, first_day: date, last_day: date, state: str) -> pl.DataFrame:
    """Return the statement's totals row (same columns): the exact sums of the rows' SUMMED columns,
    app_id TOTAL_LABEL, the other columns blank."""
    row: dict[str, object] = dict.fromkeys(statement.columns)
    row |= {"period_from": first_day, "period_to": last_day, "month_state": state, "app_id": TOTAL_LABEL}
    for name in SUMMED:
        row[name] = sum((v for v in statement[name].to_list() if v is not None), start=_zero(statement, name))
    return pl.DataFrame([row], schema=statement.schema)


def _zero(frame: pl.DataFrame, name: str) -> int | Decimal:
    dtype = frame.schema[name]
    return Decimal(0).scaleb(-(dtype.scale or 0)) if isinstance(dtype, pl.Decimal) else 0


def _with_state(frame: pl.DataFrame, state: str, *, after: str | None = None) -> pl.DataFrame:
    """Return the frame with a month_state column: after `after`, or first."""
    position = frame.columns.index(after) + 1 if after else 0
    return frame.insert_column(position, pl.Series("month_state", [state] * frame.height, dtype=pl.String))


def _refuse_future(month: str, first_day: date, now: datetime) -> None:
    if first_day > now.date():
        raise ReportError(
            f"month {month} has not begun yet (it is {now:%Y-%m} now, UTC): choose --month {now:%Y-%m} "
            "or earlier (the current month is exported as provisional)"
        )


def group_id(group: str | None) -> int | None:
    """Return the id of the export's group (a name or a number), None for none, or a ReportError naming the
    setting when this machine has no such group."""
    if not group:
        return None
    try:
        return grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise ReportError(
            f"export group {group!r}: no such group on this machine: set {GROUP_SETTING} to an existing "
            "group, or leave it unset for owner-only files"
        ) from None


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _make_folder(directory: Path, gid: int | None, group: str | None) -> list[str]:
    """Create the export's folder; with a group, give it (and the folders created for it) the group and
    GROUP_FOLDER_MODE, and return a warning for each folder above it that the group cannot enter."""
    created = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"export: cannot create {directory}: {exc.strerror or exc}") from None
    if gid is None:
        return []
    for folder in {directory, *created}:
        try:
            os.chown(folder, -1, gid)
            os.chmod(folder, GROUP_FOLDER_MODE)
        except OSError as exc:
            raise ReportError(
                f"export group {group!r}: cannot give {folder} to it ({exc.strerror or exc}; this user must "
                f"be a member of the group): set {GROUP_SETTING} to a group of this user"
            ) from None
    return [
        f"group {_group_name(gid)} cannot enter {folder} (mode {stat.S_IMODE(mode):o}), so it cannot reach "
        f"the export: `chmod o+x {folder}`, or give it the group with g+x"
        for folder, mode, owner_gid in _ancestors(directory)
        if not mode & stat.S_IXOTH and not (owner_gid == gid and mode & stat.S_IXGRP)
    ]


def _ancestors(directory: Path) -> list[tuple[Path, int, int]]:
    found = []
    for folder in directory.parents:
        info = folder.stat()
        found.append((folder, info.st_mode, info.st_gid))
    return found


def _write(path: Path, data: bytes, group: int | None) -> str:
    """Write one export file atomically (shared with `group`, if any); a file system error names the file."""
    try:
        return write_atomically(path, data, group=group)
    except OSError as exc:
        raise ReportError(f"export: cannot write {path}: {exc.strerror or exc}") from None


def _silent(message: str) -> None:
    pass


def _formats(formats: Sequence[str]) -> tuple[str, ...]:
    """Return the chosen formats in EXPORT_FORMATS' order; 'all' is every one of them."""
    # A bare string is a sequence too; "csv" must not be read as the formats c, s and v.
    listed = [formats] if isinstance(formats, str) else list(formats)
    if not listed or any(fmt not in (*EXPORT_FORMATS, ALL_FORMATS) for fmt in listed):
        raise ReportError(
            f"export formats {', '.join(map(repr, listed)) or 'none'}: "
            f"choose one or more of {', '.join(EXPORT_FORMATS)}, or {ALL_FORMATS}"
        )
    return tuple(fmt for fmt in EXPORT_FORMATS if fmt in listed or ALL_FORMATS in listed)


def _price(price: Decimal | None) -> Decimal:
    value = DEFAULT_PRICE_PER_INGEST_MINUTE if price is None else Decimal(price)
    try:
        return reports.check_price(value).quantize(PRICE_SCALE, rounding=ROUND_HALF_UP)
    except ValueError as exc:
        raise ReportError(f"price per ingest minute {price!r}: {exc}") from None


def _export_names() -> set[str]:
    tables = {f"{name}.{fmt}" for name in TABLES for fmt in EXPORT_FORMATS if fmt != "xlsx"}
    return tables | {WORKBOOK, CHART, MANIFEST}


def _encode(frame: pl.DataFrame, fmt: str) -> bytes:
    return to_csv(frame) if fmt == "csv" else to_parquet(frame)


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


def _totals(totals: pl.DataFrame) -> dict[str, Any]:
    """Return the statement's totals row for the manifest: counts as numbers, minutes and cost as decimal
    strings (the cost in cents, the sum of the rounded rows)."""
    row = totals.row(0, named=True)
    figures: dict[str, Any] = {name: int(row[name]) for name in ("sessions", "sessions_not_final")}
    for name in ("viewer_minutes", "ingest_minutes", "estimated_cost_usd"):
        figures[name] = format(row[name], "f")
    return figures


def _no_data_spans(row: dict[str, Any]) -> list[charts.NoDataSpan]:
    """Return the period's stretches without data: before its first poll that read something, and after
    the export's instant (not yet come)."""
    start, end, until = row["period_start"], row["period_end"], row["covered_until"]
    first = row["first_read_at"] or until
    spans = []
    if first > start:
        spans.append(charts.NoDataSpan(start, first, "no data: before the first poll"))
    if until < end:
        spans.append(charts.NoDataSpan(until, end, "no data: not yet come"))
    return spans


def notes_rows(
    month: str,
    state: str,
    price: Decimal,
    coverage: dict[str, Any],
    cross_check: dict[str, Any],
    row: dict[str, Any],
) -> pl.DataFrame:
    """Return the workbook's notes sheet (item, value): period, state and why, price and rounding,
    coverage, the cross-check, the software and the source. Nothing in it is the wall clock's, so that a
    re-export of a month over is identical."""
    polls = coverage["polls"]
    outcomes = polls["by_outcome"]
    gaps = coverage["polling_gaps"]
    items: list[tuple[str, str]] = [
        ("month", f"{month} (UTC)"),
        ("period", f"{_instant(row['period_start'])} to {_instant(row['period_end'])} (end excluded)"),
        ("month state", state),
        ("what final means", "the month is over and fully covered: its figures will not change"),
    ]
    reasons = coverage["notes"] or ["none: the month is complete"]
    items += [("why not final", reason) for reason in reasons]
    items += [
        ("price per ingest minute", f"{format(price, 'f')} USD"),
        ("cost rounding", COST_ROUNDING),
        ("covered until", _instant(row["covered_until"]) or ""),
        (
            "snapshot polls",
            f"{polls['snapshot_polls']:,} ({outcomes['ok']:,} ok, {outcomes['partial']:,} partial, "
            f"{outcomes['failed']:,} failed); first {polls['first_at'] or 'none'}, "
            f"last {polls['last_at'] or 'none'}",
        ),
        (
            "polling gaps",
            f"{gaps['count']:,} longer than {gaps['max_gap_seconds']:g} s "
            f"({_duration(gaps['total_seconds'])} in all)",
        ),
        ("sessions", f"{coverage['sessions']:,} ({coverage['sessions_not_final']:,} not final)"),
        ("parse issues", f"{coverage['parse_issues']:,}"),
        ("Cloudflare cross-check", f"{cross_check['verdict']}: {cross_check['note'] or cross_check['rule']}"),
        ("software", f"streamledger {_version()}"),
        (
            "source",
            "the streamledger warehouse (DuckDB) of snapshot polls of Cloudflare RealtimeKit's livestream "
            "API; the figures are the sessions' usage inside the period, split at its edges",
        ),
        ("parquet", "finance-statement.parquet has no totals row (a column's sum is the total)"),
    ]
    return pl.DataFrame(items, schema={"item": pl.String, "value": pl.String}, orient="row")


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
