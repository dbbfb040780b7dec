"""Every broken setup is one line naming what is wrong, where, and the setting that fixes it; nothing is half
written, and what was landed is loaded once the setup is fixed.

The disks are real: a small tmpfs mounted for the test (tests.helpers.small_disk), filled to its last byte,
or mounted read-only, so ENOSPC and EROFS are the kernel's own, met wherever Python or DuckDB writes (DuckDB's
WAL, its checkpoint, a landing file, the plan cache). Mounting needs root, which these machines and CI have;
elsewhere these tests skip and say why. (Neither RLIMIT_FSIZE, whose EFBIG DuckDB would meet only as a file
grows, nor a patched os.write, which DuckDB never calls, would reach DuckDB's own writes.) The damaged
databases are real files cut short or overwritten in place. The polls are the flow's own stages
(tests.helpers.run_poll) against the simulator over real HTTP; the command lines are streamledger.cli.main.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from simulator import RunningSimulator
from streamledger import fetch, landing, load, plan, warehouse
from streamledger.cli import main
from streamledger.errors import DatabaseUnusable, StorageError
from streamledger.settings import Settings
from tests.helpers import (
    assert_checks_pass,
    fill_disk,
    poll_or_landed,
    resize_disk,
    run_poll,
    small_disk,
)

SETTING = "STREAMLEDGER_DATABASE"


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must fail; return the one line it printed on stderr (no traceback)."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err.removeprefix("streamledger: error: ").rstrip("\n")


def polled(settings: Settings, sim: RunningSimulator) -> Settings:
    """Settings after one poll that loaded: the database exists, with history in it."""
    run_poll(settings)
    sim.advance(7)
    return settings


def damage(path: Path, offset: int, size: int = 512) -> None:
    """Overwrite `size` bytes at `offset` with random bytes (DuckDB's block checksum, a xor of 8-byte words,
    does not see a run of one repeated byte pattern that covers an even number of words)."""
    with path.open("r+b") as out:
        out.seek(offset)
        out.write(os.urandom(size))


@pytest.fixture
def history(settings: Settings, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings after one poll that loaded, and the command line's environment pointed at its database."""
    monkeypatch.setenv("STREAMLEDGER_DATABASE", str(settings.database))
    monkeypatch.setenv("STREAMLEDGER_STALE_AFTER_SECONDS", "1e9")  # the simulator's clock is not ours
    return polled(settings, sim)


def block_offset(database: Path, table: str, column: str) -> int:
    """Where in the file the first data block of one table's column starts (from DuckDB's storage info)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        ((block,),) = con.execute(
            "select min(block_id) from pragma_storage_info(?) where persistent and column_name = ? "
            "and block_id >= 0",
            [table, column],
        ).fetchall()
        ((block_size,),) = con.execute("select block_size from pragma_database_size()").fetchall()
    finally:
        con.close()
    return 3 * 4096 + int(block) * int(block_size)  # after the file's three 4 KiB headers


# --- the landing folder ----------------------------------------------------------------------------------


def test_landing_on_a_full_disk_is_one_line_and_leaves_no_half_written_file(
    settings: Settings, sim: RunningSimulator, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        filler = fill_disk(disk)
        broken = settings.with_overrides(landing_dir=disk / "landing")
        sim.advance(7)
        with pytest.raises(StorageError) as raised:
            run_poll(broken)
        message = str(raised.value)
        assert re.fullmatch(
            rf"poll \S+ could not be landed in {re.escape(str(disk / 'landing'))}: the disk is full "
            r"\(0 bytes free\): free space on it, or set STREAMLEDGER_LANDING_DIR to a folder on a larger "
            "disk",
            message,
        ), message
        assert sorted(p.name for p in disk.rglob("*")) == ["filler", "landing"]  # no .tmp- left behind
        filler.unlink()
        run_poll(broken)  # space freed: the next poll lands and loads
        assert landing.pending(broken.landing_dir) == []


def test_landing_folder_that_is_a_file_is_one_line(
    settings: Settings, sim: RunningSimulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "landing"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as raised:
        run_poll(settings.with_overrides(landing_dir=blocker / "polls"))
    assert str(raised.value).endswith(
        f"could not be landed in {blocker / 'polls'}: {blocker} is a file, not a folder: move that file "
        "away, or set STREAMLEDGER_LANDING_DIR to a folder elsewhere"
    )
    assert blocker.read_text() == "not a folder"


def test_landing_folder_on_a_read_only_disk_is_one_line(
    settings: Settings, sim: RunningSimulator, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "1m", read_only=True) as disk, pytest.raises(StorageError) as raised:
        run_poll(settings.with_overrides(landing_dir=disk))
    assert str(raised.value).endswith(
        f"could not be landed in {disk}: it is on a read-only disk: set STREAMLEDGER_LANDING_DIR to a folder "
        "on a writable disk"
    )


# --- the database's place --------------------------------------------------------------------------------


@contextmanager
def misplaced(case: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A database path that cannot work, and the one line a poll must say about it."""
    if case == "folder is a file":
        blocker = tmp_path / "data"
        blocker.write_text("")
        why = f"{blocker} is a file, not a folder: move that file away, or set {SETTING} to a file elsewhere"
        yield blocker / "history.duckdb", why
        return
    with small_disk(tmp_path / "disk", "256k", read_only=case == "read-only disk") as disk:
        if case == "read-only disk":
            yield (
                disk / "history.duckdb",
                f"it is on a read-only disk: set {SETTING} to a file on a writable disk",
            )
        else:
            fill_disk(disk)
            full = "the disk is full (0 bytes free): free space on it"
            yield disk / "history.duckdb", f"{full}, or set {SETTING} to a file on a larger disk"


@pytest.mark.parametrize("case", ["folder is a file", "read-only disk", "full disk"])
def test_a_database_path_that_cannot_work_is_one_line(case: str, settings: Settings, tmp_path: Path) -> None:
    with misplaced(case, tmp_path) as (database, why), pytest.raises(DatabaseUnusable) as raised:
        run_poll(settings.with_overrides(database=database))
    assert str(raised.value) == f"database {database}: {why}"


def poll_ids(database: Path) -> list[tuple[str, bool]]:
    """Every poll of poll_runs, in order, and whether it was recovered from its landing file."""
    con = warehouse.connect(database, read_only=True)
    try:
        return con.execute("select poll_id, recovered from poll_runs order by poll_id").fetchall()
    finally:
        con.close()


@contextmanager
def moved_to_small_disk(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The settings with their database copied onto a small disk of its own (64 MB, to fill or shrink)."""
    with small_disk(tmp_path / "disk", "64m") as disk:
        shutil.copy(settings.database, disk / settings.database.name)
        yield settings.with_overrides(database=disk / settings.database.name)


def test_a_full_database_disk_keeps_what_was_landed_and_the_poll_after_the_space_is_freed_loads_it(
    settings: Settings, sim: RunningSimulator, tmp_path: Path
) -> None:
    with moved_to_small_disk(polled(settings, sim), tmp_path) as full:
        disk, database = full.database.parent, full.database
        filler = fill_disk(disk)
        landed = []
        for _ in range(2):
            with pytest.raises(DatabaseUnusable, match=r"the disk is full \(0 bytes free\)"):
                run_poll(full)
            landed = [path.name for path in landing.pending(full.landing_dir)]
            sim.advance(7)
        assert len(landed) == 2  # each poll stayed landed; the second's recovery did not quarantine the first
        assert not (full.landing_dir / landing.QUARANTINE).exists()
        recovery = load.load_landed(full)  # still full: the files wait, with the reason
        assert (recovery.runs, recovery.quarantined) == ([], [])
        assert "2 landed poll(s) wait for the next run: database" in str(recovery.waiting)
        assert "the disk is full" in str(recovery.waiting)

        filler.unlink()
        run = run_poll(full)
        assert run.outcome == "ok"
        assert landing.pending(full.landing_dir) == []
        assert_checks_pass(database)
        rows = poll_ids(database)
    assert [poll_id for poll_id, recovered in rows if recovered] == [
        name.removesuffix(".jsonl") for name in landed
    ]
    assert len(rows) == 4


def test_a_disk_that_fills_during_the_checkpoint_loses_no_committed_poll(
    settings: Settings, sim: RunningSimulator, tmp_path: Path
) -> None:
    with moved_to_small_disk(polled(settings, sim), tmp_path) as full:
        disk, database = full.database.parent, full.database
        # Room for the WAL of a poll but not for the blocks its checkpoint writes at close: each margin
        # fails somewhere else (WAL, checkpoint, plan cache); none may lose a poll or half-load one.
        outcomes: list[str] = []
        for margin in ("40k", "300k", "700k", "1500k"):
            used = sum(path.stat().st_size for path in disk.iterdir())
            resize_disk(disk, f"{used // 1024 + int(margin[:-1])}k")
            try:
                outcomes.append("loaded" if poll_or_landed(full, check=False) else "landed")
            except DatabaseUnusable as exc:
                outcomes.append("full" if "the disk is full" in str(exc) else str(exc))
            sim.advance(7)
        resize_disk(disk, "256m")
        run_poll(full)
        assert landing.pending(full.landing_dir) == []
        assert_checks_pass(database)
        polls = len(poll_ids(database))
    assert polls == 1 + len(outcomes) + 1  # every poll made it, loaded at once or recovered
    assert "full" in outcomes, outcomes  # at least one margin did run out of room, and said so
    assert set(outcomes) <= {"full", "loaded"}, outcomes


# --- damaged files ---------------------------------------------------------------------------------------


def test_a_truncated_database_is_one_line_for_the_poll_and_for_status(
    history: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = history
    database = settings.database
    os.truncate(database, database.stat().st_size // 2)
    with pytest.raises(DatabaseUnusable) as raised:
        run_poll(settings)
    truncated = re.compile(
        rf"database {re.escape(str(database))} is damaged \(IO Error: Could not read enough bytes from file "
        r".*\): restore it from a backup, or move it aside and let the next poll start a new one \(or set "
        r"STREAMLEDGER_DATABASE to another file\)"
    )
    assert truncated.fullmatch(str(raised.value)), raised.value
    assert landing.pending(settings.landing_dir) == []  # the plan failed: nothing was fetched
    line = one_line(capsys, ["status", "--check"])
    assert truncated.fullmatch(line), line


def test_a_database_whose_header_is_overwritten_is_one_line(
    settings: Settings, sim: RunningSimulator
) -> None:
    polled(settings, sim)
    damage(settings.database, 0, 8192)
    with pytest.raises(
        DatabaseUnusable, match=r"is damaged \(.*not a valid DuckDB database file.*\): restore"
    ):
        run_poll(settings)


def test_a_damaged_block_that_status_does_not_read_is_found_by_status_check(
    history: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = history
    run_poll(settings)
    database = settings.database
    damage(database, block_offset(database, "raw_responses", "body") + 1000)
    assert main(["status"]) == 0  # the status query never reads raw bodies: it cannot tell
    capsys.readouterr()
    assert main(["status", "--check"]) == 1
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("check read_whole")]
    assert re.fullmatch(
        rf"check read_whole +FAILED: database {re.escape(str(database))} is damaged \(Corrupt database file: "
        r"computed checksum \d+ does not match stored checksum \d+ in block at location \d+\): restore it .*",
        line,
    ), line
    assert "check poll_requests_recorded" not in out  # invariants of an untrusted file are not asked


def test_a_database_of_a_newer_streamledger_is_refused_unchanged_and_status_check_fails(
    history: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = history
    database = settings.database
    newest = max(version for version, _, _ in warehouse._migration_files())
    con = duckdb.connect(str(database))
    con.execute(
        "insert into schema_migrations (version, name, checksum) values (?, ?, 'x')",
        [newest + 1, f"{newest + 1:03d}_from_the_future.sql"],
    )
    con.close()
    before = database.read_bytes()
    with pytest.raises(DatabaseUnusable) as raised:
        run_poll(settings)
    ours = warehouse._migration_files()[-1][1]
    assert str(raised.value) == (
        f"database {database} was written by a newer streamledger: it records migration "
        f"{newest + 1:03d}_from_the_future.sql, and this version's migrations end at {ours}: upgrade "
        "streamledger, or set STREAMLEDGER_DATABASE to another file (nothing was changed in it)"
    )
    assert database.read_bytes() == before
    assert main(["status", "--check"]) == 1
    assert f"check schema_known                     FAILED: {raised.value}" in capsys.readouterr().out


def test_landed_polls_wait_for_a_damaged_database_instead_of_being_quarantined(
    settings: Settings, sim: RunningSimulator
) -> None:
    polled(settings, sim)
    fetched = fetch.fetch_poll(settings, plan.read_plan(settings))
    landed = landing.land(settings.landing_dir, fetched)  # not loaded, as a crash before the load leaves it
    database = settings.database
    backup = database.read_bytes()
    os.truncate(database, database.stat().st_size // 2)
    recovery = load.load_landed(settings)
    assert (recovery.runs, recovery.quarantined) == ([], [])
    assert "is damaged" in str(recovery.waiting)
    assert landing.pending(settings.landing_dir) == [landed]
    database.write_bytes(backup)  # restored from a backup
    recovery = load.load_landed(settings)
    assert [run.poll_id for run in recovery.runs] == [fetched.poll_id]
    assert_checks_pass(database)
