"""Raw-response retention: archive old days to Parquet, prune them, and rebuild from archive + database."""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from simulator import RunningSimulator
from streamledger import archive, warehouse
from streamledger.cli import main
from streamledger.errors import ConfigError, WarehouseError
from streamledger.rebuild import rebuild
from streamledger.settings import Settings
from tests.helpers import (
    HISTORY_TABLES,
    TEST_SETTLE_SECONDS,
    aged_history,
    assert_same_tables,
    run_polls,
    table_contents,
)

# Bookkeeping, not derived from the raw responses: a rebuild keeps them.
DERIVED = tuple(t for t in HISTORY_TABLES if t not in ("raw_responses", "poll_runs", "listing_rounds"))
POLLS = 18
# The first polls are moved 4 days back, the next ones 3 days, the rest stay today: two old UTC days (or
# three, should the polls cross a midnight) that a retention of one day archives, and recent ones it keeps.
SHIFTS = ((6, 4), (5, 3))


def raw(database: Path, where: str = "true") -> pl.DataFrame:
    con = warehouse.connect(database, read_only=True)
    try:
        frame: pl.DataFrame = con.sql(f"select * from raw_responses where {where} order by poll_id, seq").pl()
        return frame
    finally:
        con.close()


def scalar(database: Path, sql: str) -> Any:
    con = warehouse.connect(database, read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A warehouse of POLLS polls whose first ones are moved days back (re-derived from them); its token."""
    return aged_history(tmp_path_factory.mktemp("history"), polls=POLLS, shifts=SHIFTS)


@pytest.fixture
def database(history: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the history warehouse."""
    copy = tmp_path / "history.duckdb"
    shutil.copyfile(history[0], copy)
    return copy


def now_for(database: Path) -> datetime:
    """A `now` for which a retention of one day archives exactly the moved polls' days."""
    first_recent = scalar(
        database,
        "select min(cast(first as date)) from"
        " (select min(fetched_at) as first from raw_responses group by poll_id)"
        " where first > now() - interval 2 day",
    )
    return datetime.combine(first_recent, time(), UTC) + timedelta(days=1)


def old_polls(database: Path, now: datetime) -> list[str]:
    cutoff = now - timedelta(days=1)
    con = warehouse.connect(database, read_only=True)
    try:
        rows = con.execute(
            "select poll_id from raw_responses group by poll_id"
            " having cast(min(fetched_at) as date) + interval 1 day <= $cutoff order by poll_id",
            {"cutoff": cutoff},
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def in_list(polls: list[str]) -> str:
    return "poll_id in (" + ", ".join(f"'{p}'" for p in polls) + ")"


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_moves_exactly_the_old_days_and_keeps_every_column_byte_identical(
    database: Path, history: tuple[Path, str], tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    now = now_for(database)
    old = old_polls(database, now)
    before = raw(database)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "raw_responses").mkdir(parents=True)
    (folder / "raw_responses" / f".2026-01-01.parquet.tmp-{dead.pid}").write_bytes(b"half")  # a killed run's
    archived = archive.archive_raw_responses(database, folder, 1, now=now)

    moved = before.filter(pl.col("poll_id").is_in(old))
    assert 0 < moved.height < before.height
    assert len(archived) >= 2
    assert_frame_equal(raw(database), before.filter(~pl.col("poll_id").is_in(old)), check_exact=True)
    from_files = pl.concat([pl.read_parquet(day.file) for day in archived])
    # Every column, bodies included, byte for byte (the file keeps the documented column order).
    assert_frame_equal(from_files, moved, check_exact=True, check_column_order=False)
    assert sum(day.responses for day in archived) == moved.height
    for day in archived:
        rows = pl.read_parquet(day.file)
        firsts = rows.group_by("poll_id").agg(pl.col("fetched_at").min())["fetched_at"].dt.date()
        assert set(firsts.to_list()) == {day.day}
        assert day.file == folder / "raw_responses" / f"{day.day}.parquet"
        assert stat.S_IMODE(day.file.stat().st_mode) == 0o600
        assert (day.bytes, day.sha256) == (day.file.stat().st_size, file_sha(day.file))
        assert not any(history[1] in str(v) for col in rows.iter_columns() for v in col if v is not None)
    assert stat.S_IMODE(day.file.parent.stat().st_mode) == 0o700
    con = warehouse.connect(database, read_only=True)
    try:
        recorded = con.execute(
            "select day, polls, responses, bytes, sha256, file from raw_archive order by day"
        ).fetchall()
    finally:
        con.close()
    assert recorded == [
        (d.day, d.polls, d.responses, d.bytes, d.sha256, f"raw_responses/{d.day}.parquet") for d in archived
    ]
    assert not list(folder.rglob(".*"))  # no temporary file left, a dead run's removed


def test_a_second_run_changes_nothing(database: Path, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    now = now_for(database)
    archived = archive.archive_raw_responses(database, folder, 1, now=now)
    shas = {day.file: file_sha(day.file) for day in archived}
    remaining = raw(database)
    assert archive.archive_raw_responses(database, folder, 1, now=now) == []
    with warehouse.opened(database) as con:  # as a run that listed the day before another archived it
        assert archive.archive_day(con, folder, archived[0].day).responses == 0
    assert {path: file_sha(path) for path in shas} == shas
    assert_frame_equal(raw(database), remaining)


CRASH_CHILD = """
import os, signal, sys
from datetime import datetime
from pathlib import Path
from streamledger import archive

def killed(path):
    os.kill(os.getpid(), signal.SIGKILL)  # after the file is in place, before the delete

archive._file_digest = killed
now = datetime.fromisoformat(sys.argv[3])
archive.archive_raw_responses(Path(sys.argv[1]), Path(sys.argv[2]), 1, now=now)
"""


def test_a_kill_between_writing_the_file_and_pruning_loses_and_duplicates_nothing(
    database: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    now = now_for(database)
    old = old_polls(database, now)
    before = raw(database)
    clean = tmp_path / "clean.duckdb"
    shutil.copyfile(database, clean)
    expected = archive.archive_raw_responses(clean, tmp_path / "clean-archive", 1, now=now)

    child = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, str(database), str(folder), now.isoformat()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    first = folder / "raw_responses" / f"{expected[0].day}.parquet"
    assert first.exists()  # written and renamed into place...
    assert_frame_equal(raw(database), before)  # ...but nothing deleted
    assert scalar(database, "select count(*) from raw_archive") == 0

    recovered = archive.archive_raw_responses(database, folder, 1, now=now)
    assert [(d.day, d.polls, d.responses, d.merged) for d in recovered] == [
        (d.day, d.polls, d.responses, 0) for d in expected
    ]
    assert_frame_equal(raw(database), before.filter(~pl.col("poll_id").is_in(old)))
    for day, clean_day in zip(recovered, expected, strict=True):
        assert_frame_equal(pl.read_parquet(day.file), pl.read_parquet(clean_day.file), check_exact=True)


def test_polls_of_an_archived_day_loaded_later_are_merged_into_its_file_even_after_a_crash(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "archive"
    now = now_for(database)
    archived = archive.archive_raw_responses(database, folder, 1, now=now)
    day = archived[0]
    first_file = pl.read_parquet(day.file)
    late = first_file.filter(pl.col("poll_id") == first_file["poll_id"][0]).with_columns(
        pl.col("poll_id") + "-late"
    )
    con = warehouse.connect(database)
    try:
        con.register("late", late)
        con.execute("insert into raw_responses by name select * from late")
    finally:
        con.close()

    def crash(path: Path) -> tuple[int, str]:
        raise RuntimeError("killed before the delete")

    monkeypatch.setattr(archive, "_file_digest", crash)
    with pytest.raises(RuntimeError, match="killed"):
        archive.archive_raw_responses(database, folder, 1, now=now)
    monkeypatch.undo()
    assert_frame_equal(raw(database, "poll_id like '%-late'"), late, check_column_order=False)

    (again,) = archive.archive_raw_responses(database, folder, 1, now=now)
    merged = pl.read_parquet(day.file)
    expected = pl.concat([first_file, late]).sort("poll_id", "seq")
    assert_frame_equal(merged, expected, check_exact=True)
    assert merged.select("poll_id", "seq").is_duplicated().sum() == 0
    assert (again.day, again.responses, again.merged) == (day.day, late.height, first_file.height)
    assert raw(database, "poll_id like '%-late'").height == 0
    assert scalar(database, f"select responses from raw_archive where day = '{day.day}'") == merged.height


def test_rebuild_after_pruning_gives_exactly_the_tables_before_pruning(
    database: Path, tmp_path: Path
) -> None:
    before = table_contents(database)
    folder = tmp_path / "archive"
    archive.archive_raw_responses(database, folder, 1, now=now_for(database))
    # Small chunks: many chunks, some mixing an archive file's polls with raw_responses' ones.
    counts = rebuild(database, archive_dir=folder, chunk_responses=150, settle_seconds=TEST_SETTLE_SECONDS)
    after = table_contents(database)
    assert counts["sessions"] == len(before["sessions"]) > 10
    assert_same_tables({t: before[t] for t in DERIVED}, {t: after[t] for t in DERIVED})
    rebuild(database, archive_dir=folder, chunk_responses=10**9, settle_seconds=TEST_SETTLE_SECONDS)
    assert_same_tables({t: before[t] for t in DERIVED}, {t: table_contents(database)[t] for t in DERIVED})


def test_rebuild_in_chunks_gives_exactly_the_incrementally_loaded_tables(
    sim: RunningSimulator, settings: Settings
) -> None:
    run_polls(sim, settings, 12)
    incremental = table_contents(settings.database)
    counts = rebuild(settings.database, chunk_responses=40, settle_seconds=settings.settle_seconds)
    assert counts["session_snapshots"] == len(incremental["session_snapshots"])
    assert_same_tables(incremental, table_contents(settings.database))


def test_rebuild_refuses_when_an_archived_day_is_missing(database: Path, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    archived = archive.archive_raw_responses(database, folder, 1, now=now_for(database))
    before = table_contents(database)
    archived[0].file.rename(tmp_path / "moved.parquet")
    with pytest.raises(WarehouseError, match=r"archive file .* is missing: a rebuild without it would lose"):
        rebuild(database, archive_dir=folder)
    assert_same_tables(before, table_contents(database))


@pytest.fixture
def cli_env(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the command line at the database and an archive folder; return the folder."""
    monkeypatch.setenv("STREAMLEDGER_DATABASE", str(database))
    monkeypatch.setenv("STREAMLEDGER_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.delenv("STREAMLEDGER_RAW_RETENTION_DAYS", raising=False)
    # The settle time the warehouse was loaded with, so a rebuild from the command line applies the same rule.
    monkeypatch.setenv("STREAMLEDGER_SETTLE_SECONDS", str(TEST_SETTLE_SECONDS))
    return tmp_path / "archive"


def test_dry_run_lists_the_days_and_changes_nothing(
    database: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = file_sha(database)
    assert main(["archive", "--retention-days", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    days = scalar(
        database,
        "select list(distinct cast(first as date) order by cast(first as date)) from"
        " (select min(fetched_at) as first from raw_responses group by poll_id)"
        " where first < current_date - interval 1 day",
    )
    assert out.startswith(f"would archive {len(days)} day(s), ")
    assert all(str(day) in out for day in days)
    assert file_sha(database) == sha
    assert not cli_env.exists()

    assert main(["archive", "--retention-days", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"archived {len(days)} day(s), ")
    assert sorted(p.stem for p in (cli_env / "raw_responses").glob("*.parquet")) == [str(d) for d in days]
    assert main(["archive"]) == 0  # 90 days: nothing
    assert capsys.readouterr().out.startswith("nothing to archive: ")
    assert main(["rebuild"]) == 0  # finds the archive through STREAMLEDGER_ARCHIVE_DIR
    assert capsys.readouterr().out.startswith("rebuilt from raw_responses: 12 livestreams")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--retention-days", "-1"], None, "--retention-days must be at least 1 day"),
        (["--retention-days", "0"], None, "--retention-days must be at least 1 day"),
        ([], "-3", "STREAMLEDGER_RAW_RETENTION_DAYS must be at least 1 day"),
        ([], "a week", "STREAMLEDGER_RAW_RETENTION_DAYS must be a whole number of days, got 'a week'"),
    ],
)
def test_a_bad_retention_is_a_one_line_error(
    database: Path,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: str | None,
    message: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("STREAMLEDGER_RAW_RETENTION_DAYS", env)
    sha = file_sha(database)
    assert main(["archive", *argv]) == (2 if argv else 1)  # a bad option is a usage error, a bad variable not
    err = capsys.readouterr().err
    assert err.startswith(f"streamledger: error: {message}")
    assert err.count("\n") == 1
    assert file_sha(database) == sha


def test_the_settings_read_retention_and_archive_folder(tmp_path: Path) -> None:
    base = {
        "CLOUDFLARE_API_TOKEN": "t",
        "CLOUDFLARE_ACCOUNT_ID": "acc",
        "STREAMLEDGER_DATABASE": "x/w.duckdb",
    }
    settings = Settings.from_env(base)
    assert (settings.raw_retention_days, settings.archive_dir) == (90, Path("x/archive").absolute())
    settings = Settings.from_env(
        base | {"STREAMLEDGER_RAW_RETENTION_DAYS": "30", "STREAMLEDGER_ARCHIVE_DIR": str(tmp_path)}
    )
    assert (settings.raw_retention_days, settings.archive_dir) == (30, tmp_path)
    with pytest.raises(ConfigError, match="STREAMLEDGER_RAW_RETENTION_DAYS must be at least 1 day"):
        Settings.from_env(base | {"STREAMLEDGER_RAW_RETENTION_DAYS": "-1"})
    with pytest.raises(ConfigError, match="retention must be a whole number of days, 0 or more"):
        archive.archive_raw_responses(tmp_path / "w.duckdb", tmp_path, -1)
