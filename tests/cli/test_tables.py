"""Tables for people: the real `streamledger report` and `sql` commands on a polled warehouse, run as
processes on terminals of 80, 120 and 200 columns (a pty of that size) and into a pipe."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from simulator import running_simulator
from streamledger import warehouse
from streamledger.tables import render_table
from tests.helpers import run_poll, settings_for, simulator_config

START = datetime(2026, 10, 31, 23, 45, tzinfo=UTC)
PERIOD = ["--from", "2026-10-31", "--to", "2026-11-01"]
# The polls ran today on our clock (the simulated sessions in October): poll-health reads up to today.
TO_TODAY = ["--from", "2026-10-31", "--to", datetime.now(UTC).date().isoformat()]
WIDTHS = (80, 120, 200)
ANSI = re.compile(r"\x1b")
RECORD = re.compile(r"^-\[ RECORD (\d+) \]-*\+-*$", re.MULTILINE)
# A duration as tables show it: 0.154 s, 23.2 s, 12 min 05 s, 1 h 02 min (see streamledger/tables.py).
DURATION = re.compile(r"^(-?)(?:(\d[\d,]*) h (\d\d) min|(\d+) min (\d\d) s|(\d+(?:\.\d+)?) s)$")
PAGED = "PAGED BY THE TEST PAGER"
PAGER = f"{sys.executable} -c \"import sys; sys.stdin.read(); print('{PAGED}')\""


@dataclass(frozen=True)
class Warehouse:
    database: Path
    env: dict[str, str]
    piped: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Twenty one-minute polls of a simulated fleet across a month end (one livestream has no name)."""
    tmp_path = tmp_path_factory.mktemp("tables")
    config = simulator_config(
        start_at=START, livestreams=10, gap_seconds=(5.0, 60.0), live_seconds=(30.0, 600.0), seed=5
    )
    with running_simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        for _ in range(20):
            sim.advance(60)
            run_poll(settings)
    ours = ("STREAMLEDGER_", "CLOUDFLARE_", "REALTIMEKIT_", "PREFECT_")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ours) and name not in ("COLUMNS", "LINES", "PAGER")
    }
    env |= {"STREAMLEDGER_DATABASE": str(settings.database), "PREFECT_HOME": str(tmp_path / "prefect")}
    return Warehouse(settings.database, env)


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "streamledger.cli", *argv]


def in_a_pipe(polled: Warehouse, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command with its output into a pipe (once per command line, when the environment is not
    changed: the warehouse does not change)."""
    if not env and argv in polled.piped:
        return polled.piped[argv]
    done = subprocess.run(
        command(*argv), env=polled.env | env, capture_output=True, text=True, timeout=120, check=False
    )
    if not env:
        polled.piped[argv] = done
    return done


def on_a_terminal(polled: Warehouse, *argv: str, columns: int, lines: int = 500, **env: str) -> str:
    """Run the command on a pseudo-terminal of that size; return what it showed (stdout and stderr)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    child = subprocess.Popen(
        command(*argv), stdin=follower, stdout=follower, stderr=follower, env=polled.env | env
    )
    os.close(follower)
    shown = bytearray()
    try:
        while select.select([leader], [], [], 120)[0]:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command has ended and closed the terminal
                break
            if not data:
                break
            shown += data
    finally:
        os.close(leader)
        assert child.wait(timeout=60) == 0, shown.decode()
    return shown.decode().replace("\r\n", "\n")


def csv_of(polled: Warehouse, *argv: str) -> pl.DataFrame:
    done = in_a_pipe(polled, *argv, "--format", "csv")
    assert done.returncode == 0, done.stderr
    return pl.read_csv(io.StringIO(done.stdout), infer_schema=False)


def records(text: str) -> list[dict[str, str]]:
    """Parse the record layout: one dict per `-[ RECORD n ]-` block of `name | value` lines."""
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        if RECORD.match(line):
            found.append({})
        elif found and " | " in line + " ":
            name, _, value = line.partition(" |")
            found[-1][name.strip()] = value.removeprefix(" ")
    return found


def seconds_of(shown: str) -> tuple[float, float]:
    """Return a shown duration's seconds and how far from the exact value its rounding may be."""
    match = DURATION.match(shown)
    assert match, shown
    sign = -1 if match.group(1) else 1
    if match.group(2):
        return sign * (int(match.group(2).replace(",", "")) * 3600 + int(match.group(3)) * 60), 30.0
    if match.group(4):
        return sign * (int(match.group(4)) * 60 + int(match.group(5))), 0.5
    decimals = len(match.group(6).partition(".")[2])
    return sign * float(match.group(6)), 0.5 * 10**-decimals


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", ["usage-by-livestream", "concurrency", "session-log", "poll-health"])
def test_a_report_is_a_table_when_it_fits_the_terminal_and_records_when_not(
    polled: Warehouse, report: str, width: int
) -> None:
    period = TO_TODAY if report == "poll-health" else PERIOD
    exact = csv_of(polled, "report", report, *period)
    wide = in_a_pipe(polled, "report", report, *period).stdout.splitlines()
    needed = max(len(line) for line in wide)
    shown = on_a_terminal(polled, "report", report, *period, columns=width, STREAMLEDGER_PAGER="off")
    lines = shown.splitlines()
    assert not ANSI.search(shown)
    assert lines[-1] == f"{exact.height:,} row{'' if exact.height == 1 else 's'}"
    if needed <= width:
        assert wide[0] in lines  # the same header, aligned the same way
        assert not RECORD.search(shown)
        assert all(len(line) <= width for line in lines)
        assert len([line for line in lines if line in wide[1:]]) == exact.height
    else:
        blocks = records(shown)
        assert len(blocks) == exact.height
        for block, row in zip(blocks, exact.iter_rows(named=True), strict=True):
            assert [name.split(" (")[0] for name in block] == exact.columns
            for name, value in row.items():
                if name.endswith("_id") and value is not None:
                    assert value in block.values()  # an id, whole
        assert all(len(line) <= width for line in lines if " | " not in line)
    for row in exact.iter_rows(named=True):  # never a cut id, in either layout
        for name, value in row.items():
            if name.endswith("_id") and value is not None:
                assert value in shown, (name, value)


def test_at_80_columns_every_figure_of_the_usage_report_is_whole(polled: Warehouse) -> None:
    exact = csv_of(polled, "report", "usage-by-livestream", *PERIOD)
    shown = on_a_terminal(
        polled, "report", "usage-by-livestream", *PERIOD, columns=80, STREAMLEDGER_PAGER="off"
    )
    assert "…" not in shown
    for block, row in zip(records(shown), exact.iter_rows(named=True), strict=True):
        for name in ("viewer_hours", "ingest_hours", "avg_session_minutes", "longest_session_minutes"):
            assert Decimal(block[name].replace(",", "")) == Decimal(row[name]), name
        assert block["sessions"] == f"{int(row['sessions']):,}"


def test_columns_set_in_the_environment_is_the_width(polled: Warehouse) -> None:
    """COLUMNS, when set, is the width (as for other tools), whatever the terminal says."""
    argv = ("report", "concurrency", *PERIOD)
    needed = max(len(line) for line in in_a_pipe(polled, *argv).stdout.splitlines())
    assert needed > 80
    narrow = on_a_terminal(polled, *argv, columns=200, COLUMNS="80", STREAMLEDGER_PAGER="off")
    assert RECORD.search(narrow)
    wide = on_a_terminal(polled, *argv, columns=80, COLUMNS="200", STREAMLEDGER_PAGER="off")
    assert not RECORD.search(wide)


def test_a_pipe_gets_plain_aligned_text_whatever_the_width(polled: Warehouse) -> None:
    for report in ("usage-by-livestream", "session-log", "data-quality", "daily-usage"):
        exact = csv_of(polled, "report", report, *PERIOD)
        for columns in ("80", "250"):
            done = in_a_pipe(polled, "report", report, *PERIOD, COLUMNS=columns, PAGER=PAGER)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert len(lines) == exact.height + 1  # a header, a line per row: no title, rule or count
            assert [word.split(" (")[0] for word in re.split(r"  +", lines[0].strip())] == exact.columns
            assert PAGED not in done.stdout
            assert not ANSI.search(done.stdout)
            assert not re.search(r"[─│┃━]", done.stdout)
            assert all(line == line.rstrip() for line in lines)
            assert "null" not in done.stdout
        # The header's columns start where their left-aligned values start: `cut -c` finds them.
        header = lines[0]
        for name in ("session_id", "livestream_id"):
            if name in exact.columns:
                start = header.index(name)
                values = {line[start : start + 36] for line in lines[1:]}
                assert values == set(exact[name].drop_nulls()) | (
                    {" " * 36} if exact[name].null_count() else set()
                )


def test_nulls_are_blank_and_a_nameless_livestream_has_no_label(polled: Warehouse) -> None:
    con = warehouse.connect(polled.database, read_only=True)
    nameless = {
        row[0] for row in con.execute("select livestream_id from livestreams where name is null").fetchall()
    }
    con.close()
    assert nameless, "the simulated fleet has a livestream without a name"
    for report in ("usage-by-livestream", "daily-usage", "session-log"):
        exact = csv_of(polled, "report", report, *PERIOD)
        name = "livestream_name" if "livestream_name" in exact.columns else "livestream"
        blank = set(exact.filter(pl.col(name).is_null())["livestream_id"])
        assert blank == nameless & set(exact["livestream_id"]), report
        table = in_a_pipe(polled, "report", report, *PERIOD).stdout
        assert "(unnamed)" not in table
        assert "null" not in table
    shown = on_a_terminal(
        polled, "report", "usage-by-livestream", *PERIOD, columns=80, STREAMLEDGER_PAGER="off"
    )
    for block in records(shown):
        if block["livestream_id"] in nameless:
            assert block["livestream"] == ""


def test_durations_are_for_people_in_tables_and_exact_in_csv(polled: Warehouse) -> None:
    argv = ("report", "session-log", *PERIOD, "--columns", "session_id,duration_seconds,ingest_seconds")
    exact = {row["session_id"]: row for row in csv_of(polled, *argv).iter_rows(named=True)}
    assert any(re.fullmatch(r"\d+\.\d{9}", row["duration_seconds"] or "") for row in exact.values())
    lines = in_a_pipe(polled, *argv).stdout.splitlines()
    assert lines[0].split() == ["session_id", "duration_seconds", "ingest_seconds"]
    checked = 0
    for line in lines[1:]:
        session_id, _, rest = line.partition("  ")
        cells = [cell for cell in re.split(r"  +", rest.strip()) if cell]
        row = exact[session_id]
        figures = [value for value in (row["duration_seconds"], row["ingest_seconds"]) if value is not None]
        assert len(cells) == len(figures)
        for cell, value in zip(cells, figures, strict=True):
            shown, tolerance = seconds_of(cell)
            assert abs(shown - float(value)) <= tolerance + 1e-9, (cell, value)
            checked += 1
    assert checked >= 10


def test_counts_get_thousands_separators_floats_three_decimals_and_decimals_stay_exact(
    polled: Warehouse,
) -> None:
    statement = (
        "select sum(requests) * 1000 as requests, 1 / 3 as third, 1.250::decimal(10, 3) as price,"
        " 'x' || chr(27) || '[31m' as hostile, null as nothing from poll_runs"
    )
    con = warehouse.connect(polled.database, read_only=True)
    ((requests,),) = con.execute("select sum(requests) * 1000 from poll_runs").fetchall()
    con.close()
    lines = in_a_pipe(polled, "sql", statement).stdout.splitlines()
    assert lines[0].split() == ["requests", "third", "price", "hostile", "nothing"]
    cells = lines[1].split()
    assert cells == [f"{requests:,}", "0.333", "1.25", "x\\x1b[31m"]
    assert csv_of(polled, "sql", statement)["requests"].to_list() == [str(requests)]


def test_columns_keeps_and_orders_columns_and_an_unknown_one_lists_them(polled: Warehouse) -> None:
    argv = ("report", "session-log", *PERIOD)
    everything = csv_of(polled, *argv)
    chosen = csv_of(polled, *argv, "--columns", "status,session_id")
    assert chosen.columns == ["status", "session_id"]
    assert chosen.rows() == everything.select("status", "session_id").rows()
    table = in_a_pipe(polled, *argv, "--columns", "session_id, is_final").stdout.splitlines()
    assert table[0].split() == ["session_id", "is_final"]
    assert {line.split()[1] for line in table[1:]} <= {"yes", "no"}
    done = in_a_pipe(polled, *argv, "--columns", "session_id,nope")
    assert done.returncode == 1
    assert done.stderr == (
        "streamledger: error: --columns: no column nope in this result (its columns: "
        + ", ".join(everything.columns)
        + ")\n"
    )
    empty = in_a_pipe(polled, *argv, "--columns", " , ")
    assert empty.returncode == 2
    assert empty.stderr.startswith("streamledger: error: --columns ' , ': expected one or more column names")
    assert empty.stderr.count("\n") == 1
    sql = in_a_pipe(polled, "sql", "select 1 as a, 2 as b", "--columns", "b", "--format", "json")
    assert sql.stdout.strip() == '[{"b":2}]'


def test_a_pager_shows_a_table_longer_than_the_screen_and_only_on_a_terminal(polled: Warehouse) -> None:
    argv = ("report", "concurrency", *PERIOD)
    assert PAGED in on_a_terminal(polled, *argv, columns=120, lines=10, STREAMLEDGER_PAGER=PAGER)
    assert PAGED in on_a_terminal(polled, *argv, columns=120, lines=10, PAGER=PAGER)  # $PAGER when unset
    shown = on_a_terminal(polled, *argv, columns=120, lines=10, PAGER=PAGER, STREAMLEDGER_PAGER="off")
    assert PAGED not in shown
    assert "hour_utc" in shown
    assert PAGED not in on_a_terminal(
        polled, *argv, columns=120, lines=10, PAGER=PAGER, STREAMLEDGER_PAGER=""
    )
    short = on_a_terminal(polled, "sql", "select 1 as one", columns=120, lines=10, STREAMLEDGER_PAGER=PAGER)
    assert PAGED not in short
    assert "1 row" in short
    assert PAGED not in in_a_pipe(polled, *argv, STREAMLEDGER_PAGER=PAGER).stdout
    missing = on_a_terminal(polled, *argv, columns=120, lines=10, STREAMLEDGER_PAGER="/nonexistent/pager")
    assert "streamledger: the pager '/nonexistent/pager' could not start" in missing
    assert "STREAMLEDGER_PAGER" in missing
    assert "hour_utc" in missing


def test_an_interval_result_is_a_duration_in_a_table_and_seconds_in_csv(polled: Warehouse) -> None:
    statement = (
        "select session_id, stopped_time - started_time as took,"
        " epoch(stopped_time - started_time) as seconds, [stopped_time - started_time] as listed"
        " from sessions where stopped_time is not null"
    )
    exact = csv_of(polled, "sql", statement)
    assert exact.height >= 5
    assert [Decimal(value) for value in exact["took"]] == [Decimal(value) for value in exact["seconds"]]
    assert all(value.startswith("[") for value in exact["listed"])
    table = in_a_pipe(polled, "sql", statement, "--columns", "session_id,took,seconds").stdout.splitlines()
    for line in table[1:]:
        session_id, took = line.split()[0], re.split(r"  +", line.strip())[1]
        shown, tolerance = seconds_of(took)
        (seconds,) = exact.filter(pl.col("session_id") == session_id)["seconds"]
        assert abs(shown - float(seconds)) <= tolerance
    months = in_a_pipe(polled, "sql", "select interval 1 month as i", "--format", "json")
    assert months.returncode == 0, months.stderr
    assert months.stdout.strip() == '[{"i":2592000.0}]'  # DuckDB's epoch: a month counts 30 days
    twice = in_a_pipe(polled, "sql", "select interval 1 day as a, 2 as a")
    assert twice.returncode == 1
    assert twice.stderr.startswith("streamledger: error: sql: ")
    assert twice.stderr.count("\n") == 1
    assert "cast it" in twice.stderr


def test_an_empty_result_is_its_header() -> None:
    frame = pl.DataFrame(
        {"session_id": [], "sessions": []}, schema={"session_id": pl.String, "sessions": pl.Int64}
    )
    assert render_table(frame) == "session_id  sessions\n"
    assert render_table(frame, title="t", width=15).splitlines() == ["t", "0 rows"]  # no room for the header
    assert render_table(frame, title="t", width=80).splitlines() == [
        "t",
        "session_id  sessions",
        "----------  --------",
        "0 rows",
    ]
