"""`streamledger sql` and `report` are bounded in time, memory and temporary files, each by a setting.

Every test runs the command in a process of its own, as an analyst does, with real queries that reach a
limit (cross joins of generated series), and the system's temporary folder (TMPDIR) pointed at a folder of
the test's: whatever the reading spilled must be gone when the command ends, however it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamledger import warehouse
from streamledger.warehouse import QUERY_TEMP_PREFIX

# 2.25 million distinct strings grouped: a hash table of about 200 MB, which spills past a small memory limit.
SPILLING = (
    "select h, count(*) as n from (select md5((a.range * 100000 + b.range)::varchar) as h "
    "from range({side}) as a, range({side}) as b) group by h order by n desc limit 1"
)
# A list of 5 million strings is built in memory whole: it cannot spill.
UNSPILLABLE = "select len(list(md5(range::varchar))) from range(5000000)"
# 10^11 products: minutes of work at any memory limit.
ENDLESS = "select sum(a.range * b.range) from range(100000) as a, range(1000000) as b"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A new, migrated warehouse."""
    path = tmp_path / "history.duckdb"
    with warehouse.opened(path):
        pass
    return path


@pytest.fixture
def temp_root(tmp_path: Path) -> Path:
    """The system's temporary folder of the commands the test runs."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    return folder


def command(database: Path, temp_root: Path, *args: str, **limits: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `streamledger ARGS --database DATABASE` with these limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLEDGER_")}
    env |= {"TMPDIR": str(temp_root)} | {f"STREAMLEDGER_QUERY_{k.upper()}": v for k, v in limits.items()}
    return [sys.executable, "-m", "streamledger.cli", *args, "--database", str(database)], env


def streamledger(
    database: Path, temp_root: Path, *args: str, **limits: str
) -> subprocess.CompletedProcess[str]:
    """Run `streamledger ARGS --database DATABASE` to its end (bounded: a limit must end it)."""
    argv, env = command(database, temp_root, *args, **limits)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)


def left_behind(database: Path, temp_root: Path) -> list[str]:
    """Temporary files and folders left: in the system's temporary folder, and where DuckDB puts them by
    default (a folder beside the database)."""
    beside = [p.name for p in database.parent.iterdir() if p.name.endswith(".tmp")]
    return sorted(p.name for p in temp_root.iterdir()) + beside


@pytest.mark.parametrize(
    ("statement", "limits", "reached"),
    [
        (ENDLESS, {"timeout_seconds": "1.5"}, "it ran for 1.5 s (STREAMLEDGER_QUERY_TIMEOUT_SECONDS)"),
        (
            UNSPILLABLE,
            {"memory_limit": "64MB"},
            "it needed more than 64MB of memory (STREAMLEDGER_QUERY_MEMORY_LIMIT)",
        ),
        (
            SPILLING.format(side=1500),
            {"memory_limit": "64MB", "temp_limit": "32MB"},
            "its temporary files reached 32MB (STREAMLEDGER_QUERY_TEMP_LIMIT)",
        ),
    ],
    ids=["time", "memory", "temporary files"],
)
def test_a_query_past_a_limit_is_stopped_in_one_line_naming_the_setting_and_leaves_no_file(
    database: Path, temp_root: Path, statement: str, limits: dict[str, str], reached: str
) -> None:
    done = streamledger(database, temp_root, "sql", statement, **limits)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"streamledger: error: sql: stopped: {reached}; narrow the query, or raise that setting"
    ]
    assert left_behind(database, temp_root) == []


def test_a_query_that_spills_within_its_limits_answers_and_leaves_no_file(
    database: Path, temp_root: Path
) -> None:
    done = streamledger(
        database,
        temp_root,
        "sql",
        SPILLING.format(side=1500),
        "--format",
        "csv",
        memory_limit="64MB",
        temp_limit="2GB",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "h,n"
    assert done.stdout.splitlines()[1].endswith(",1")
    assert left_behind(database, temp_root) == []


def test_the_reading_runs_with_its_limits_in_a_folder_of_its_own_and_cannot_lift_them(
    database: Path, temp_root: Path
) -> None:
    settings = (
        "select current_setting('memory_limit') as memory, "
        "current_setting('max_temp_directory_size') as temp, current_setting('temp_directory') as folder"
    )
    done = streamledger(
        database, temp_root, "sql", settings, "--format", "csv", memory_limit="300MB", temp_limit="200MB"
    )
    assert done.returncode == 0, done.stderr
    memory, temp, folder = done.stdout.splitlines()[1].split(",")
    assert (memory, temp) == ("286.1 MiB", "190.7 MiB")
    assert Path(folder).parent == temp_root
    assert Path(folder).name.startswith(QUERY_TEMP_PREFIX)
    lifted = streamledger(database, temp_root, "sql", "set memory_limit = '100GB'", memory_limit="300MB")
    assert lifted.returncode == 1
    assert "configuration has been locked" in lifted.stderr
    assert left_behind(database, temp_root) == []


def started(database: Path, temp_root: Path, *args: str, **limits: str) -> subprocess.Popen[str]:
    """Start `streamledger ARGS --database DATABASE` in a process of its own."""
    argv, env = command(database, temp_root, *args, **limits)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_spilled_files(process: subprocess.Popen[str], temp_root: Path) -> list[Path]:
    """Wait until the reading has written temporary files (bounded); return them."""
    for _ in range(1200):
        spilled = [p for p in temp_root.rglob("*") if p.is_file() and p.stat().st_size > 0]
        if spilled:
            return spilled
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the query wrote no temporary file")


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_reading_ended_by_a_signal_removes_its_temporary_files(
    database: Path, temp_root: Path, sent: signal.Signals, status: int
) -> None:
    process = started(
        database, temp_root, "sql", SPILLING.format(side=4000), memory_limit="64MB", temp_limit="4GB"
    )
    try:
        wait_for_spilled_files(process, temp_root)
        process.send_signal(sent)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == status
    assert err == ""  # no traceback
    assert left_behind(database, temp_root) == []


def test_files_of_a_killed_reading_are_removed_by_the_next_one(database: Path, temp_root: Path) -> None:
    process = started(
        database, temp_root, "sql", SPILLING.format(side=4000), memory_limit="64MB", temp_limit="4GB"
    )
    try:
        wait_for_spilled_files(process, temp_root)
    finally:
        process.kill()  # SIGKILL: nothing runs on the way out
        process.communicate()
    (orphan,) = temp_root.iterdir()
    assert orphan.name.startswith(f"{QUERY_TEMP_PREFIX}{process.pid}-")
    done = streamledger(database, temp_root, "sql", "select 1 as one", "--format", "csv")
    assert (done.returncode, done.stdout) == (0, "one\n1\n")
    assert left_behind(database, temp_root) == []


@pytest.fixture
def long_history(database: Path) -> Path:
    """The warehouse with 20,000 sessions that each ran for two years: a report per hour over them is long."""
    con = warehouse.connect(database)
    try:
        con.execute(
            "insert into sessions (session_id, livestream_id, app_id, status, started_time, stopped_time,"
            " ingest_seconds, viewer_seconds, is_final, first_seen_at, last_seen_at, last_poll_id,"
            " last_observed_at)"
            " select 's' || range, 'l' || range % 50, 'app', 'IDLE',"
            " timestamptz '2024-01-01' + to_hours(range), timestamptz '2026-01-01' + to_hours(range),"
            " 60, 60, false, now(), now(), 'p', now()"
            " from range(20000)"
        )
    finally:
        con.close()
    return database


@pytest.mark.parametrize(
    ("limits", "reached"),
    [
        ({"timeout_seconds": "1"}, "it ran for 1 s (STREAMLEDGER_QUERY_TIMEOUT_SECONDS)"),
        ({"memory_limit": "1MB"}, "it needed more than 1MB of memory (STREAMLEDGER_QUERY_MEMORY_LIMIT)"),
    ],
    ids=["time", "memory"],
)
def test_a_report_past_a_limit_is_stopped_in_one_line_naming_the_setting(
    long_history: Path, temp_root: Path, limits: dict[str, str], reached: str
) -> None:
    args = ("report", "concurrency", "--from", "2024-01-01", "--to", "2025-12-31", "--format", "csv")
    done = streamledger(long_history, temp_root, *args, **limits)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"streamledger: error: report concurrency: stopped: {reached}; "
        "narrow the query, or raise that setting"
    ]
    assert left_behind(long_history, temp_root) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STREAMLEDGER_QUERY_MEMORY_LIMIT", "lots"),
        ("STREAMLEDGER_QUERY_TEMP_LIMIT", "0GB"),
        ("STREAMLEDGER_QUERY_TEMP_LIMIT", "1024"),
    ],
)
def test_a_limit_that_is_not_a_size_is_one_line_naming_it(
    database: Path, temp_root: Path, variable: str, value: str
) -> None:
    argv, env = command(database, temp_root, "sql", "select 1")
    done = subprocess.run(
        argv, env=env | {variable: value}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"streamledger: error: {variable} must be a size such as 512MB or 2GB, got {value!r}"
    ]
