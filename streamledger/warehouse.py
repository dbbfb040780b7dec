"""The DuckDB warehouse: connections, migrations and definitions, and running the files of sql/.

Every statement is a file under sql/. Parameters are DuckDB session variables, set by bind_variables and
read in the files with getvariable('name'), so that every file runs unchanged in the duckdb CLI after
`set variable name = value`. The only SQL text in Python is transaction control (begin, commit, rollback)
and the binder's `set variable`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from streamledger.errors import DatabaseBusy, DatabaseUnusable, WarehouseError
from streamledger.files import process_alive, storage_problem
from streamledger.settings import QueryLimits
from streamledger.timing import Laps

SQL_DIR = Path(__file__).parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
DEFINITIONS_DIR = SQL_DIR / "definitions"
CHECKS_DIR = SQL_DIR / "checks"
CHECK_ROWS_KEPT = 5  # the violating rows a failed check keeps, to show
LOCK_WAIT_SECONDS = 30.0
_VARIABLE = re.compile(r"[a-z_][a-z0-9_]*")
_READS = re.compile(r"getvariable\('([a-z_][a-z0-9_]*)'\)")
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)
SETTING = "STREAMLEDGER_DATABASE"
# New files are written in a storage format the duckdb CLI on PyPI (1.5) can open, so that analysts can
# use it; DuckDB 2 reads it natively.
STORAGE_COMPATIBILITY = "v1.5.0"
# What DuckDB's messages say when the disk, not the database, is the problem: the errno it stands for.
_OS_ERRORS = {
    "no space left on device": errno.ENOSPC,
    "disk quota exceeded": errno.EDQUOT,
    "file too large": errno.EFBIG,
    "read-only file system": errno.EROFS,
    "permission denied": errno.EACCES,
    "not a directory": errno.ENOTDIR,
}
# What DuckDB's messages say when the file itself is damaged: a block whose checksum fails, a file cut short,
# a header that is not DuckDB's, metadata that ends early.
_DAMAGE = (
    "corrupt database file",
    "could not read enough bytes",
    "not a valid duckdb database file",
    "no more data remaining in metadatareader",
    "failed to read database header",
)
_NEWER_STORAGE = re.compile(r"version number|newer version of duckdb|storage version", re.IGNORECASE)


def sql_text(name: str) -> str:
    """Return the text of a statement file under sql/, e.g. 'queries/open_sessions.sql'."""
    return (SQL_DIR / name).read_text()


def statements(text: str) -> list[str]:
    """Split a SQL file into its statements (files keep `;` at line ends, never inside strings)."""
    parts = (part.strip() for part in _STATEMENT_END.split(text))
    return [
        part
        for part in parts
        if part and not all(line.lstrip().startswith("--") for line in part.splitlines())
    ]


@functools.cache
def _prepared(name: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The statements of a SQL file under sql/ and the session variables it reads (read once per process)."""
    text = sql_text(name)
    return tuple(statements(text)), frozenset(_READS.findall(text))


def bind_variables(con: duckdb.DuckDBPyConnection, values: Mapping[str, object]) -> None:
    """Set each value as the DuckDB session variable of its name; None unsets it (getvariable gives null).

    The value is bound, never SQL text. A variable's name is an identifier, and identifiers cannot be bound:
    the name is the one piece of text formatted into a statement here, so it must match
    `^[a-z_][a-z0-9_]*$` (names are ours, never a user's), or ValueError is raised before anything runs.
    """
    for name in values:
        if not _VARIABLE.fullmatch(name):
            raise ValueError(f"session variable name {name!r}: expected lowercase letters, digits and _")
    for name, value in values.items():
        con.execute(f"set variable {name} = $value", {"value": value})


def run_file(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Run every statement of a SQL file, after setting the parameters it reads as session variables."""
    file_statements, reads = _prepared(name)
    bind_variables(con, {key: value for key, value in (params or {}).items() if key in reads})
    for statement in file_statements:
        con.execute(statement)


def query(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Return the result of a one-statement query file as a polars frame (parameters as in run_file)."""
    (statement,), reads = _prepared(name)
    bind_variables(con, {key: value for key, value in (params or {}).items() if key in reads})
    # Through the Arrow C stream, not .pl(): that imports pyarrow, 70 MB of resident memory in every poll.
    return pl.DataFrame(con.sql(statement))


class ArrowStream:
    """A polars frame as DuckDB scans it without pyarrow: only its Arrow C stream is exposed."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._frame.__arrow_c_stream__(requested_schema)


def register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Make a polars frame readable as `name` in SQL on this connection (no copy, no pyarrow)."""
    con.register(name, ArrowStream(frame))


def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the database (waiting, bounded, while another process holds it) with the session in UTC.

    While another process holds the file, `on_wait` is told once, in one line, who holds it and how long
    this one waits; past the wait a DatabaseBusy error names the file and the holder.
    """
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnusable(_os_problem(path, exc)) from None
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    told = False
    while True:
        try:
            con = open_file(path, read_only=read_only)
            break
        except duckdb.Error as exc:
            if not isinstance(exc, duckdb.IOException) or "lock" not in str(exc).lower():
                raise unusable(path, exc) or WarehouseError(
                    f"database {path}: cannot open it: {_one_line(exc)}"
                ) from None
            holder = _lock_holder(str(exc))
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"database {path}: still {holder or 'held by another process'} after waiting "
                    f"{wait_seconds:g} s; try again when it is free"
                ) from None
            if on_wait is not None and not told:
                on_wait(
                    f"database {path} is {holder or 'held by another process'}; waiting up to "
                    f"{wait_seconds:g} s for it"
                )
                told = True
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
    run_file(con, "warehouse/session.sql")
    return con


def open_file(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database file once, no waiting: read-only as it is, read-write by warehouse/attach.sql."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    if not path.exists():
        duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}).close()
    con = duckdb.connect(":memory:")
    try:
        run_file(con, "warehouse/attach.sql", {"warehouse_path": str(path)})
    except BaseException:
        con.close()
        raise
    return con


class QueryLimitReached(WarehouseError):
    """A bounded reading reached one of its limits and was stopped; the message names the setting."""


# A bounded reading's temporary folder: <system temp>/streamledger-query-<pid>-<random>.
QUERY_TEMP_PREFIX = "streamledger-query-"
# Once its time is up, a reading's connection is interrupted this often: an interrupt between two
# statements is lost, the next statement would run unbounded.
INTERRUPT_EVERY_SECONDS = 0.05


@contextmanager
def bounded_reader(
    path: Path,
    limits: QueryLimits,
    *,
    subject: str,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database read-only for one reading bounded by `limits`, then close it.

    Past limits.timeout_seconds its running statement is interrupted (the file is held that long at most);
    DuckDB's memory and temporary files are capped. A limit reached is a QueryLimitReached naming `subject`
    and the setting. The temporary files go to a folder of this reading's own, removed when it ends; folders
    left by readers that were killed are removed first.
    """
    remove_orphaned_temp_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{QUERY_TEMP_PREFIX}{os.getpid()}-"))
    try:
        con = connect(path, read_only=True, wait_seconds=wait_seconds, on_wait=on_wait)
        stop = threading.Event()
        watchdog = threading.Thread(
            target=_interrupt_after, args=(con, limits.timeout_seconds, stop), name="query-timeout"
        )
        try:
            values = {"temp_directory": str(folder), "memory_limit": limits.memory_limit}
            run_file(con, "warehouse/reader_limits.sql", values | {"temp_limit": limits.temp_limit})
            watchdog.start()
            yield con
        except (duckdb.InterruptException, duckdb.OutOfMemoryException) as exc:
            raise QueryLimitReached(f"{subject}: stopped: {_limit_reached(exc, limits)}") from None
        finally:
            stop.set()
            if watchdog.is_alive():
                watchdog.join()
            con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _limit_reached(exc: duckdb.Error, limits: QueryLimits) -> str:
    """What a bounded reading reached, and the setting of that limit."""
    if isinstance(exc, duckdb.InterruptException):
        what = f"it ran for {limits.timeout_seconds:g} s (STREAMLEDGER_QUERY_TIMEOUT_SECONDS)"
    elif "max_temp_directory_size" in str(exc):
        what = f"its temporary files reached {limits.temp_limit} (STREAMLEDGER_QUERY_TEMP_LIMIT)"
    else:
        what = f"it needed more than {limits.memory_limit} of memory (STREAMLEDGER_QUERY_MEMORY_LIMIT)"
    return f"{what}; narrow the query, or raise that setting"


def _interrupt_after(con: duckdb.DuckDBPyConnection, seconds: float, stop: threading.Event) -> None:
    """Interrupt the connection's statements from `seconds` on, until the reading stops."""
    if stop.wait(seconds):
        return
    while not stop.is_set():
        with contextlib.suppress(duckdb.Error):
            con.interrupt()
        stop.wait(INTERRUPT_EVERY_SECONDS)


def remove_orphaned_temp_folders() -> list[Path]:
    """Remove the temporary folders of bounded readings whose process is gone (killed); return them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{QUERY_TEMP_PREFIX}*-*"):
        pid = folder.name.removeprefix(QUERY_TEMP_PREFIX).partition("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def opened(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    laps: Laps | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for a short piece of work and close it (the file lock is held only that long).

    A DuckDB error inside that says the database cannot be used (damaged, a full or read-only disk) becomes
    one DatabaseUnusable line naming the file and the fix; other errors pass through as they are. Closing
    may checkpoint, which writes: a close that fails is reported the same way. `laps`, if given, times the
    open, the migrations check and the close.
    """
    laps = laps or Laps()
    con = connect(path, read_only=read_only, wait_seconds=wait_seconds)
    laps.lap("open")
    try:
        if not read_only:
            migrate(con, path)
            laps.lap("migrations check")
        yield con
    except duckdb.Error as exc:
        problem = unusable(path, exc)
        if problem is None:
            raise
        raise problem from None
    finally:
        try:
            con.close()
            laps.lap("close")
        except duckdb.Error as exc:
            if sys.exc_info()[1] is None:  # not while another error is on its way out: that one says more
                raise unusable(path, exc) or WarehouseError(
                    f"database {path}: closing it failed: {_one_line(exc)}"
                ) from None


def unusable(path: Path | str, exc: BaseException) -> DatabaseUnusable | None:
    """Return the one-line error for a DuckDB or OS error that says the database cannot be used at all: its
    disk is full or read-only, or the file is damaged or from a newer DuckDB. None for any other error."""
    if isinstance(exc, OSError):
        return DatabaseUnusable(_os_problem(Path(path), exc))
    text = _one_line(exc)
    lower = text.lower()
    for marker, code in _OS_ERRORS.items():
        if marker in lower:
            return DatabaseUnusable(_os_problem(Path(path), OSError(code, text)))
    if any(marker in lower for marker in _DAMAGE):
        return _damaged(path, f"is damaged ({text})")
    if _NEWER_STORAGE.search(text) and isinstance(exc, duckdb.IOException | duckdb.SerializationException):
        return DatabaseUnusable(
            f"database {path} was written by a newer DuckDB than this streamledger's ({text}): upgrade "
            f"streamledger, or set {SETTING} to another file"
        )
    return None


def _damaged(path: Path | str, what: str) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"database {path} {what}: restore it from a backup, or move it aside and let the next poll start "
        f"a new one (or set {SETTING} to another file)"
    )


def _os_problem(path: Path, exc: OSError) -> str:
    return storage_problem(f"database {path}", path.parent, SETTING, exc, noun="a file")


def migrate(con: duckdb.DuckDBPyConnection, path: Path | str = "database") -> list[str]:
    """Bring the database to this version's schema; return the names of the migrations applied.

    The numbered migrations not yet recorded are applied, each in its own transaction, then the definitions
    (views, macros, comments) in one transaction when they differ from those recorded. When nothing is to
    be done, as on every open but the first, this costs one query. A database that records a migration this
    version does not have, or another text of one it has (a pre-release schema), is refused in one line.
    """
    migrations, definitions = _applied(con)
    problem = _schema_problem(path, migrations)
    if problem is not None:
        raise problem
    done: list[str] = []
    for version, name, checksum in _migration_files():
        if version in migrations:
            continue
        record = {"migration_version": version, "migration_name": name, "migration_checksum": checksum}
        _in_one_transaction(
            con, path, f"migration {name}", functools.partial(_migrate_one, con, name, record)
        )
        done.append(name)
    _apply_definitions(con, path, definitions)
    if done:
        _compute_stale_usage(con, path)
    return done


def _compute_stale_usage(con: duckdb.DuckDBPyConnection, path: Path | str) -> None:
    """Compute the usage of the sessions a migration marked stale, once the definitions it needs are in: a
    month of starts at a time, in one transaction."""
    months = query(con, "warehouse/usage_stale_months.sql")["usage_month"].to_list()
    if not months:
        return

    def compute_by_month() -> None:
        run_file(con, "warehouse/usage_waiting.sql")
        for month in months:
            run_file(con, "warehouse/usage_month.sql", {"usage_month": month})
            run_file(con, "load/12_session_usage.sql")

    _in_one_transaction(con, path, "computing session_usage after the migrations", compute_by_month)


def _migrate_one(con: duckdb.DuckDBPyConnection, name: str, record: Mapping[str, Any]) -> None:
    """Apply one migration file and record it."""
    run_file(con, f"migrations/{name}")
    run_file(con, "warehouse/record_migration.sql", record)


def _in_one_transaction(
    con: duckdb.DuckDBPyConnection, path: Path | str, what: str, work: Callable[[], None]
) -> None:
    """Do the work in one transaction; a failure rolls back and is one line naming `what` failed."""
    con.execute("begin transaction")
    try:
        work()
        con.execute("commit")
    except duckdb.Error as exc:
        rollback_quietly(con)
        raise unusable(path, exc) or WarehouseError(
            f"database {path}: {what} failed: {_one_line(exc)}"
        ) from None


def apply_definitions(con: duckdb.DuckDBPyConnection, path: Path | str = "database") -> bool:
    """Apply every file of sql/definitions/ in one transaction, unless the database has them already.

    Whether it has them is the checksum recorded in schema_definitions; return True if they were applied.
    """
    return _apply_definitions(con, path, _applied(con)[1])


def _applied(con: duckdb.DuckDBPyConnection) -> tuple[dict[int, tuple[str, str]], str | None]:
    """The migrations the database records ({version: (name, sha256)}) and its definitions' sha256."""
    (statement,), _ = _prepared("warehouse/applied.sql")
    try:
        rows = con.execute(statement).fetchall()
    except duckdb.CatalogException:  # a new database: no bookkeeping tables yet
        run_file(con, "warehouse/bookkeeping.sql")
        rows = con.execute(statement).fetchall()
    migrations = {version: (name, checksum) for version, name, checksum in rows if version is not None}
    definitions = next((checksum for version, _, checksum in rows if version is None), None)
    return migrations, definitions


def _apply_definitions(con: duckdb.DuckDBPyConnection, path: Path | str, recorded: str | None) -> bool:
    names, checksum = _definition_files()
    if recorded == checksum:
        return False
    con.execute("begin transaction")
    name = ""
    try:
        for name in (*names, "warehouse/record_definitions.sql"):
            run_file(con, name, {"definitions_checksum": checksum})
        con.execute("commit")
    except duckdb.Error as exc:
        rollback_quietly(con)
        raise unusable(path, exc) or WarehouseError(
            f"database {path}: definition {name} failed: {_one_line(exc)}"
        ) from None
    return True


@functools.cache
def _migration_files() -> tuple[tuple[int, str, str], ...]:
    """(version, file name, sha256) of every numbered migration, in order (read once per process)."""
    return tuple(
        (int(file.name[:3]), file.name, hashlib.sha256(file.read_bytes()).hexdigest())
        for file in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    )


@functools.cache
def _definition_files() -> tuple[tuple[str, ...], str]:
    """The definition files (names under sql/) in the order they apply, and one sha256 of all of them."""
    files = sorted(DEFINITIONS_DIR.glob("[0-9][0-9]_*.sql"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return tuple(f"definitions/{file.name}" for file in files), digest.hexdigest()


def schema_problem(con: duckdb.DuckDBPyConnection, path: Path | str = "database") -> DatabaseUnusable | None:
    """Return why this version cannot use the database's schema (a migration it does not have), or None.

    Reads only: for read-only connections, which never migrate (a database not migrated yet is no problem).
    """
    (statement,), _ = _prepared("warehouse/applied.sql")
    try:
        rows = con.execute(statement).fetchall()
    except duckdb.CatalogException:
        return None  # a new database: the next read-write open creates its bookkeeping
    return _schema_problem(path, {version: (name, sha) for version, name, sha in rows if version is not None})


def _schema_problem(path: Path | str, migrations: Mapping[int, tuple[str, str]]) -> DatabaseUnusable | None:
    known = {version: (name, checksum) for version, name, checksum in _migration_files()}
    newest = max(known, default=0)
    for version, (name, checksum) in sorted(migrations.items()):
        if known.get(version) == (name, checksum):
            continue
        if version > newest:
            ours = known[newest][0] if known else "none"
            return DatabaseUnusable(
                f"database {path} was written by a newer streamledger: it records migration {name}, and this "
                f"version's migrations end at {ours}: upgrade streamledger, or set {SETTING} to another file "
                "(nothing was changed in it)"
            )
        ours = known.get(version, ("", ""))[0]
        made_by = (
            f"a different {name} than this version's"
            if name == ours
            else f"migration {name}, which this version does not have"
        )
        return DatabaseUnusable(
            f"database {path} was made by {made_by} (a pre-release schema, which cannot be upgraded): "
            f"delete {path} or re-create it (the next run then creates it anew)"
        )
    return None


def read_whole(con: duckdb.DuckDBPyConnection, path: Path | str = "database") -> int:
    """Read every value of every table, so that DuckDB verifies the checksum of every data block; return the
    rows read. A damaged block is a DatabaseUnusable line; a poll reads only the blocks it needs, so this is
    what finds damage in the rest (`status --check` and `doctor` run it)."""
    rows = 0
    try:
        for (table,) in query(con, "warehouse/tables.sql").rows():
            rows += int(query(con, "warehouse/read_table.sql", {"table_name": table})["row_count"][0])
    except duckdb.Error as exc:
        raise unusable(path, exc) or _damaged(path, f"could not be read whole ({_one_line(exc)})") from None
    return rows


@dataclass(frozen=True)
class Check:
    """One invariant of the warehouse: a file of sql/checks whose query returns the rows that violate it."""

    name: str  # the file's name without its number and .sql, e.g. raw_response_keys_unique
    description: str  # the first line of its header: what it guarantees
    file: str  # the file under sql/, e.g. checks/02_raw_response_keys_unique.sql


@dataclass(frozen=True)
class CheckFailure:
    """A check that found violations: how many, and the first CHECK_ROWS_KEPT of them."""

    check: Check
    violations: int
    rows: tuple[dict[str, Any], ...]


@functools.cache
def checks() -> tuple[Check, ...]:
    """Every check of sql/checks, in name order (read once per process)."""
    found = []
    for path in sorted(CHECKS_DIR.glob("[0-9][0-9]_*.sql")):
        first = path.read_text().partition("\n")[0]
        if not first.startswith("-- ") or not first[3:].strip():
            raise WarehouseError(f"check {path}: its first line must be a comment saying what it guarantees")
        found.append(Check(path.stem[3:], first[3:].strip(), f"checks/{path.name}"))
    return tuple(found)


def run_check(con: duckdb.DuckDBPyConnection, check: Check) -> CheckFailure | None:
    """Run one check; return its failure, or None when it holds (its query returns no row)."""
    found = query(con, check.file)
    if found.is_empty():
        return None
    rows = tuple(found.head(CHECK_ROWS_KEPT).iter_rows(named=True))
    return CheckFailure(check, found.height, rows)


def run_checks(con: duckdb.DuckDBPyConnection) -> list[CheckFailure]:
    """Run every check of sql/checks in name order; return those that failed (none: every invariant holds)."""
    return [failure for check in checks() if (failure := run_check(con, check)) is not None]


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if any is left (a failed commit has already rolled back)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")


def refresh_session_usage(con: duckdb.DuckDBPyConnection) -> None:
    """Compute session_usage again for every session (for rows written outside a poll's load)."""
    run_file(con, "warehouse/mark_every_session_stale.sql")
    run_file(con, "load/12_session_usage.sql")


def _lock_holder(message: str) -> str | None:
    match = re.search(r"\(PID (\d+)\)", message)
    return f"held by process {match.group(1)}" if match else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
