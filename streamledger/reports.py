"""Reports: one question per file in sql/reports/, parameters bound, read without holding up the writer."""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import cast

import duckdb
import polars as pl

from streamledger.errors import StreamledgerError
from streamledger.settings import QueryLimits
from streamledger.warehouse import (
    SQL_DIR,
    bind_variables,
    bounded_reader,
    connect,
    query,
    run_file,
    statements,
)

REPORTS_DIR = SQL_DIR / "reports"
READ_WAIT_SECONDS = 60.0
MAX_PRICE = Decimal(10) ** 12  # the statement holds prices as decimal(18, 6)
# Every parameter a report may declare, and how a command-line value becomes a typed, bound value.
PARAMETERS: dict[str, Callable[[str], object]] = {}
# Command-line flags of the parameters that have one; any other is given as --param NAME=VALUE.
FLAGS = {"from_date": "--from", "to_date": "--to", "tz": "--tz", "price_per_ingest_minute": "--price"}
# The value each parameter takes in a report's example command line (fixed, so that the docs are stable).
EXAMPLES = {
    "from_date": "2026-11-01",
    "to_date": "2026-11-30",
    "tz": "Europe/Paris",
    "price_per_ingest_minute": "0.010",
    "max_gap_seconds": "300",
}
WIDTH = 80  # the terminal width catalog_text() and describe() fit
# A report file's header, its first comment lines (docs/reports.md shows it whole):
#   -- <the question it answers>
#   -- Grain: one row per ...
#   -- Parameter <name> [<unit>] = <default>               (one line per parameter; none: no line)
#   -- Columns: <name> [<unit>], <name> [<unit>], ...       (repeated lines continue the list)
#   -- Units: <how to read the figures>
_HEADER = re.compile(r"^--\s*(Grain|Parameter|Columns|Units)\b:?\s*(.*)$")
_PARAMETER = re.compile(r"([a-z_]+) \[([^\]]+)\] = (.+)")
_COLUMN = re.compile(r"\s*([a-z_]+) \[([^\]]+)\]\s*(?:,|$)")


class ReportError(StreamledgerError):
    """A report name, parameter or output option is wrong; the message names which and why."""


@dataclass(frozen=True)
class Parameter:
    """A parameter a report declares: its name, its unit and the value it takes when not given."""

    name: str
    unit: str
    default: str

    @property
    def usage(self) -> str:
        """Its name and how the command line gives it: its own flag (--from), or --param NAME=VALUE."""
        flag = FLAGS.get(self.name)
        return f"{self.name} ({flag or f'--param {self.name}=VALUE'})"

    def given(self, value: str) -> str:
        """Return the command-line words that give it `value`."""
        flag = FLAGS.get(self.name)
        return f"{flag} {value}" if flag else f"--param {self.name}={value}"


@dataclass(frozen=True)
class Column:
    """A column a report returns, with the unit of its values."""

    name: str
    unit: str


@dataclass(frozen=True)
class Report:
    """One report file: its name and the header that states its question, grain, parameters, columns
    and units (see _HEADER for the syntax)."""

    name: str
    description: str
    grain: str
    parameters: tuple[str, ...]
    units: str
    path: Path
    parameter_specs: tuple[Parameter, ...]
    columns: tuple[Column, ...]

    def sql(self) -> str:
        """Return the report's one statement."""
        (statement,) = statements(self.path.read_text())
        return statement


@cache
def catalog() -> dict[str, Report]:
    """Return every report in sql/reports/ by name, read from the header of its file."""
    return {path.stem: _read_header(path) for path in sorted(REPORTS_DIR.glob("*.sql"))}


def _read_header(path: Path) -> Report:
    """Return the report a file's header declares; a header that breaks the syntax names its line."""
    lines = path.read_text().splitlines()
    if not lines or not lines[0].startswith("-- ") or _HEADER.match(lines[0]):
        raise ReportError(f"{path}: line 1: a report starts with its question ('-- What ...')")
    fields: dict[str, list[str]] = {"Grain": [], "Parameter": [], "Columns": [], "Units": []}
    for number, line in enumerate(lines[1:], start=2):
        match = _HEADER.match(line)
        if match is None:
            break
        fields[match.group(1)].append(match.group(2).strip())
        if match.group(1) == "Parameter" and not _PARAMETER.fullmatch(match.group(2).strip()):
            raise ReportError(f"{path}: line {number}: expected '-- Parameter NAME [UNIT] = DEFAULT'")
    if len(fields["Grain"]) != 1 or not fields["Columns"] or len(fields["Units"]) != 1:
        raise ReportError(f"{path}: the header needs one Grain, one or more Columns and one Units line")
    specs = tuple(_parameter(item) for item in fields["Parameter"])
    unknown = sorted({spec.name for spec in specs} - set(PARAMETERS))
    if unknown:
        raise ReportError(f"{path}: unknown parameters {unknown}")
    return Report(
        name=path.stem,
        description=lines[0][3:].strip(),
        grain=fields["Grain"][0],
        parameters=tuple(spec.name for spec in specs),
        units=fields["Units"][0],
        path=path,
        parameter_specs=specs,
        columns=tuple(_columns(path, ", ".join(line.rstrip(",") for line in fields["Columns"]))),
    )


def _parameter(text: str) -> Parameter:
    name, unit, default = cast(re.Match[str], _PARAMETER.fullmatch(text)).groups()
    return Parameter(name, unit, default)


def _columns(path: Path, text: str) -> Iterator[Column]:
    position = 0
    while position < len(text):
        match = _COLUMN.match(text, position)
        if match is None:
            raise ReportError(f"{path}: Columns: expected 'NAME [UNIT], ...' at {text[position:][:40]!r}")
        yield Column(*match.groups())
        position = match.end()


def find(name: str) -> Report:
    """Return the report of that name (underscores are accepted for hyphens)."""
    reports = catalog()
    report = reports.get(name) or reports.get(name.replace("_", "-"))
    if report is None:
        raise ReportError(f"no report {name!r} (available: {', '.join(reports)})")
    return report


def example(report: Report) -> list[str]:
    """Return a command line that runs the report with every parameter given (the values of EXAMPLES), in
    lines that fit WIDTH, continued with a backslash as a shell reads them."""
    words = [
        f"streamledger report {report.name}",
        *(spec.given(EXAMPLES[spec.name]) for spec in report.parameter_specs),
    ]
    lines = [f"  {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + len(word) + 3 > WIDTH:
            lines[-1] += " \\"
            lines.append(f"    {word}")
        else:
            lines[-1] += f" {word}"
    return lines


def describe(name: str) -> str:
    """Return what `report NAME --describe` prints, in 80 columns: the question, grain, parameters (flag,
    unit, default), the columns with their units, how to read the figures, and an example."""
    report = find(name)
    lines = [*_wrapped(f"{report.name}: {report.description}"), "", *_wrapped(report.grain, "Grain: ")]
    lines += ["", "Parameters:" if report.parameter_specs else "Parameters: none"]
    for spec in report.parameter_specs:
        lines += _wrapped(f"{spec.usage}: {spec.unit}; default {spec.default}", "  ", indent=4)
    width = max(len(column.name) for column in report.columns)
    lines += ["", "Columns:", *(f"  {column.name:<{width}}  {column.unit}" for column in report.columns)]
    lines += ["", *_wrapped(report.units, "Units: "), "", "Example:", *example(report)]
    return "\n".join(lines) + "\n"


def catalog_text() -> str:
    """Return what `report --list` prints, in 80 columns: every report's name, question, grain, parameters
    and units (`report NAME --describe` adds each parameter's default and each column's unit)."""
    blocks = []
    for report in catalog().values():
        block = [report.name, *_wrapped(report.description, "  ")]
        block += _wrapped(report.grain, "  Grain:      ")
        block += _wrapped(", ".join(report.parameters) or "none", "  Parameters: ")
        block += _wrapped(report.units, "  Units:      ")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + "\n"


def _wrapped(text: str, first: str = "", *, indent: int | None = None) -> list[str]:
    """Return `text` in lines of at most WIDTH columns: after `first` on the first line, then indented by
    `indent` (by default, the width of `first`). Words are never cut, so a long id or URL stays whole."""
    rest = " " * (len(first) if indent is None else indent)
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def parse_parameters(report: Report, raw: Mapping[str, str | None]) -> dict[str, object]:
    """Return the typed values of the given parameters (unset ones keep the report's default)."""
    values: dict[str, object] = {}
    for name, text in raw.items():
        if text is None:
            continue
        if name not in report.parameters:
            takes = ", ".join(report.parameters) or "none"
            raise ReportError(f"report {report.name} has no parameter {name!r} (its parameters: {takes})")
        try:
            values[name] = PARAMETERS[name](text.strip())
        except (ValueError, InvalidOperation) as exc:
            raise ReportError(f"report {report.name}: parameter {name}={text!r}: {exc}") from None
    first, last = values.get("from_date"), values.get("to_date")
    if isinstance(first, date) and isinstance(last, date) and first > last:
        raise ReportError(f"report {report.name}: from_date {first} is after to_date {last}")
    return values


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date as YYYY-MM-DD") from None


def _zone(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", text):
        raise ValueError("expected an IANA time zone such as UTC or Europe/Paris")
    return text


def _price(text: str) -> Decimal:
    return check_price(Decimal(text))


def check_price(value: Decimal) -> Decimal:
    """Return a price per minute in USD that the statement can hold exactly, or raise ValueError."""
    exponent = value.as_tuple().exponent  # an int for every finite value
    if not value.is_finite() or not 0 <= value < MAX_PRICE or (isinstance(exponent, int) and exponent < -6):
        raise ValueError("expected a price of zero or more with at most 6 decimals, e.g. 0.010")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError("expected a positive number of seconds")
    return value


PARAMETERS.update(
    from_date=_date, to_date=_date, tz=_zone, price_per_ingest_minute=_price, max_gap_seconds=_seconds
)


# Errors a bounded reading turns into the one line naming the limit it reached (warehouse.bounded_reader).
LIMIT_ERRORS = (duckdb.InterruptException, duckdb.OutOfMemoryException)


@contextmanager
def reader(
    database: Path,
    *,
    wait_seconds: float = READ_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
    limits: QueryLimits | None = None,
    subject: str = "reading",
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database read-only for one piece of reading, waiting (bounded) while a writer holds it.

    With `limits` (`sql`, `report`, the dashboard), the reading is bounded in time, memory and temporary
    files, and a limit reached is one line naming `subject` and the setting (warehouse.bounded_reader).
    """
    if not database.exists():
        raise ReportError(f"database {database} does not exist yet (run a snapshot first)")
    if limits is not None:
        with bounded_reader(
            database, limits, subject=subject, wait_seconds=wait_seconds, on_wait=on_wait or _tell
        ) as bounded:
            yield bounded
        return
    con = connect(database, read_only=True, wait_seconds=wait_seconds, on_wait=on_wait or _tell)
    try:
        yield con
    except LIMIT_ERRORS as exc:
        raise ReportError(f"{subject}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        con.close()


def _tell(message: str) -> None:
    print(f"streamledger: {message}", file=sys.stderr, flush=True)


def query_report(
    con: duckdb.DuckDBPyConnection, report: Report, values: Mapping[str, object] | None = None
) -> pl.DataFrame:
    """Return one report's rows; its parameters are bound as session variables, never formatted into SQL."""
    try:
        unknown = set(values or {}) - set(report.parameters)
        if unknown:
            raise ReportError(f"report {report.name} has no parameter {sorted(unknown)[0]!r}")
        # Every parameter is set, to null when not given, so that none is left from an earlier report.
        bind_variables(con, dict.fromkeys(PARAMETERS) | dict(values or {}))
        if "tz" in (values or {}):
            _check_zone(con, str((values or {})["tz"]))
        frame: pl.DataFrame = con.sql(report.sql()).pl()
    except LIMIT_ERRORS:
        raise
    except duckdb.Error as exc:
        raise ReportError(f"report {report.name}: {' '.join(str(exc).split())[:300]}") from None
    return frame


def _check_zone(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    if not query(con, "queries/known_time_zone.sql", {"tz": zone})["known"].item():
        raise ReportError(f"unknown time zone {zone!r} (expected an IANA name such as UTC or Europe/Paris)")


def run_report(
    database: Path,
    name: str,
    values: Mapping[str, object] | None = None,
    *,
    wait_seconds: float = READ_WAIT_SECONDS,
    limits: QueryLimits | None = None,
) -> pl.DataFrame:
    """Return one report's rows from a read-only connection that is closed at once (bounded by `limits`)."""
    report = find(name)
    with reader(database, wait_seconds=wait_seconds, limits=limits, subject=f"report {report.name}") as con:
        return query_report(con, report, values)


def run_sql(
    database: Path,
    statement: str,
    *,
    wait_seconds: float = READ_WAIT_SECONDS,
    limits: QueryLimits | None = None,
) -> pl.DataFrame:
    """Return the result of ad-hoc SQL on a read-only connection (bounded by `limits`).

    DuckDB refuses writes to the database; reading or writing other files is switched off too (and locked),
    so that ad-hoc SQL cannot copy the history elsewhere or read the machine's files, nor lift its limits.
    """
    with reader(database, wait_seconds=wait_seconds, limits=limits, subject="sql") as con:
        run_file(con, "warehouse/ad_hoc_session.sql")
        try:
            relation = con.sql(statement)
            if relation is None:
                return pl.DataFrame()
            relation, durations = _portable(relation)
            result: pl.DataFrame = relation.pl()
        except LIMIT_ERRORS:
            raise
        except duckdb.Error as exc:
            raise ReportError(f"sql: {' '.join(str(exc).split())[:300]}") from None
        except pl.exceptions.PolarsError as exc:
            raise ReportError(
                f"sql: a result column has a type the output cannot hold (cast it, e.g. to varchar): "
                f"{' '.join(str(exc).split())[:200]}"
            ) from None
        return result.with_columns(pl.col(name).cast(pl.Duration("us")) for name in durations)


# DuckDB types polars cannot hold (an interval, a union, a big number, or a value nesting one), and bits,
# which it would hold as bytes: these columns are read as their text.
_AS_TEXT = re.compile(r"\b(INTERVAL|UNION|BIGNUM|VARINT|BIT)\b")


def _portable(relation: duckdb.DuckDBPyRelation) -> tuple[duckdb.DuckDBPyRelation, list[str]]:
    """Return the relation with every column in a type polars can hold, and the names of the intervals.

    An interval becomes its microseconds (DuckDB's epoch: a month counts 30 days), a duration once read;
    another type polars cannot hold becomes its text (an interval within a list, a union, a big number).
    """
    expressions, durations, changed = [], [], False
    for name, kind in zip(relation.columns, relation.types, strict=True):
        column = duckdb.ColumnExpression(name)
        if kind.id == "interval":
            column, changed = duckdb.FunctionExpression("epoch_us", column), True
            durations.append(name)
        elif _AS_TEXT.search(str(kind)):
            column, changed = column.cast(duckdb.sqltypes.VARCHAR), True
        expressions.append(column.alias(name))
    if not changed:
        return relation, []
    if len(set(relation.columns)) < len(relation.columns):
        raise ReportError(
            "sql: the result has an interval or another type the output cannot hold, and two columns of the "
            "same name: give each column its own name (... as name), or cast it, e.g. to varchar"
        )
    return relation.select(*expressions), durations
