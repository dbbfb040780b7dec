"""The report library and the report and sql commands, on a history polled across a simulated month end."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from simulator import running_simulator, verify
from streamledger import reports, warehouse
from streamledger.cli import main
from tests.helpers import run_poll, settings_for, simulator_config

START = datetime(2026, 10, 31, 23, 45, tzinfo=UTC)
POLLS = 30  # one a minute: 23:46 .. 00:15
OCTOBER = ["--from", "2026-10-01", "--to", "2026-10-31"]
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]
HOSTILE = "'; drop table sessions; --"
CENT = Decimal("0.01")  # the statement's cost is in cents (decimal(18, 2)), rounded half up
DUCKDB_CLI = Path(sys.executable).parent / "duckdb"


@dataclass(frozen=True)
class History:
    database: Path
    truth: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Thirty one-minute polls from 2026-10-31 23:46 to 00:15 UTC, and the simulator's ground truth."""
    tmp_path = tmp_path_factory.mktemp("reports")
    config = simulator_config(
        start_at=START, livestreams=10, gap_seconds=(5.0, 60.0), live_seconds=(30.0, 600.0), seed=5
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        for _ in range(POLLS):
            sim.advance(60)
            run_poll(settings)
        truth = verify.fetch_truth(sim.root_url)
    return History(settings.database, truth)


def rows_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[dict[str, str]]:
    """Run the CLI with --format csv and return its rows."""
    assert main([*argv, "--format", "csv"]) == 0
    return pl.read_csv(io.StringIO(capsys.readouterr().out), infer_schema=False).to_dicts()


def counts(database: Path) -> tuple[int, int]:
    con = warehouse.connect(database, read_only=True)
    try:
        ((sessions, snapshots),) = con.execute(
            "select (select count(*) from sessions), (select count(*) from session_snapshots)"
        ).fetchall()
        return sessions, snapshots
    finally:
        con.close()


def test_the_finance_statements_of_both_months_add_up_to_the_ground_truth_of_final_sessions(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database", str(history.database)]
    stored = [
        row
        for period in (OCTOBER, NOVEMBER)
        for row in rows_of(capsys, ["report", "finance-statement", *db, *period])
    ]
    con = warehouse.connect(history.database, read_only=True)
    final = dict(con.execute("select session_id, livestream_id from sessions where is_final").fetchall())
    # Sessions still running at the end are counted with their usage so far (and flagged).
    running = con.execute(
        "select s.livestream_id, sum(u.ingest_seconds), sum(u.viewer_seconds), count(distinct s.session_id)"
        " from sessions as s join session_usage as u using (session_id) where not s.is_final group by 1"
    ).fetchall()
    con.close()
    assert len(final) >= 20
    expected: dict[str, list[Decimal]] = {}
    for session_id, livestream_id in final.items():
        truth = history.truth[session_id]
        figures = expected.setdefault(livestream_id, [Decimal(0), Decimal(0)])
        figures[0] += Decimal(str(truth["ingest_seconds"]))
        figures[1] += Decimal(str(truth["viewer_seconds"]))
    for livestream_id, ingest, viewer, _ in running:
        figures = expected.setdefault(livestream_id, [Decimal(0), Decimal(0)])
        figures[0] += Decimal(str(ingest))
        figures[1] += Decimal(str(viewer))
    for livestream_id, (ingest, viewer) in expected.items():
        rows = [row for row in stored if row["livestream_id"] == livestream_id]
        tolerance = Decimal("0.0005") * len(rows) + Decimal("0.000001")
        assert abs(sum(Decimal(r["ingest_seconds"]) for r in rows) - ingest) <= tolerance, livestream_id
        assert abs(sum(Decimal(r["viewer_seconds"]) for r in rows) - viewer) <= tolerance, livestream_id
        minutes = sum(Decimal(r["viewer_minutes"]) for r in rows)
        assert abs(minutes - viewer / 60) <= Decimal("0.0000005") * len(rows) + tolerance / 60
    flagged = {row["livestream_id"] for row in stored if int(row["sessions_not_final"]) > 0}
    assert flagged == {livestream_id for livestream_id, *_ in running}
    for row in stored:
        cost = Decimal(row["ingest_minutes"]) * Decimal("0.010")
        assert Decimal(row["estimated_cost_usd"]) == cost.quantize(CENT, ROUND_HALF_UP)


def test_usage_crossing_the_month_end_is_split_between_the_months(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database", str(history.database)]
    october = rows_of(capsys, ["report", "finance-statement", *db, *OCTOBER])
    november = rows_of(capsys, ["report", "finance-statement", *db, *NOVEMBER])
    both = rows_of(capsys, ["report", "finance-statement", *db, "--from", "2026-10-01", "--to", "2026-11-30"])
    assert sum(Decimal(r["viewer_seconds"]) for r in october) > 0
    assert sum(Decimal(r["viewer_seconds"]) for r in november) > 0
    split = sum((Decimal(r["viewer_seconds"]) for r in october + november), Decimal(0))
    whole = sum((Decimal(r["viewer_seconds"]) for r in both), Decimal(0))
    assert abs(split - whole) <= Decimal("0.001") * len(both) * 2


def test_a_price_parameter_prices_ingest_minutes(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(
        capsys,
        ["report", "finance-statement", "--database", str(history.database), *NOVEMBER, "--price", "0.5"],
    )
    assert rows
    for row in rows:
        assert row["price_per_ingest_minute_usd"] == "0.500000"
        expected = (Decimal(row["ingest_minutes"]) * Decimal("0.5")).quantize(CENT, ROUND_HALF_UP)
        assert Decimal(row["estimated_cost_usd"]) == expected


def test_every_report_runs_from_the_cli_in_every_format(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = ["--database", str(history.database)]
    for name in reports.catalog():
        period = ["--from", "2026-10-31", "--to", "2026-11-01"]
        assert main(["report", name, *db, *period]) == 0, name
        table = capsys.readouterr().out.splitlines()  # not a terminal: a header and a line per row
        csv_rows = rows_of(capsys, ["report", name, *db, *period])
        header = [cell.split(" (")[0] for cell in re.split(r"  +", table[0].strip())]
        assert header == list(csv_rows[0] if csv_rows else header), name
        assert len(table) == len(csv_rows) + 1, name
        assert main(["report", name, *db, *period, "--format", "json"]) == 0
        assert len(json.loads(capsys.readouterr().out)) == len(csv_rows)
        out = tmp_path / f"{name}.parquet"
        assert main(["report", name, *db, *period, "--format", "parquet", "--output", str(out)]) == 0
        assert pl.read_parquet(out).height == len(csv_rows), name
    assert len(reports.catalog()) >= 6


def test_a_report_table_right_aligns_numbers_and_names_the_time_zone(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "concurrency", "--database", str(history.database), "--tz", "America/New_York"]
    assert main([*argv, "--from", "2026-10-31", "--to", "2026-10-31"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "peak_concurrent" in line)
    assert "hour (America/New_York)" in header
    rows = [line for line in lines if line.strip().startswith("2026-10-31 ")]
    assert len(rows) == 24  # every local hour of the day, live or not
    end = header.index("peak_concurrent") + len("peak_concurrent")
    assert all(row[end - 1].isdigit() for row in rows)  # numbers end under the end of their header


def test_concurrency_finds_the_peak_in_the_hours_of_the_month_end(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(
        capsys,
        [
            "report",
            "concurrency",
            "--database",
            str(history.database),
            "--from",
            "2026-10-31",
            "--to",
            "2026-11-01",
        ],
    )
    assert len(rows) == 48
    live = {row["hour_utc"][:13]: row for row in rows if int(row["live_livestreams"]) > 0}
    assert set(live) == {"2026-10-31T23", "2026-11-01T00"}
    peak = max(int(row["peak_concurrent"]) for row in rows)
    assert 1 <= peak <= 10
    assert [row["is_period_peak"] for row in rows].count("true") >= 1
    assert all(int(row["peak_concurrent"]) <= int(row["live_livestreams"]) for row in live.values())


def test_daily_usage_follows_the_time_zone(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database", str(history.database), "--from", "2026-10-30", "--to", "2026-11-02"]
    utc = rows_of(capsys, ["report", "daily-usage", *db])
    new_york = rows_of(capsys, ["report", "daily-usage", *db, "--tz", "America/New_York"])
    assert {row["day"] for row in utc} == {"2026-10-31", "2026-11-01"}
    assert {row["day"] for row in new_york} == {"2026-10-31"}  # 19:45 to 20:15 in New York
    kolkata = ["--tz", "Asia/Kolkata"]  # UTC+05:30: local midnight falls at :30 of a UTC hour
    days = (["--from", "2026-11-01", "--to", "2026-11-01"], ["--from", "2026-11-02", "--to", "2026-11-02"])
    split = [
        rows_of(capsys, ["report", "daily-usage", "--database", str(history.database), *kolkata, *period])
        for period in days
    ]
    assert {row["day"] for row in split[0]} <= {"2026-11-01"}
    assert {row["day"] for row in split[1]} <= {"2026-11-02"}
    both = rows_of(capsys, ["report", "daily-usage", *db, *kolkata])
    per_day = sum((Decimal(row["viewer_hours"]) for day in split for row in day), Decimal(0))
    assert per_day == sum((Decimal(row["viewer_hours"]) for row in both), Decimal(0))  # nothing counted twice
    total = sum((Decimal(row["viewer_hours"]) for row in utc), Decimal(0))
    shifted = sum((Decimal(row["viewer_hours"]) for row in new_york), Decimal(0))
    assert abs(total - shifted) <= Decimal("0.001") * len(utc)


def test_the_session_log_lists_every_session_of_the_period_with_its_figures(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(capsys, ["report", "session-log", "--database", str(history.database), *NOVEMBER])
    by_id = {row["session_id"]: row for row in rows}
    for session_id, truth in history.truth.items():
        row = by_id.get(session_id)
        if row is None or row["is_final"] != "true":
            continue
        assert float(row["viewer_seconds"]) == pytest.approx(float(truth["viewer_seconds"]), abs=1e-9)
        assert row["stopped_time"].endswith("Z")
    assert any(row["is_final"] == "true" for row in rows)


def test_hostile_parameters_are_errors_and_execute_nothing(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    before = counts(history.database)
    db = ["--database", str(history.database)]
    for argv in (
        ["report", "session-log", *db, "--tz", HOSTILE],
        ["report", "session-log", *db, "--from", HOSTILE],
        ["report", "finance-statement", *db, "--price", HOSTILE],
        ["report", "data-quality", *db, "--param", f"max_gap_seconds={HOSTILE}"],
        ["report", "session-log", *db, "--param", f"{HOSTILE}=1"],
        ["report", HOSTILE, *db],
    ):
        # A value not of its option's kind is refused as it is parsed (a usage error), the rest by the report.
        assert main(argv) == (2 if argv[-2] in {"--tz", "--from", "--price"} else 1), argv
        err = capsys.readouterr().err
        assert err.startswith("streamledger: error: "), err
        assert err.count("\n") == 1, err
    # Past the command line, a value is still bound: an unknown zone is a no-match error, never SQL.
    report = reports.find("session-log")
    with pytest.raises(reports.ReportError, match="unknown time zone"):
        reports.run_report(history.database, report.name, {"tz": "UTC'; drop table sessions; --"})
    assert counts(history.database) == before


def test_ad_hoc_sql_is_read_only(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(history.database)
    db = ["--database", str(history.database)]
    assert main(["sql", "delete from sessions", *db]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "select count(*) as sessions from session_log", *db, "--format", "csv"]) == 0
    assert capsys.readouterr().out == f"sessions\n{before[0]}\n"
    assert counts(history.database) == before


def test_ad_hoc_sql_cannot_touch_other_files_and_nested_values_become_json(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = ["--database", str(history.database)]
    leak = tmp_path / "leak.csv"
    assert main(["sql", f"copy (select * from sessions) to '{leak}'", *db]) == 1
    assert "file system operations are disabled" in capsys.readouterr().err
    assert not leak.exists()
    assert main(["sql", "select [1, 2] as numbers, {'a': 'x'} as pair", *db, "--format", "csv"]) == 0
    assert capsys.readouterr().out == 'numbers,pair\n"[1,2]","{""a"":""x""}"\n'
    assert main(["sql", "select interval 90 minute as i, [interval 1 day] as l", *db, "--format", "csv"]) == 0
    assert capsys.readouterr().out == f"i,l\n{90 * 60},[1 day]\n"  # an interval is its seconds
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["sql", "select 1", *db, "--format", "csv", "--output", str(blocker / "x.csv")]) == 1
    assert capsys.readouterr().err == f"streamledger: error: --output {blocker / 'x.csv'}: File exists\n"


def test_report_list_names_every_report_with_its_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out if line and not line.startswith(" ")] == list(reports.catalog())
    block = out[out.index("finance-statement") + 1 :]
    assert "cost" in " ".join(block[: block.index("")])


def test_every_report_states_grain_parameters_and_units() -> None:
    for report in reports.catalog().values():
        assert report.grain.lower().startswith("one row per"), report.name
        assert report.units, report.name
        assert set(report.parameters) <= set(reports.PARAMETERS)


def test_bad_periods_and_unknown_parameters_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("report", "session-log", "--from", "2026-11-02", "--to", "2026-11-01"): "is after to_date",
        ("report", "session-log", "--from", "yesterday"): "expected a date as YYYY-MM-DD",
        ("report", "reconciliation", "--tz", "Europe/Paris"): "has no parameter 'tz'",
        ("report", "session-log", "--param", "nope"): "expected NAME=VALUE",
        ("report", "nope"): "no report 'nope' (available: concurrency, daily-usage,",
        ("report", "session-log", "--chart", "x.png"): "--chart draws the daily-usage report only",
        ("report", "finance-statement", "--price", "0.0000004"): "at most 6 decimals",
        ("report", "finance-statement", "--price", "1e400"): "at most 6 decimals",
        ("export", "--month", "9999-12"): "month '9999-12': expected a calendar month as YYYY-MM",
        ("export", "--month", "2026-10", "--price", "-1"): "--price '-1': expected a price of zero or more",
    }
    # A value that is not of its option's kind is a usage error (status 2), the rest a failed command (1).
    usage = {"yesterday", "--param", "0.0000004", "1e400", "-1"}
    for argv, message in cases.items():
        assert main([*argv, "--database", "/nonexistent.duckdb"]) == (2 if usage & set(argv) else 1), argv
        assert message in capsys.readouterr().err, argv


def test_a_report_on_a_missing_database_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "session-log", "--database", "/nonexistent.duckdb"]) == 1
    assert "database /nonexistent.duckdb does not exist yet" in capsys.readouterr().err


@pytest.mark.skipif(not DUCKDB_CLI.exists(), reason="the duckdb CLI is installed with the project")
def test_every_report_file_runs_unchanged_in_the_duckdb_cli(history: History, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(history.database, copy)  # the CLI is another DuckDB version: never let it touch the original
    for report in reports.catalog().values():
        script = (
            "set variable from_date = date '2026-10-31';\n"
            "set variable to_date = date '2026-11-01';\n"
            ".mode csv\n"
            f".read {report.path}\n"
        )
        done = subprocess.run(
            [str(DUCKDB_CLI), "-readonly", str(copy)],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (report.name, done.stderr)
        assert not done.stderr, (report.name, done.stderr)
        expected = reports.run_report(
            copy, report.name, {"from_date": date(2026, 10, 31), "to_date": date(2026, 11, 1)}
        )
        cli_rows = pl.read_csv(io.StringIO(done.stdout), infer_schema=False) if done.stdout.strip() else None
        assert (cli_rows.height if cli_rows is not None else 0) == expected.height, report.name
        if cli_rows is not None:
            assert cli_rows.columns == expected.columns, report.name


def test_the_default_period_is_this_month_to_date(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    con = warehouse.connect(database)
    warehouse.migrate(con)
    ((start, end),) = con.execute("select report_start(), report_end()").fetchall()
    con.close()
    today = datetime.now(UTC).date()
    assert start == datetime(today.year, today.month, 1, tzinfo=UTC)
    assert end == datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)


def poll_times(database: Path) -> tuple[datetime, datetime]:
    """The first snapshot poll's start and the last successful one's end, on our clock."""
    con = warehouse.connect(database, read_only=True)
    try:
        ((first, last),) = con.execute(
            "select min(started_at),"
            " max(coalesce(finished_at, started_at)) filter (where outcome <> 'failed')"
            " from poll_runs where kind = 'snapshot'"
        ).fetchall()
    finally:
        con.close()
    return first, last


def up_to_tomorrow() -> list[str]:
    """A period from the simulated sessions (October) to tomorrow: it reaches past now."""
    return ["--from", "2026-10-31", "--to", (datetime.now(UTC).date() + timedelta(days=1)).isoformat()]


def test_concurrency_stops_at_the_last_poll_and_shows_no_future_hour(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(capsys, ["report", "concurrency", "--database", str(history.database), *up_to_tomorrow()])
    _, last_poll = poll_times(history.database)
    hours = [datetime.fromisoformat(row["hour_utc"].replace("Z", "+00:00")) for row in rows]
    assert hours == sorted(hours)
    assert hours[0] == datetime(2026, 10, 31, tzinfo=UTC)
    # Every hour up to the one of the last poll, and none after it (tomorrow's are in the future).
    assert hours[-1] == last_poll.replace(minute=0, second=0, microsecond=0)
    assert len(hours) == (hours[-1] - hours[0]) // timedelta(hours=1) + 1
    assert hours[-1] <= datetime.now(UTC)


def test_data_quality_states_the_history_start_and_finds_gaps_only_between_polls(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database", str(history.database)]
    rows = rows_of(capsys, ["report", "data-quality", *db, *up_to_tomorrow()])
    first_poll, _ = poll_times(history.database)
    (start,) = [row for row in rows if row["check"] == "history start"]
    assert datetime.fromisoformat(start["last_at"]) == first_poll
    assert datetime.fromisoformat(start["first_at"]) == datetime(2026, 10, 31, tzinfo=UTC)
    for gap in (row for row in rows if row["check"] == "polling gaps"):
        assert datetime.fromisoformat(gap["first_at"]) >= first_poll  # never the time before the history
    for row in rows:
        for name in ("first_at", "last_at"):
            assert row[name] is None or datetime.fromisoformat(row[name]) <= datetime.now(UTC), row
    # Before this change, the time from the period's start to the first poll was a "polling gap".
    assert not any(
        row["check"] == "polling gaps" and datetime.fromisoformat(row["last_at"]) == first_poll
        for row in rows
    )


def test_poll_health_gives_each_kinds_history_start(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(capsys, ["report", "poll-health", "--database", str(history.database), *up_to_tomorrow()])
    first_poll, _ = poll_times(history.database)
    (snapshot,) = [row for row in rows if row["kind"] == "snapshot"]
    assert int(snapshot["polls"]) == POLLS
    assert datetime.fromisoformat(snapshot["history_starts_at"]) == first_poll
    assert datetime.fromisoformat(snapshot["first_started_at"]) == first_poll


def test_the_session_log_derives_a_status_where_the_api_gave_none(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rows_of(capsys, ["report", "session-log", "--database", str(history.database), *NOVEMBER])
    con = warehouse.connect(history.database, read_only=True)
    stored = {
        session_id: (status, stopped, error, vanished)
        for session_id, status, stopped, error, vanished in con.execute(
            "select s.session_id, s.status, s.stopped_time, s.err_message,"
            " coalesce(l.last_active_read_at > s.last_seen_at, false)"
            " from sessions as s left join livestreams as l using (livestream_id)"
        ).fetchall()
    }
    con.close()
    derived = 0
    for row in rows:
        status, stopped, error, vanished = stored[row["session_id"]]
        if status is not None:
            assert row["status"] == status
            continue
        derived += 1
        expected = "errored" if error else "ended" if stopped or vanished else None
        assert row["status"] == expected, row
    assert derived >= 1  # the history has a session read by id only, without its livestream's status


def test_a_nameless_livestream_is_blank_in_every_report(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    con = warehouse.connect(history.database, read_only=True)
    nameless = {
        row[0] for row in con.execute("select livestream_id from livestreams where name is null").fetchall()
    }
    con.close()
    assert nameless
    db = ["--database", str(history.database), "--from", "2026-10-31", "--to", "2026-11-01"]
    for report, column in (
        ("usage-by-livestream", "livestream"),
        ("daily-usage", "livestream"),
        ("session-log", "livestream_name"),
        ("finance-statement", "livestream_name"),
    ):
        rows = rows_of(capsys, ["report", report, *db])
        assert {row["livestream_id"] for row in rows if row[column] is None} == nameless, report
