"""Reports: one question per file in sql/reports/, read from the warehouse without holding it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    if not database.exists():
        raise StreamledgerError(f"database {database} does not exist yet (run a snapshot first)")
    con = connect(database, read_only=True)
    try:
        return query(con, f"reports/{name}.sql", params)
    except Exception as exc:  # duckdb raises many types; all mean the same to a reader here
        raise StreamledgerError(f"report {name} on {database}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        con.close()


def print_report(database: Path, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Print one report as a table."""
    frame = run_report(database, name, params)
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(frame)
