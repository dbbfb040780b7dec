"""Every SQL file runs unchanged in the duckdb CLI, given its variables and the relations Python registers.

A warehouse is polled from the simulator; each file then runs in its own CLI process (`duckdb -f FILE`)
on a copy of it: a file of queries and `set`s on one shared copy opened read-only, a file that writes on a
fresh copy of its own, a migration on a new database that has the migrations before it. What a file
needs is given to the CLI first, with -cmd, never by editing the file: `set variable` for every
getvariable(...) it reads (values taken from the data by the CLI itself), the frames Python registers
(staged_*) as tables read from Parquet files of a real poll's frames, and the temporary tables another
file creates for it in the same transaction (archive_day_polls, rebuild_polls), by running that file.
Files are found by glob: a new file that cannot run fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from simulator import running_simulator
from streamledger import archive, fetch, load, plan, warehouse
from streamledger.transforms.normalize import normalize_responses
from streamledger.transforms.shapes import parse_instant
from tests.helpers import finish, run_poll, settings_for, simulator_config

ROOT = Path(__file__).parents[2]
SQL_FOLDERS = (ROOT / "sql", ROOT / "simulator" / "sql")  # the simulator's own queries too
DUCKDB_CLI = Path(sys.executable).parent / "duckdb"
# How Python opens the file read-write (ATTACH with a row group size): the CLI opens it by its command line,
# and its parser (1.5) takes no expression as ATTACH's path. Every open of every test runs it instead.
OPENING = ROOT / "sql" / "warehouse" / "attach.sql"
FILES = sorted(path for folder in SQL_FOLDERS for path in folder.rglob("*.sql") if path != OPENING)

# The value of every session variable a file may read, as an expression the CLI evaluates in the copy:
# taken from the data where the data has one. Files are run with the CLI's working directory in the
# folder that holds archive.parquet (a real archive file of the warehouse's raw responses).
VARIABLES = {
    "poll_id": "(select max(poll_id) from poll_runs where kind = 'snapshot')",
    "first": "(select min(poll_id) from poll_runs)",
    "last": "(select max(poll_id) from poll_runs)",
    "first_poll_id": "(select min(poll_id) from poll_runs)",
    "last_poll_id": "(select max(poll_id) from poll_runs)",
    "day": "(select cast(min(fetched_at) as date) from raw_responses)",
    "cutoff": "now() + interval 2 day",
    "window_seconds": "300",
    "budget": "(select max(budget) from poll_runs)",
    "settle_seconds": "120",
    "active_hours": "6",
    "tz": "'Europe/Paris'",
    "from_date": "(select cast(min(started_time) as date) from sessions)",
    "to_date": "(select cast(max(coalesce(stopped_time, started_time)) as date) from sessions)",
    "max_gap_seconds": "150",
    "as_of": "(select max(finished_at) from poll_runs)",
    "price_per_ingest_minute": "0.010",
    "file": "'archive.parquet'",
    "files": "['archive.parquet']",
    "path": "'written.parquet'",
    "table_name": "'poll_runs'",
    "polls": "(select count(*)::integer from poll_runs)",
    "responses": "(select count(*) from raw_responses)",
    "bytes": "(select sum(length(body)) from raw_responses)",
    "sha256": "sha256('archive.parquet')",
    "archived_at": "now()",
    "definitions_checksum": "(select checksum from schema_definitions)",
    "migration_version": "(select max(version) + 1 from schema_migrations)",
    "migration_name": "'999_from_the_cli_test.sql'",
    "migration_checksum": "sha256('')",
    "temp_directory": "'reader-temp'",
    "memory_limit": "'512MB'",
    "temp_limit": "'256MB'",
    # Null: every stale session, as in a rebuild. Typed: an untyped null is an INTEGER to the CLI's binder.
    "usage_stale_ids": "null::varchar[]",
    "usage_month": "date_trunc('month', now())",
}
_READS = re.compile(r"getvariable\('([a-z_][a-z0-9_]*)'\)")
_SETS = re.compile(r"\bset variable ([a-z_][a-z0-9_]*)", re.IGNORECASE)
_TEMP_TABLE = re.compile(r"create or replace temp table ([a-z_]+)", re.IGNORECASE)
_REGISTERED = re.compile(r"register\(con, \"([a-z_]+)\"")
READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.SET}


@dataclass(frozen=True)
class Warehouse:
    """A polled warehouse, and a folder with what the files read besides it."""

    database: Path
    folder: Path  # archive.parquet and staged/<name>.parquet for every frame Python registers
    staged_poll_id: str  # the poll whose frames are staged (fetched, not loaded)
    staged_requests: int


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Eight polls and a reconcile (daywise and overall) loaded, then one more poll of each kind fetched and
    kept as Parquet."""
    root = tmp_path_factory.mktemp("cli")
    folder = root / "files"
    (folder / "staged").mkdir(parents=True)
    with running_simulator(simulator_config()) as sim:
        settings = settings_for(sim, root)
        for _ in range(8):
            sim.advance(30)
            run_poll(settings)
        until = parse_instant(sim.now_iso())
        assert finish(settings, fetch.fetch_analytics(settings, 3, 2, until=until)) is not None
        sim.advance(30)
        # Not loaded: its frames are what the load files read (with app discovery, so staged_apps has rows).
        discovering = settings.with_overrides(app_ids=())
        snapshot = fetch.fetch_poll(discovering, plan.read_plan(discovering))
        analytics = fetch.fetch_analytics(settings, 3, 2, until=until)
    frames = normalize_responses(snapshot.responses)
    staged = {
        "staged_responses": frames.responses,
        "staged_livestreams": frames.livestreams,
        "staged_sessions": frames.sessions,
        "staged_issues": frames.issues,
        "staged_apps": frames.apps,
        "staged_daywise": normalize_responses(analytics.responses).daywise,
        "staged_overall": normalize_responses(analytics.responses).overall,
        "staged_poll_run": load.ledger_row(snapshot, frames, 0.0, 0.0, False).frame(),
        "staged_poll_counts": frames.counts(),
        "staged_listing_rounds": snapshot.rounds_frame(),
    }
    registered = {
        name
        for path in (ROOT / "streamledger").glob("*.py")
        for name in _REGISTERED.findall(path.read_text())
    }
    assert set(staged) == registered, "a frame Python registers needs its Parquet file here"
    for name, frame in staged.items():
        assert frame.height > 0 or name == "staged_issues", name  # a healthy simulator sends no bad value
        frame.write_parquet(folder / "staged" / f"{name}.parquet")
    # A real archive file of the warehouse's raw responses, made by archiving a copy of it.
    archived = root / "archived.duckdb"
    shutil.copyfile(settings.database, archived)
    days = archive.archive_raw_responses(archived, root / "archive", 0, now=datetime.now(UTC) + timedelta(1))
    shutil.copyfile(days[0].file, folder / "archive.parquet")
    assert not settings.database.with_name(settings.database.name + ".wal").exists()
    return Warehouse(settings.database, folder, snapshot.poll_id, snapshot.requests)


@pytest.fixture(scope="module")
def shared_copy(polled: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for every file that only reads: the CLI is another DuckDB version, never on the original."""
    copy = tmp_path_factory.mktemp("cli-read") / "copy.duckdb"
    shutil.copyfile(polled.database, copy)
    return copy


def text_of(path: Path) -> str:
    return path.read_text()


def name_of(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def creators() -> dict[str, Path]:
    """The temporary tables some files create for the files after them, and the first file that creates each
    (a load file before the warehouse file that creates the same table another way)."""
    found: dict[str, Path] = {}
    for path in FILES:
        for table in _TEMP_TABLE.findall(text_of(path)):
            found.setdefault(table, path)
    return found


def needed_files(path: Path) -> list[Path]:
    """The files that must run before this one in its session: those creating the temp tables it reads."""
    text = text_of(path)
    own = set(_TEMP_TABLE.findall(text))
    return [
        creator
        for table, creator in sorted(creators().items())
        if creator != path and table not in own and re.search(rf"\b{table}\b", text)
    ]


def variables(paths: list[Path]) -> list[str]:
    """The `set variable` commands for what these files read and do not set themselves."""
    commands = []
    for path in paths:
        text = text_of(path)
        for name in sorted(set(_READS.findall(text)) - set(_SETS.findall(text))):
            assert name in VARIABLES, f"{name_of(path)} reads variable {name!r}: give it a value in VARIABLES"
            commands.append(f"set variable {name} = {VARIABLES[name]}")
    return list(dict.fromkeys(commands))


def only_reads(path: Path) -> bool:
    """True when every statement of the file is a query or a setting (parsed, not run)."""
    return all(s.type in READ_ONLY for s in duckdb.connect().extract_statements(text_of(path)))


def run_cli(database: Path, path: Path, before: list[str], *, cwd: Path, read_only: bool) -> str:
    """Run the file with the CLI after the commands; assert it succeeded silently; return its CSV output."""
    assert DUCKDB_CLI.exists(), f"the duckdb CLI is installed with the project, expected at {DUCKDB_CLI}"
    command = [str(DUCKDB_CLI), "-no-init", "-batch", "-bail", "-csv"]
    command += ["-readonly"] if read_only else []
    command += [str(database)]
    for line in before:
        command += ["-cmd", line]
    done = subprocess.run(
        [*command, "-f", str(path)], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, ""), (name_of(path), before, done.stderr)
    return done.stdout


@pytest.mark.parametrize("path", FILES, ids=name_of)
def test_the_file_runs_unchanged_in_the_duckdb_cli(
    path: Path, polled: Warehouse, shared_copy: Path, tmp_path: Path
) -> None:
    before: list[str] = []
    needed = needed_files(path)
    before += variables([*needed, path])
    before += [
        f"create temp table {name} as select * from read_parquet('staged/{name}.parquet')"
        for name in sorted(
            set(re.findall(r"\b(staged_[a-z_]+)\b", " ".join(text_of(p) for p in [*needed, path])))
        )
    ]
    before += [f".read {needed_path}" for needed_path in needed]
    if path.parent.name == "migrations":
        # A migration runs on the database before it: new, with the bookkeeping and earlier migrations.
        database = tmp_path / "new.duckdb"
        earlier = sorted(p for p in path.parent.glob("[0-9][0-9][0-9]_*.sql") if p.name < path.name)
        setup = [ROOT / "sql" / "warehouse" / "bookkeeping.sql", *earlier]
        before = [*before, *(f".read {p}" for p in setup)]
        read_only = False
    elif only_reads(path):
        database, read_only = shared_copy, True
    else:
        database, read_only = tmp_path / "copy.duckdb", False
        shutil.copyfile(polled.database, database)
    out = run_cli(database, path, before, cwd=polled.folder, read_only=read_only)
    if path.parent.name == "checks":
        assert out.count("\n") == 1, f"{name_of(path)} found violations in a clean warehouse:\n{out}"


def test_a_poll_loaded_by_the_cli_from_the_load_files_in_order_keeps_every_check(
    polled: Warehouse, tmp_path: Path
) -> None:
    database = tmp_path / "copy.duckdb"
    shutil.copyfile(polled.database, database)
    names = sorted(path.stem for path in (polled.folder / "staged").glob("*.parquet"))
    before = [
        f"create temp table {name} as select * from read_parquet('staged/{name}.parquet')" for name in names
    ]
    before.append("set variable poll_id = (select poll_id from staged_poll_run)")
    before.append("set variable settle_seconds = 120")
    before += [f".read {ROOT / 'sql' / name}" for name in load.LOAD_FILES]
    *loads, last = load.LEDGER_FILES
    before += [f".read {ROOT / 'sql' / name}" for name in loads]
    run_cli(database, ROOT / "sql" / last, before, cwd=polled.folder, read_only=False)
    con = warehouse.connect(database, read_only=True)
    try:
        assert warehouse.run_checks(con) == []
        raw = con.execute(
            "select count(*) from raw_responses where poll_id = $p", {"p": polled.staged_poll_id}
        )
        assert raw.fetchall() == [(polled.staged_requests,)]
    finally:
        con.close()
