"""Monthly exports on fixture rows in a fresh warehouse: figures, formats, determinism, manifest, chart."""

from __future__ import annotations

import grp
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from streamledger import warehouse
from streamledger.charts import CostScale, NoDataSpan, daily_usage_figure, daily_usage_png
from streamledger.cli import main
from streamledger.export import ExportResult, export_month, summary_lines
from streamledger.flows.export import already_complete, previous_month
from streamledger.reports import ReportError
from streamledger.settings import Settings

# After both fixture months have ended, so that only the warehouse's state decides completeness.
LATER = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
OCT_31 = datetime(2026, 10, 31, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
OCT_5, OCT_10, OCT_20 = (datetime(2026, 10, day, tzinfo=UTC) for day in (5, 10, 20))


def at(day: datetime, hours: int, minutes: int = 0) -> datetime:
    return day + timedelta(hours=hours, minutes=minutes)


class Session(NamedTuple):
    session_id: str
    livestream_id: str
    started: datetime | None
    stopped: datetime | None
    final: tuple[float, float] | None  # final (ingest, viewer) seconds; None while not final
    readings: tuple[tuple[datetime, float, float], ...] = ()  # (observed_at, ingest, viewer)
    status: str = "IDLE"
    invoked: datetime | None = None
    error: str | None = None


SESSIONS = [
    Session(
        "s-oct",
        "ls-day",
        at(OCT_10, 12),
        at(OCT_10, 13),
        (3600.0, 7200.0),
        ((at(OCT_10, 12, 30), 1800, 3600),),
    ),
    # Figures that a naive float formatter would print as 1e-06 and 1.234567895e+08.
    Session("s-odd", "ls-day", at(OCT_5, 10), at(OCT_5, 10, 10), (0.000001, 123456789.5)),
    # Crosses midnight into November: 23:30 -> 00:30 with readings at 23:45 and 00:15.
    Session(
        "s-cross",
        "ls-night",
        at(OCT_31, 23, 30),
        at(NOV_1, 0, 30),
        (3500.0, 9000.75),
        ((at(OCT_31, 23, 45), 800.0, 2000.5), (at(NOV_1, 0, 15), 2600.0, 7000.25)),
    ),
    # Still running when last seen: not final.
    Session(
        "s-open", "ls-day", at(OCT_31, 22), None, None, ((at(OCT_31, 22, 30), 1800, 600),), status="LIVE"
    ),
    # Errored before it started: in the log and the session counts, with no usage.
    Session(
        "s-err",
        "ls-night",
        None,
        None,
        (0.0, 0.0),
        status="ERRORED",
        invoked=at(OCT_20, 8),
        error="ingest failed: no keyframes",
    ),
    Session("s-nov", "ls-day", at(NOV_1, 10), at(NOV_1, 11), (600.0, 1200.0)),
]


def build_warehouse(path: Path) -> Path:
    con = warehouse.connect(path)
    try:
        warehouse.migrate(con)
        con.execute(
            "insert into apps (app_id, name, first_seen_at, last_seen_at, last_poll_id)"
            " values ('app1', 'Main app', $1, $1, 'p')",
            [datetime(2026, 10, 1, tzinfo=UTC)],
        )
        con.execute(
            "insert into livestreams (livestream_id, app_id, name, meeting_id, first_seen_at, last_seen_at,"
            " last_poll_id) values ('ls-day', 'app1', 'Day show', 'm-day', $1, $1, 'p'),"
            " ('ls-night', 'app1', 'Night show', 'm-night', $1, $1, 'p')",
            [datetime(2026, 10, 1, tzinfo=UTC)],
        )
        for session in SESSIONS:
            first_seen = session.started or session.invoked
            assert first_seen is not None
            last_seen = session.readings[-1][0] if session.final is None else (session.stopped or first_seen)
            figures = session.final or session.readings[-1][1:]
            con.execute(
                "insert into sessions (session_id, livestream_id, app_id, status, invoked_time, started_time,"
                " stopped_time, err_message, ingest_seconds, viewer_seconds, is_final, finalized_at,"
                " first_seen_at, last_seen_at, last_poll_id)"
                " values ($1, $2, 'app1', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'p')",
                [
                    session.session_id,
                    session.livestream_id,
                    session.status,
                    session.invoked,
                    session.started,
                    session.stopped,
                    session.error,
                    figures[0],
                    figures[1],
                    session.final is not None,
                    last_seen + timedelta(minutes=2) if session.final else None,
                    first_seen,
                    last_seen,
                ],
            )
            for n, (observed, ingest, viewer) in enumerate(session.readings):
                con.execute(
                    "insert into session_snapshots (poll_id, fetched_at, observed_at, session_id,"
                    " livestream_id, app_id, endpoint, status, ingest_seconds, viewer_seconds)"
                    " values ($1, $2, $2, $3, $4, 'app1', 'active_session', $5, $6, $7)",
                    [
                        f"{session.session_id}-{n}",
                        observed,
                        session.session_id,
                        session.livestream_id,
                        session.status,
                        ingest,
                        viewer,
                    ],
                )
        # A snapshot poll every minute from Oct 31 23:00 to the end of November; one of them failed.
        con.execute(
            "insert into poll_runs (poll_id, started_at, finished_at, app_ids, livestreams, active_reads,"
            " sessions, requests, responses, retries, rate_limited, transport_errors, failed_calls,"
            " parse_issues, unknown_statuses, outcome, message, network_seconds, normalize_seconds,"
            " load_seconds, recovered, kind)"
            " select 'poll-' || epoch(t), t, t + interval 2 second, ['app1'], 2, 1, 1, 3, 3, 0, 0, 0, 0, 0,"
            " 0, 'ok', null, 1.0, 0.1, 0.1, false, 'snapshot'"
            " from unnest(generate_series($1, $2, interval 1 minute)) as g(t)",
            [at(OCT_31, 23), datetime(2026, 11, 30, 23, 59, tzinfo=UTC)],
        )
        con.execute(
            "update poll_runs set outcome = 'failed', message = 'list_livestreams: HTTP 500'"
            " where started_at = $1",
            [datetime(2026, 11, 10, 12, tzinfo=UTC)],
        )
        con.execute(
            "insert into parse_issues (poll_id, seq, fetched_at, endpoint, app_id, field, raw_value, reason)"
            " values ('poll-x', 1, $1, 'active_session', 'app1', 'session.viewer_seconds', 'abc',"
            " 'not a number')",
            [at(OCT_31, 23, 10)],
        )
        # Cloudflare agrees on Oct 10 and counts 10 viewer seconds fewer on Oct 31.
        con.execute(
            "insert into analytics_daily values ('app1', date '2026-10-10', 1, 3600, 7200, $1, 'r1'),"
            " ('app1', date '2026-10-31', 2, 5300, 9590.75, $1, 'r1')",
            [LATER],
        )
        warehouse.refresh_session_usage(con)  # rows written outside a poll's load
    finally:
        con.close()
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "history.duckdb")


def export(database: Path, month: str, out_dir: Path, **options: Any) -> ExportResult:
    return export_month(database, month, out_dir, now=options.pop("now", LATER), **options)


def statement_figures(result: ExportResult) -> dict[str, tuple[Any, ...]]:
    frame = pl.read_parquet(result.directory / "finance-statement.parquet")
    columns = ("sessions", "sessions_not_final", "ingest_seconds", "viewer_seconds", "ingest_minutes")
    return {row["livestream_id"]: tuple(row[c] for c in columns) for row in frame.iter_rows(named=True)}


def test_the_finance_statement_splits_a_session_crossing_the_month_boundary_at_midnight(
    database: Path, tmp_path: Path
) -> None:
    october = export(database, "2026-10", tmp_path / "exports")
    november = export(database, "2026-11", tmp_path / "exports")
    oct_rows, nov_rows = statement_figures(october), statement_figures(november)
    # s-cross: 800 by 23:45, then 1800 spread evenly over 23:45-00:15, so 900 on each side of midnight.
    assert oct_rows["ls-night"] == (2, 0, Decimal("1700.000"), Decimal("4500.375"), Decimal("28.333333"))
    assert nov_rows["ls-night"] == (1, 0, Decimal("1800.000"), Decimal("4500.375"), Decimal("30.000000"))
    assert oct_rows["ls-night"][2] + nov_rows["ls-night"][2] == Decimal("3500.000")
    assert oct_rows["ls-night"][3] + nov_rows["ls-night"][3] == Decimal("9000.750")
    # s-oct 3600 + s-odd 0.000001 + s-open 1800 so far (not final).
    assert oct_rows["ls-day"] == (3, 1, Decimal("5400.000"), Decimal("123464589.500"), Decimal("90.000000"))
    assert nov_rows["ls-day"] == (1, 0, Decimal("600.000"), Decimal("1200.000"), Decimal("10.000000"))
    assert october.manifest["totals"] == {
        "sessions": 5,
        "sessions_not_final": 1,
        "ingest_minutes": "118.333333",
        "viewer_minutes": "2057818.164583",
        "estimated_cost_usd": "1.18",  # 0.90 + 0.28 (28.333333 min at 0.01, rounded)
    }
    assert october.manifest["price_per_ingest_minute_usd"] == "0.010000"


def test_a_given_price_is_used_by_the_statement_and_stated_in_the_manifest(
    database: Path, tmp_path: Path
) -> None:
    result = export(database, "2026-11", tmp_path, price_per_ingest_minute=Decimal("0.5"))
    assert result.manifest["price_per_ingest_minute_usd"] == "0.500000"
    # 30 + 10 ingest minutes at 0.5 USD.
    assert result.manifest["totals"]["estimated_cost_usd"] == "20.00"


def from_csv(data: bytes, schema: pl.Schema) -> pl.DataFrame:
    text = pl.read_csv(io.BytesIO(data), infer_schema=False)
    assert text.columns == list(schema.names())
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            columns.append(column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC").cast(dtype))
        elif dtype == pl.Date:
            columns.append(column.str.to_date("%Y-%m-%d"))
        elif dtype == pl.Boolean:
            columns.append(column.replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean))
        else:
            columns.append(column.cast(dtype))
    return text.select(columns)


def test_csv_and_parquet_hold_the_same_rows(database: Path, tmp_path: Path) -> None:
    result = export(database, "2026-10", tmp_path)
    for name in ("finance-statement", "session-log"):
        parquet = pl.read_parquet(result.directory / f"{name}.parquet")
        csv = from_csv((result.directory / f"{name}.csv").read_bytes(), parquet.schema)
        assert parquet.height > 1
        if name == "finance-statement":  # the CSV ends with the totals row, which Parquet leaves out
            assert csv["app_id"].to_list()[-1] == "TOTAL"
            csv = csv.head(-1)
        assert_frame_equal(csv, parquet)
    log = pl.read_parquet(result.directory / "session-log.parquet")
    assert log["session_id"].to_list() == ["s-odd", "s-oct", "s-err", "s-open", "s-cross"]


def test_exporting_the_same_month_twice_gives_byte_identical_files(database: Path, tmp_path: Path) -> None:
    first = export(database, "2026-10", tmp_path / "a")
    # Past the zip format's two-second clock and the workbook's one-second created date: nothing in the
    # files may come from the wall clock (the manifest's exported_at is the export's `now`, as given).
    time.sleep(2.1)
    second = export(database, "2026-10", tmp_path / "b")
    names = [path.name for path in first.files]
    assert names == [
        "finance-statement.csv",
        "finance-statement.parquet",
        "session-log.csv",
        "session-log.parquet",
        "finance-statement.xlsx",
        "daily-usage.png",
        "manifest.json",
    ]
    assert [path.name for path in second.files] == names
    for a, b in zip(first.files, second.files, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        print(f"{a.name}: sha256 {hashlib.sha256(a.read_bytes()).hexdigest()} both times")


def test_manifest_checksums_and_row_counts_match_the_files(database: Path, tmp_path: Path) -> None:
    result = export(database, "2026-10", tmp_path)
    manifest = json.loads((result.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert sorted(p.name for p in result.directory.iterdir()) == sorted(
        [f["name"] for f in manifest["files"]] + ["manifest.json"]
    )
    for entry in manifest["files"]:
        data = (result.directory / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        if entry["format"] == "parquet":
            assert entry["rows"] == pl.read_parquet(io.BytesIO(data)).height
        elif entry["format"] == "csv":
            assert entry["rows"] == pl.read_csv(io.BytesIO(data)).height
        elif entry["format"] == "xlsx":
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            sheets = {sheet.title: sheet.max_row - 1 for sheet in book}  # less the header row
            assert entry["sheets"] == sheets
            assert entry["rows"] == sheets["Statement"]
        else:
            assert entry["rows"] == 31  # one bar per day of October
    assert {e["name"]: e["rows"] for e in manifest["files"]}["session-log.csv"] == 5
    assert manifest["period"] == {
        "from": "2026-10-01",
        "to": "2026-10-31",
        "time_zone": "UTC",
        "start": "2026-10-01T00:00:00Z",
        "end": "2026-11-01T00:00:00Z",
    }
    assert manifest["exported_at"] == "2026-12-02T03:00:00Z"


def test_a_csv_only_re_export_removes_the_parquet_files_of_the_earlier_export(
    database: Path, tmp_path: Path
) -> None:
    export(database, "2026-10", tmp_path)
    (tmp_path / "2026-10" / "notes.txt").write_text("kept: not an export file")
    told: list[str] = []
    result = export(database, "2026-10", tmp_path, formats=("csv",), progress=told.append)
    assert sorted(p.name for p in result.directory.iterdir()) == [
        "daily-usage.png",
        "finance-statement.csv",
        "manifest.json",
        "notes.txt",
        "session-log.csv",
    ]
    assert [f["format"] for f in result.manifest["files"]] == ["csv", "csv", "png"]
    assert "finance-statement.parquet removed (left by an earlier export of 2026-10)" in told
    assert "finance statement: 2 rows" in told
    assert told[-1] == "manifest.json written"


def test_csv_numbers_are_plain_and_instants_are_utc_ending_in_z(database: Path, tmp_path: Path) -> None:
    result = export(database, "2026-10", tmp_path, formats=("csv",))
    text = (result.directory / "session-log.csv").read_text(encoding="utf-8")
    odd = next(line for line in text.splitlines() if line.split(",")[5] == "s-odd")
    assert ",0.000001000," in odd
    assert ",123456789.500000000," in odd
    assert "2026-10-05T10:00:00.000000Z" in odd
    assert not any(marker in text for marker in ("e-0", "e+0", "E-", "E+"))
    log = pl.read_csv(result.directory / "session-log.csv", infer_schema=False)
    for column in ("started_time", "stopped_time", "finalized_at"):
        assert all(value.endswith("Z") for value in log[column].drop_nulls())
    statement = (result.directory / "finance-statement.csv").read_text(encoding="utf-8")
    assert "123464589.500" in statement


@pytest.mark.parametrize("month", ["2026-13", "../x", "2026-1", "2026-00", "0000-01", "2026-10/.."])
def test_an_invalid_month_is_a_clear_error(database: Path, tmp_path: Path, month: str) -> None:
    with pytest.raises(ReportError, match="expected a calendar month as YYYY-MM") as caught:
        export(database, month, tmp_path)
    assert repr(month) in str(caught.value)
    assert not list(tmp_path.glob("**/*.csv"))


@pytest.mark.parametrize("formats", [(), ("xls",), ("both",), ("csv", "json")])
def test_formats_other_than_csv_parquet_and_xlsx_are_refused(
    database: Path, tmp_path: Path, formats: tuple[str, ...]
) -> None:
    with pytest.raises(ReportError, match="choose one or more of csv, parquet, xlsx, or all"):
        export(database, "2026-10", tmp_path, formats=formats)
    assert not tmp_path.joinpath("2026-10").exists()


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        export(tmp_path / "none.duckdb", "2026-10", tmp_path)


def test_coverage_of_a_month_with_late_polling_and_an_open_session_is_not_complete(
    database: Path, tmp_path: Path
) -> None:
    coverage = export(database, "2026-10", tmp_path).manifest["coverage"]
    assert coverage["complete"] is False
    assert coverage["polls"] == {
        "snapshot_polls": 60,
        "by_outcome": {"ok": 60, "partial": 0, "failed": 0},
        "first_at": "2026-10-31T23:00:00Z",
        "last_at": "2026-10-31T23:59:00Z",
    }
    # From the month's start to the first poll; the last poll to midnight is 60 s, a normal interval.
    assert coverage["polling_gaps"] == {
        "max_gap_seconds": 150.0,
        "count": 1,
        "total_seconds": 2674800.0,
        "longest_seconds": 2674800.0,
        "longest_from": "2026-10-01T00:00:00Z",
        "longest_to": "2026-10-31T23:00:00Z",
    }
    assert coverage["sessions_not_final"] == 1
    assert coverage["parse_issues"] == 1
    assert coverage["reconciliation"] == {
        "days_with_cloudflare_figures": 2,
        "days_with_difference": 1,
        "verdicts": {"agrees": 1, "differs": 0, "not final": 1},  # Oct 31 has an open session
        "ingest_difference_seconds": 0.0,
        "viewer_difference_seconds": 10.0,
    }
    assert coverage["notes"] == [
        "1 of 5 sessions is not final yet, so their figures may still grow.",
        "Polling had 1 gap longer than 150 s (30 d 23 h in all; the longest from 2026-10-01T00:00:00Z to "
        "2026-10-31T23:00:00Z): a session that started and stopped in a gap may be missing.",
    ]


def test_a_failed_poll_makes_an_otherwise_fully_polled_month_incomplete(
    database: Path, tmp_path: Path
) -> None:
    coverage = export(database, "2026-11", tmp_path).manifest["coverage"]
    assert coverage["polls"]["snapshot_polls"] == 30 * 24 * 60
    assert coverage["polls"]["by_outcome"] == {"ok": 30 * 24 * 60 - 1, "partial": 0, "failed": 1}
    assert coverage["polling_gaps"]["count"] == 0  # the polls beside it are a minute apart
    assert coverage["notes"] == [
        "1 snapshot poll failed (see the data-quality report): nothing was read then."
    ]
    assert coverage["complete"] is False


def test_an_ended_fully_polled_month_with_final_sessions_is_complete(database: Path, tmp_path: Path) -> None:
    con = warehouse.connect(database)
    con.execute("delete from poll_runs where outcome = 'failed'")
    con.close()
    coverage = export(database, "2026-11", tmp_path).manifest["coverage"]
    assert coverage["polling_gaps"]["count"] == 0
    assert coverage["notes"] == []
    assert coverage["complete"] is True


def test_polls_that_all_failed_are_a_gap_and_an_incomplete_month(database: Path, tmp_path: Path) -> None:
    con = warehouse.connect(database)
    con.execute(
        "update poll_runs set outcome = 'failed', message = 'HTTP 401' where started_at >= '2026-11-10'"
    )
    con.close()
    coverage = export(database, "2026-11", tmp_path).manifest["coverage"]
    assert coverage["complete"] is False
    assert coverage["polling_gaps"]["count"] == 1
    assert coverage["polling_gaps"]["longest_from"].startswith("2026-11-09T23:59")
    failed = 21 * 24 * 60  # every poll from 2026-11-10 on
    assert coverage["polls"]["by_outcome"]["failed"] == failed
    assert (
        f"{failed} snapshot polls failed (see the data-quality report): nothing was read then."
        in coverage["notes"]
    )


def test_coverage_of_a_month_not_yet_ended_is_not_complete(database: Path, tmp_path: Path) -> None:
    now = datetime(2026, 11, 15, 12, tzinfo=UTC)
    coverage = export(database, "2026-11", tmp_path, now=now).manifest["coverage"]
    assert coverage["complete"] is False
    assert coverage["notes"] == [
        "The month has not ended yet (exported at 2026-11-15T12:00:00Z).",
        "1 snapshot poll failed (see the data-quality report): nothing was read then.",
    ]
    assert coverage["covered_until"] == "2026-11-15T12:00:00Z"
    assert coverage["polls"]["snapshot_polls"] == (14 * 24 + 12) * 60


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_1000_by_500_png_even_for_a_period_without_usage() -> None:
    daily = pl.DataFrame(
        {
            "day": [date(2026, 10, 31), date(2026, 10, 31)],
            "viewer_hours": [2.5, 1.0],
            "ingest_hours": [0.5, 0.2],
        }
    )
    png = daily_usage_png(daily, date(2026, 10, 1), date(2026, 10, 31), "Daily usage, 2026-10 (UTC)")
    assert png_size(png) == (1000, 500)
    empty = daily.clear()
    blank = daily_usage_png(empty, date(2026, 10, 1), date(2026, 10, 31), "Daily usage, 2026-10 (UTC)")
    assert png_size(blank) == (1000, 500)
    assert blank != png
    assert b"Software" not in png


def test_the_chart_refuses_a_frame_that_is_not_daily_usage() -> None:
    with pytest.raises(ReportError, match="no column viewer_hours, ingest_hours"):
        daily_usage_png(pl.DataFrame({"day": [date(2026, 10, 1)]}), date(2026, 10, 1), date(2026, 10, 2), "x")


@pytest.mark.parametrize(
    ("today", "month"),
    [(date(2026, 1, 15), "2025-12"), (date(2026, 3, 1), "2026-02"), (date(2026, 12, 31), "2026-11")],
)
def test_previous_month_is_the_calendar_month_before_today(today: date, month: str) -> None:
    assert previous_month(today) == month


def test_the_flow_reads_its_paths_from_the_environment_with_local_defaults() -> None:
    def paths(env: dict[str, str]) -> tuple[Path, Path]:
        settings = Settings.from_env(env)  # what the flow reads: no credentials needed
        return settings.database, settings.export_dir

    assert paths({}) == (Path("data/streamledger.duckdb").absolute(), Path("data/exports").absolute())
    assert paths({"STREAMLEDGER_DATABASE": "/srv/w.duckdb"}) == (Path("/srv/w.duckdb"), Path("/srv/exports"))
    assert paths({"STREAMLEDGER_EXPORT_DIR": "/out"})[1] == Path("/out")


def test_the_scheduled_export_skips_a_month_whose_export_is_already_complete(tmp_path: Path) -> None:
    assert already_complete(tmp_path) is False  # nothing exported yet
    (tmp_path / "manifest.json").write_text(json.dumps({"coverage": {"complete": False}}))
    assert already_complete(tmp_path) is False
    (tmp_path / "manifest.json").write_text(json.dumps({"coverage": {"complete": True}}))
    assert already_complete(tmp_path) is True
    (tmp_path / "manifest.json").write_text("{not json")
    assert already_complete(tmp_path) is False


DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


def add_overall(
    database: Path, ingest: float, viewer: float, *, count: int = 1, fetched_at: datetime
) -> None:
    """A read of Cloudflare's overall totals of November for app1 (the window the reconcile asks for)."""
    con = warehouse.connect(database)
    try:
        con.execute(
            "insert into analytics_overall values ('app1', $1, $2, $3, $4, $5, $6, 'r2')"
            " on conflict do update set count = excluded.count,"
            " total_ingest_seconds = excluded.total_ingest_seconds,"
            " total_viewer_seconds = excluded.total_viewer_seconds, fetched_at = excluded.fetched_at",
            [NOV_1, DEC_1, count, ingest, viewer, fetched_at],
        )
        # Another window of the same app is not the month's: the cross-check ignores it.
        con.execute(
            "insert into analytics_overall values ('app1', $1, $2, 7, 1, 1, $3, 'r2') on conflict do nothing",
            [NOV_1, NOV_1 + timedelta(days=14), fetched_at],
        )
    finally:
        con.close()


def test_without_a_read_of_cloudflares_month_totals_the_manifest_says_so_and_invents_no_zeros(
    database: Path, tmp_path: Path
) -> None:
    manifest = export(database, "2026-11", tmp_path).manifest
    check = manifest["cloudflare_cross_check"]
    assert check["window"] == {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
    assert check["verdict"] == "not final"
    (app,) = check["apps"]
    assert (app["app_id"], app["read_at"], app["cloudflare"]) == ("app1", None, None)
    assert app["warehouse"] == {
        "sessions": 1,
        "sessions_not_final": 0,
        "ingest_seconds": 600,
        "viewer_seconds": 1200,
    }
    assert (app["verdict"], app["verdict_reason"]) == (
        "not final",
        "Cloudflare's overall totals of the month were not read",
    )
    assert check["note"].startswith("No read of Cloudflare's overall totals for this month for app1")
    # The scheduled export tries the month again (after the next daily reconcile) until it is cross-checked.
    assert already_complete(tmp_path / "2026-11") is False


@pytest.mark.parametrize(
    ("viewer", "count", "verdict", "reason"),
    [
        (1199, 1, "agrees", None),  # the sum of floors, or floor of the sum, of 1200.0: within 1 + 1
        (1202, 1, "agrees", None),  # the most rounding can explain
        (1197, 1, "differs", "viewer seconds differ by more than the tolerance"),
        (1200, 2, "differs", "session counts differ"),
    ],
)
def test_the_manifest_cross_checks_cloudflares_month_totals_per_app(
    database: Path, tmp_path: Path, viewer: int, count: int, verdict: str, reason: str | None
) -> None:
    read_at = DEC_1 + timedelta(minutes=15)
    add_overall(database, 600, viewer, count=count, fetched_at=read_at)
    check = export(database, "2026-11", tmp_path).manifest["cloudflare_cross_check"]
    (app,) = check["apps"]
    assert app["read_at"] == "2026-12-01T00:15:00Z"
    assert app["cloudflare"] == {"sessions": count, "ingest_seconds": 600, "viewer_seconds": viewer}
    assert (app["tolerance_seconds"], app["viewer_difference_seconds"]) == (count + 1, 1200 - viewer)
    assert (app["verdict"], app["verdict_reason"]) == (verdict, reason)
    assert (check["verdict"], check["note"]) == (verdict, None)


def test_cloudflares_totals_read_before_the_month_was_over_are_not_final(
    database: Path, tmp_path: Path
) -> None:
    add_overall(database, 600, 1200, fetched_at=datetime(2026, 11, 30, 0, 15, tzinfo=UTC))
    check = export(database, "2026-11", tmp_path).manifest["cloudflare_cross_check"]
    assert (check["apps"][0]["verdict"], check["apps"][0]["verdict_reason"]) == (
        "not final",
        "Cloudflare's totals were read before the month was over",
    )
    add_overall(database, 600, 1200, fetched_at=DEC_1 + timedelta(minutes=15))  # the next daily reconcile
    assert export(database, "2026-11", tmp_path).manifest["cloudflare_cross_check"]["verdict"] == "agrees"


# --- Finance files as finance takes them (issue 14, item 6) ---

MID_NOVEMBER = datetime(2026, 11, 15, 12, tzinfo=UTC)


def csv_rows(path: Path) -> list[dict[str, Any]]:
    return pl.read_csv(path, infer_schema=False).to_dicts()


def test_the_statement_ends_with_a_totals_row_that_is_the_exact_sum_of_its_rounded_rows(
    database: Path, tmp_path: Path
) -> None:
    price = Decimal("0.0005")  # 10 ingest minutes cost 0.005 USD: exactly half a cent
    result = export(database, "2026-11", tmp_path, price_per_ingest_minute=price)
    *rows, total = csv_rows(result.directory / "finance-statement.csv")
    assert [row["app_id"] for row in rows] == ["app1", "app1"]
    assert (total["app_id"], total["livestream_id"], total["price_per_ingest_minute_usd"]) == (
        "TOTAL",
        None,
        None,
    )
    for row in rows:
        exact = Decimal(row["ingest_minutes"]) * price
        assert Decimal(row["estimated_cost_usd"]) == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert len(row["estimated_cost_usd"].split(".")[1]) == 2  # cents, never more digits
    # Half up: 0.005 is a cent (banker's rounding would make it 0.00), 0.015 is two.
    assert {row["livestream_id"]: row["estimated_cost_usd"] for row in rows} == {
        "ls-day": "0.01",
        "ls-night": "0.02",
    }
    for name in ("sessions", "sessions_not_final"):
        assert int(total[name]) == sum(int(row[name]) for row in rows)
    for name in (
        "viewer_seconds",
        "ingest_seconds",
        "viewer_minutes",
        "ingest_minutes",
        "estimated_cost_usd",
    ):
        assert Decimal(total[name]) == sum(Decimal(row[name]) for row in rows), name
    assert result.manifest["totals"]["estimated_cost_usd"] == total["estimated_cost_usd"] == "0.03"
    # The totals row is not in Parquet: summing a column there gives the total, without counting it twice.
    parquet = pl.read_parquet(result.directory / "finance-statement.parquet")
    assert parquet["estimated_cost_usd"].dtype == pl.Decimal(18, 2)
    assert parquet.height == len(rows)
    assert format(parquet["estimated_cost_usd"].sum(), "f") == total["estimated_cost_usd"]


def month_states(result: ExportResult) -> set[str]:
    """The month_state of every file of an export: each statement and log row, the workbook, the manifest."""
    folder = result.directory
    states = {result.manifest["month_state"]}
    for name in ("finance-statement", "session-log"):
        states |= {row["month_state"] for row in csv_rows(folder / f"{name}.csv")}
        states |= set(pl.read_parquet(folder / f"{name}.parquet")["month_state"])
    book = openpyxl.load_workbook(folder / "finance-statement.xlsx", read_only=True)
    for title in ("Statement", "Session log"):
        sheet = book[title]
        header = next(sheet.iter_rows(max_row=1, values_only=True))
        column = header.index("month_state")
        states |= {row[column] for row in sheet.iter_rows(min_row=2, values_only=True)}
    notes = dict(book["Notes"].iter_rows(min_row=2, values_only=True))
    states.add(notes["month state"])
    return states


def remove_the_failed_poll(database: Path) -> None:
    con = warehouse.connect(database)
    con.execute("delete from poll_runs where outcome = 'failed'")
    con.close()


def test_the_current_month_is_provisional_in_every_file_even_when_nothing_else_is_missing(
    database: Path, tmp_path: Path
) -> None:
    remove_the_failed_poll(database)
    result = export(database, "2026-11", tmp_path, now=MID_NOVEMBER)
    assert month_states(result) == {"provisional"}
    assert result.manifest["coverage"]["notes"] == [
        "The month has not ended yet (exported at 2026-11-15T12:00:00Z)."
    ]
    # No row claims to be complete while the month runs.
    assert "complete" not in pl.read_parquet(result.directory / "finance-statement.parquet").columns


def test_a_month_is_final_only_once_it_is_over_and_complete(database: Path, tmp_path: Path) -> None:
    assert month_states(export(database, "2026-10", tmp_path)) == {"provisional"}  # gaps, an open session
    assert month_states(export(database, "2026-11", tmp_path)) == {"provisional"}  # a failed poll
    remove_the_failed_poll(database)
    final = export(database, "2026-11", tmp_path)
    assert month_states(final) == {"final"}
    book = openpyxl.load_workbook(final.directory / "finance-statement.xlsx", read_only=True)
    notes = dict(book["Notes"].iter_rows(min_row=2, values_only=True))
    assert notes["why not final"] == "none: the month is complete"


def excel_value(value: object, csv_text: str | None) -> object:
    """What a CSV cell is as the workbook holds it: numbers as floats, instants and dates as datetimes."""
    if csv_text is None:
        return None
    if isinstance(value, bool):
        return {"true": True, "false": False}[csv_text]
    if isinstance(value, datetime):
        if csv_text.endswith("Z"):
            return datetime.fromisoformat(csv_text).replace(tzinfo=None)
        return datetime.combine(date.fromisoformat(csv_text), datetime.min.time())
    if isinstance(value, int | float):
        return float(Decimal(csv_text))
    return csv_text


def sheet_rows(sheet: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    header, *rows = sheet.iter_rows(values_only=True)
    return list(header), rows


def test_the_workbook_holds_the_statement_with_totals_the_session_log_and_notes_with_the_csv_values(
    database: Path, tmp_path: Path
) -> None:
    result = export(database, "2026-10", tmp_path)
    path = result.directory / "finance-statement.xlsx"
    book = openpyxl.load_workbook(path, data_only=True)  # formulas' values as stored
    assert book.sheetnames == ["Statement", "Session log", "Notes"]
    for title, name in (("Statement", "finance-statement"), ("Session log", "session-log")):
        header, rows = sheet_rows(book[title])
        csv = pl.read_csv(result.directory / f"{name}.csv", infer_schema=False)
        assert [column.removesuffix(" (UTC)") for column in header] == csv.columns
        assert len(rows) == csv.height
        for row, expected in zip(rows, csv.iter_rows(), strict=True):
            assert list(row) == [excel_value(v, text) for v, text in zip(row, expected, strict=True)], row
    # Instants are real date-times in UTC, the zone in the header; amounts are dollars with cents.
    header, rows = sheet_rows(book["Session log"])
    assert "started_time (UTC)" in header
    log = book["Session log"]
    started = log.cell(row=2, column=header.index("started_time (UTC)") + 1)
    assert started.is_date
    assert started.value == datetime(2026, 10, 5, 10)
    assert started.number_format == "yyyy-mm-dd hh:mm:ss.000"
    seconds = log.cell(row=2, column=header.index("viewer_seconds") + 1)
    assert seconds.data_type == "n"
    assert seconds.number_format == "#,##0.000000000"
    statement = book["Statement"]
    header, rows = sheet_rows(statement)
    cost = header.index("estimated_cost_usd") + 1
    assert statement.cell(row=2, column=cost).number_format == "[$$-409]#,##0.00"
    assert statement.cell(row=2, column=header.index("ingest_minutes") + 1).number_format == "#,##0.000000"
    assert statement.cell(row=2, column=header.index("period_from") + 1).is_date
    # The totals row sums the rows in the spreadsheet itself, and holds the same figures as the CSV.
    formulas = openpyxl.load_workbook(path)["Statement"]
    total_row = len(rows) + 1
    assert formulas.cell(row=total_row, column=cost).value == f"=SUM(P2:P{total_row - 1})"
    assert statement.cell(row=total_row, column=cost).value == 1.18
    assert statement.cell(row=total_row, column=cost).font.b
    notes = dict(sheet_rows(book["Notes"])[1])
    assert notes["month"] == "2026-10 (UTC)"
    assert notes["period"] == "2026-10-01T00:00:00Z to 2026-11-01T00:00:00Z (end excluded)"
    assert notes["price per ingest minute"] == "0.010000 USD"
    assert notes["month state"] == "provisional"
    assert notes["software"].startswith("streamledger ")
    assert notes["covered until"] == "2026-11-01T00:00:00Z"
    why = [value for item, value in sheet_rows(book["Notes"])[1] if item == "why not final"]
    assert why == result.manifest["coverage"]["notes"]
    assert "half up to the cent" in notes["cost rounding"]


def test_text_that_looks_like_a_formula_stays_text_in_the_workbook(database: Path, tmp_path: Path) -> None:
    con = warehouse.connect(database)
    con.execute("update livestreams set name = '=HYPERLINK(\"http://x\")' where livestream_id = 'ls-day'")
    con.close()
    result = export(database, "2026-10", tmp_path, formats=("xlsx",))
    sheet = openpyxl.load_workbook(result.directory / "finance-statement.xlsx")["Statement"]
    header = [cell.value for cell in sheet[1]]
    name = sheet.cell(row=2, column=header.index("livestream_name") + 1)
    assert (name.data_type, name.value) == ("s", '=HYPERLINK("http://x")')


@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="LibreOffice is not installed here")
def test_libreoffice_opens_the_workbook_and_reads_the_statement(database: Path, tmp_path: Path) -> None:
    result = export(database, "2026-10", tmp_path)
    out = tmp_path / "converted"
    subprocess.run(
        [
            "libreoffice",
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(out),
            str(result.directory / "finance-statement.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env=os.environ | {"HOME": str(tmp_path)},
    )
    converted = (out / "finance-statement.csv").read_text(encoding="utf-8").splitlines()
    ours = (result.directory / "finance-statement.csv").read_text(encoding="utf-8").splitlines()
    assert len(converted) == len(ours)
    assert converted[-1].split(",")[3] == "TOTAL"
    assert "$1.18" in converted[-1]


@pytest.mark.parametrize("month", ["2026-12", "2030-01"])
def test_a_month_not_begun_is_refused_and_nothing_is_written(
    database: Path, tmp_path: Path, month: str
) -> None:
    with pytest.raises(ReportError, match=f"month {month} has not begun yet") as caught:
        export(database, month, tmp_path / "out", now=MID_NOVEMBER)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_the_command_refuses_a_future_month_in_one_line_and_writes_nothing(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["export", "--month", "2030-01", "--database", str(database), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("streamledger: error: month 2030-01 has not begun yet")
    assert not out.exists()


def test_the_command_exports_the_chosen_formats_to_output_and_prints_the_summary(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "finance"
    argv = ["export", "--month", "2026-10", "--database", str(database), "--output", str(out)]
    assert main([*argv, "--format", "xlsx", "--format", "csv"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sorted(path.name for path in (out / "2026-10").iterdir()) == [
        "daily-usage.png",
        "finance-statement.csv",
        "finance-statement.xlsx",
        "manifest.json",
        "session-log.csv",
    ]
    manifest = json.loads((out / "2026-10" / "manifest.json").read_text())
    assert printed == summary_lines(ExportResult(out / "2026-10", (), manifest))
    assert printed[0] == f"exported 2026-10 to {out / '2026-10'} (provisional):"
    assert printed[-1].startswith("  provisional: 1 of 5 sessions is not final yet")
    assert main(argv) == 0  # default: all
    assert {f["format"] for f in json.loads((out / "2026-10" / "manifest.json").read_text())["files"]} == {
        "csv",
        "parquet",
        "xlsx",
        "png",
    }


def shared_group() -> grp.struct_group:
    """A group this user may give files to: one of its groups, other than its primary group if it has one."""
    others = [gid for gid in os.getgroups() if gid != os.getgid()]
    return grp.getgrgid((others or [os.getgid()])[0])


def test_an_export_group_gets_the_folder_and_files_with_group_read(database: Path, tmp_path: Path) -> None:
    group = shared_group()
    told: list[str] = []
    result = export(database, "2026-10", tmp_path / "exports", group=group.gr_name, progress=told.append)
    for folder in (tmp_path / "exports", result.directory):  # the folder created for it too
        info = folder.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o2750, group.gr_gid), folder
    for path in result.files:
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o640, group.gr_gid), path.name
    assert result.manifest["group"] == group.gr_name
    # A folder above that the group cannot enter is said, with the fix.
    blocked = [folder for folder in tmp_path.parents if not folder.stat().st_mode & stat.S_IXOTH]
    tmp_path.chmod(0o700)
    again = export(database, "2026-10", tmp_path / "exports", group=str(group.gr_gid))
    assert any(f"cannot enter {tmp_path} " in warning for warning in again.warnings)
    assert len(again.warnings) == 1 + len(blocked)


def test_without_a_group_the_export_stays_owner_only(database: Path, tmp_path: Path) -> None:
    result = export(database, "2026-10", tmp_path)
    assert {stat.S_IMODE(path.stat().st_mode) for path in result.files} == {0o600}
    assert result.manifest["group"] is None


def test_an_unknown_group_is_one_line_naming_the_setting_and_nothing_is_written(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ReportError, match="no such group on this machine: set STREAMLEDGER_EXPORT_GROUP"):
        export(database, "2026-10", tmp_path / "out", group="no-such-group-here")
    monkeypatch.setenv("STREAMLEDGER_EXPORT_GROUP", "no-such-group-here")
    code = main(
        ["export", "--month", "2026-10", "--database", str(database), "--output", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "export group 'no-such-group-here'" in err
    assert "STREAMLEDGER_EXPORT_GROUP" in err
    assert not (tmp_path / "out").exists()


def test_the_setting_shares_the_commands_export_with_the_group(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    group = shared_group()
    monkeypatch.setenv("STREAMLEDGER_EXPORT_GROUP", group.gr_name)
    out = tmp_path / "out"
    assert main(["export", "--month", "2026-10", "--database", str(database), "--output", str(out)]) == 0
    capsys.readouterr()
    assert {(stat.S_IMODE(p.stat().st_mode), p.stat().st_gid) for p in (out / "2026-10").iterdir()} == {
        (0o640, group.gr_gid)
    }


def test_the_chart_shows_the_cost_shades_days_without_data_and_marks_a_provisional_month() -> None:
    daily = pl.DataFrame(
        {
            "day": [date(2026, 11, 3), date(2026, 11, 4)],
            "viewer_hours": [2.0, 1.0],
            "ingest_hours": [1.0, 0.5],
        }
    )
    spans = [
        NoDataSpan(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, 6, tzinfo=UTC), "before"),
        NoDataSpan(datetime(2026, 11, 15, 12, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "not yet"),
    ]
    cost = CostScale(Decimal("0.010"), Decimal("0.90"))
    figure = daily_usage_figure(
        daily, date(2026, 11, 1), date(2026, 11, 30), title="t", cost=cost, no_data=spans, provisional=True
    )
    ingest_axes = figure.axes[1]
    # Nov 1, 2 and 16..30 lie wholly in a span without usage: no bar; Nov 3 (partly shaded) to 15 have one.
    shaded = [patch for patch in ingest_axes.patches if patch.get_label() in ("before", "not yet")]
    assert len(shaded) == 2
    assert len(ingest_axes.patches) - len(shaded) == 13  # the bars
    (right,) = ingest_axes.child_axes
    assert right.get_ylabel() == "estimated cost (USD)"
    legend = ingest_axes.get_legend()
    assert legend is not None
    assert "estimated cost 0.90 USD" in legend.get_texts()[-1].get_text()
    assert "PROVISIONAL" in figure.get_suptitle()
    final = daily_usage_figure(daily, date(2026, 11, 1), date(2026, 11, 30), title="t", cost=cost)
    assert "PROVISIONAL" not in final.get_suptitle()
    assert len(final.axes[1].patches) == 30


def test_the_exported_chart_is_shaded_before_the_first_poll_and_after_the_export(
    database: Path, tmp_path: Path
) -> None:
    past = export(database, "2026-10", tmp_path / "a")
    current = export(database, "2026-11", tmp_path / "b", now=MID_NOVEMBER)
    remove_the_failed_poll(database)
    final = export(database, "2026-11", tmp_path / "c")
    charts = {
        r.directory.parent.name: (r.directory / "daily-usage.png").read_bytes()
        for r in (past, current, final)
    }
    assert len(set(charts.values())) == 3
    assert all(png_size(png) == (1000, 500) for png in charts.values())
