"""Reports: one question per file in sql/reports/, read from the warehouse without holding it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from streamledger.errors import StreamledgerError
from streamledger.warehouse import SQL_DIR, connect, query


def report_names() -> list[str]:
    """Return the names of the available reports."""
    return sorted(path.stem for path in (SQL_DIR / "reports").glob("*.sql"))


def run_report(database: Path, name: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Return one report's rows (read-only connection, closed at once so writers are not held up)."""
    if name not in report_names():
        raise StreamledgerError(f"no report {name!r} (available: {', '.join(report_names())})")
    return _read(database, f"report {name}", lambda con: query(con, f"reports/{name}.sql", params))


def run_sql(database: Path, statement: str) -> pl.DataFrame:
    """Return the result of one ad-hoc statement on a read-only connection."""
    return _read(database, "sql", lambda con: con.sql(statement).pl())


def print_report(database: Path, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Print one report as a table."""
    _print(run_report(database, name, params))


def print_sql(database: Path, statement: str) -> None:
    """Print the result of one ad-hoc statement as a table."""
    _print(run_sql(database, statement))


def _read(
    database: Path, what: str, read: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame]
) -> pl.DataFrame:
    if not database.exists():
        raise StreamledgerError(f"database {database} does not exist yet (run a snapshot first)")
    con = connect(database, read_only=True)
    try:
        return read(con)
    except duckdb.Error as exc:
        raise StreamledgerError(f"{what} on {database}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        con.close()


def _print(frame: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(frame)
