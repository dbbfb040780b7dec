"""Output of reports and ad-hoc SQL: tables for people, and CSV, JSON and Parquet that keep every value exact.

A table never cuts a value. On a terminal it is an aligned table when it fits the terminal's width (COLUMNS,
else the terminal's own), otherwise one record per block, one field per line (psql's `\\x`); a table longer
than the screen goes through the pager (STREAMLEDGER_PAGER). To a pipe or a file it is plain aligned text for
programs: a header line and one line per row, columns two spaces apart, no title, no rule, no count, no
trailing spaces, no escape codes, as wide as the values need.

Cells are written for people (CSV, JSON and Parquet stay exact and unformatted):
- null is blank; true and false are yes and no;
- counts have thousands separators (ids, `id` and `*_id` columns, are written as they are);
- decimals are exact, with as many decimals as the column's values need; other floats show at most 3;
- durations (interval results, and numeric columns named `*_seconds`) read as `0.154 s` below a second,
  `23.2 s` below a minute, `12 min 05 s` below an hour and `1 h 02 min` from an hour on (rounded to the unit
  shown; CSV and JSON keep the exact seconds);
- instants show the fraction of a second only as far as the column's values have one, and the time zone in
  the column's header;
- control characters in text (a name holding an escape sequence or a line break) are shown escaped, so that
  no value can break the layout or drive the terminal.
"""

from __future__ import annotations

import io
import math
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import orjson
import polars as pl
from rich.cells import cell_len

from streamledger.errors import StreamledgerError
from streamledger.files import write_atomically

FORMATS = ("table", "csv", "json", "parquet")
GAP = "  "  # between two columns of a table
FLOAT_DECIMALS = 3  # at most, for floats (decimals are shown exactly)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class OutputError(StreamledgerError):
    """An output option is wrong (format, columns, output path); the message names the option and the fix."""


# --- exact formats ---


def plain_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with instants as ISO 8601 UTC text, for CSV and JSON (numbers stay numbers).

    Durations become their seconds (exact to the microsecond); nested values (lists, structs), which CSV
    cannot hold, become JSON text.
    """
    frame = frame.with_columns(
        (pl.col(name).dt.total_microseconds() / 1_000_000).alias(name)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Duration)
    ).with_columns(
        pl.Series(name, [_json_text(value) for value in frame[name].to_list()], dtype=pl.String)
        for name, dtype in frame.schema.items()
        if dtype.is_nested()
    )
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ).with_columns(
        pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
    )


def _json_text(value: object) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def to_csv(frame: pl.DataFrame) -> bytes:
    """Return the frame as UTF-8 CSV with a header: plain decimals, ISO 8601 UTC instants, '\\n' lines."""
    buffer = io.BytesIO()
    plain_frame(frame).write_csv(buffer, float_scientific=False, line_terminator="\n")
    return buffer.getvalue()


def to_json(frame: pl.DataFrame) -> bytes:
    """Return the frame as a JSON array of objects (decimals as strings, so no digit is lost)."""
    plain = plain_frame(frame).with_columns(
        pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if isinstance(dtype, pl.Decimal)
    )
    buffer = io.BytesIO()
    plain.write_json(buffer)
    return buffer.getvalue()


def to_parquet(frame: pl.DataFrame) -> bytes:
    """Return the frame as Parquet with its types kept (decimals, UTC instants), zstd-compressed."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


# --- columns ---


def select_columns(frame: pl.DataFrame, columns: Sequence[str] | None) -> pl.DataFrame:
    """Return the frame with only `columns`, in order; an unknown name is an error listing the columns."""
    if columns is None:
        return frame
    unknown = [name for name in columns if name not in frame.columns]
    if unknown or not columns:
        missing = ", ".join(unknown) or "(none given)"
        raise OutputError(
            f"--columns: no column {missing} in this result (its columns: {', '.join(frame.columns)})"
        )
    return frame.select(list(dict.fromkeys(columns)))


# --- tables for people ---


@dataclass(frozen=True)
class Column:
    """One column as shown: its header, its cells as text, and whether it is right-aligned (a figure)."""

    header: str
    cells: list[str]
    right: bool

    @property
    def width(self) -> int:
        """Display width of the widest of its header and cells."""
        return max([cell_len(self.header), *(cell_len(cell) for cell in self.cells)])


def shown_columns(frame: pl.DataFrame, *, tz: str | None = None) -> list[Column]:
    """Return the frame's columns with their cells written for people (see the module's rules)."""
    return [_column(name, dtype, frame[name].to_list(), tz) for name, dtype in frame.schema.items()]


def _column(name: str, dtype: pl.DataType, values: list[Any], tz: str | None) -> Column:
    header = _printable(name)
    if isinstance(dtype, pl.Datetime):
        header += f" ({dtype.time_zone or tz or 'UTC'})"
    if isinstance(dtype, pl.Duration) or (dtype.is_numeric() and name.endswith("_seconds")):
        return Column(header, [_blank_or(value, _duration) for value in values], True)
    if dtype.is_numeric():
        return Column(header, _numbers(name, dtype, values), True)
    if isinstance(dtype, pl.Datetime):
        return Column(header, _instants(values), False)
    return Column(header, [_blank_or(value, _text) for value in values], False)


def _blank_or(value: Any, show: Callable[[Any], str]) -> str:
    return "" if value is None else show(value)


def _numbers(name: str, dtype: pl.DataType, values: list[Any]) -> list[str]:
    present = [value for value in values if value is not None]
    if dtype.is_integer():
        plain = name == "id" or name.endswith("_id")
        return [_blank_or(value, str if plain else "{:,}".format) for value in values]
    if isinstance(dtype, pl.Decimal):
        places = max((_places(value) for value in present), default=0)
    else:
        places = max((_float_places(value) for value in present), default=0)
    return [_blank_or(value, lambda number: _number(number, places)) for value in values]


def _places(value: Decimal) -> int:
    """Decimals the value needs to be shown exactly."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _float_places(value: float) -> int:
    if not math.isfinite(value):
        return 0
    return len(f"{value:.{FLOAT_DECIMALS}f}".rstrip("0").partition(".")[2])


def _number(value: float | Decimal, places: int) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:,.{places}f}"


def _duration(value: timedelta | float | Decimal | int) -> str:
    """The duration for people: 0.154 s, 23.2 s, 12 min 05 s, 1 h 02 min (rounded to the unit shown)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds):
        return str(seconds)
    sign, size = ("-" if seconds < 0 else ""), abs(seconds)
    if size == 0:
        return "0 s"
    if size < 1:
        return f"{sign}{size:.3f} s"
    if round(size, 1) < 60:
        return f"{sign}{size:.1f} s"
    if round(size) < 3600:
        minutes, rest = divmod(round(size), 60)
        return f"{sign}{minutes} min {rest:02d} s"
    hours, minutes = divmod(round(size / 60), 60)
    return f"{sign}{hours:,} h {minutes:02d} min"


def _instants(values: list[datetime | None]) -> list[str]:
    present = [value for value in values if value is not None]
    places = 0
    if any(value.microsecond % 1000 for value in present):
        places = 6
    elif any(value.microsecond for value in present):
        places = 3
    return [_blank_or(value, lambda instant: _instant(instant, places)) for value in values]


def _instant(value: datetime, places: int) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}"[: len(text) + 1 + places] if places else text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, list | dict | tuple):
        return _printable(orjson.dumps(value, default=str).decode())
    return _printable(str(value))


def _printable(text: str) -> str:
    """The text with control characters escaped (\\n, \\t, \\x1b...), so it shows on one line, inert."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * (width - cell_len(text))
    return fill + text if right else text + fill


def table_lines(columns: Sequence[Column], *, rule: bool) -> list[str]:
    """Return the aligned table: the header, a rule of dashes when asked, one line per row."""
    widths = [column.width for column in columns]

    def line(cells: Sequence[str]) -> str:
        parts = (
            _pad(cell, width, right=c.right) for cell, width, c in zip(cells, widths, columns, strict=True)
        )
        return GAP.join(parts).rstrip()

    lines = [line([column.header for column in columns])]
    if rule:
        lines.append(GAP.join("-" * width for width in widths))
    rows = len(columns[0].cells) if columns else 0
    lines.extend(line([column.cells[row] for column in columns]) for row in range(rows))
    return lines


def record_lines(columns: Sequence[Column], *, width: int) -> list[str]:
    """Return one block per row, one `name | value` line per field (psql's expanded display)."""
    names = max((cell_len(column.header) for column in columns), default=0)
    values = max((cell_len(cell) for column in columns for cell in column.cells), default=0)
    rows = len(columns[0].cells) if columns else 0
    lines = []
    for row in range(rows):
        label = f"-[ RECORD {row + 1} ]"
        left = label + "-" * max(0, names + 1 - len(label))
        lines.append(left + "+" + "-" * max(0, min(values + 1, width - len(left) - 1)))
        lines.extend(
            f"{_pad(column.header, names, right=False)} | {column.cells[row]}".rstrip() for column in columns
        )
    return lines


def render_table(
    frame: pl.DataFrame, *, title: str | None = None, tz: str | None = None, width: int | None = None
) -> str:
    """Return the frame as text for people, ending in a newline.

    `width` None: the form for a pipe or a file (header and rows, aligned, nothing else). `width` a number:
    the form for a terminal that wide: the title wrapped to it, the table with a rule under its header if it
    fits, else the record layout, and the row count.
    """
    columns = shown_columns(frame, tz=tz)
    if width is None:
        return "\n".join(table_lines(columns, rule=False)) + "\n" if columns else ""
    lines = textwrap.wrap(_printable(title), width) if title else []
    table = table_lines(columns, rule=True) if columns else []
    fits = all(cell_len(line) <= width for line in table)
    lines += table if fits else record_lines(columns, width=width)
    lines.append(f"{frame.height:,} row{'' if frame.height == 1 else 's'}")
    return "\n".join(lines) + "\n"


def print_table(
    frame: pl.DataFrame,
    *,
    title: str | None = None,
    tz: str | None = None,
    pager: str = "",
    stream: TextIO | None = None,
) -> None:
    """Print the frame for the reader at the other end of `stream` (stdout): a terminal gets the terminal
    form at its width, through `pager` when it is longer than the screen; a pipe gets plain aligned text."""
    stream = sys.stdout if stream is None else stream
    if not stream.isatty():
        stream.write(render_table(frame, tz=tz))
        stream.flush()
        return
    size = shutil.get_terminal_size()
    text = render_table(frame, title=title, tz=tz, width=size.columns)
    if pager and _screen_lines(text, size.columns) >= size.lines and _page(text, pager, stream):
        return
    stream.write(text)
    stream.flush()


def _screen_lines(text: str, width: int) -> int:
    """Lines the text takes on a terminal of that width (a long line wraps)."""
    return sum(max(1, -(-cell_len(line) // max(width, 1))) for line in text.splitlines())


def _page(text: str, pager: str, stream: TextIO) -> bool:
    """Show the text through the pager command; False (and one line on stderr) when it cannot start."""
    stream.flush()
    try:
        child = subprocess.Popen(shlex.split(pager), stdin=subprocess.PIPE, stdout=stream, encoding="utf-8")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(
            f"streamledger: the pager {pager!r} could not start ({reason}): printing without it "
            "(set STREAMLEDGER_PAGER to a pager command, or to off)",
            file=sys.stderr,
        )
        return False
    try:
        child.communicate(text)  # a reader who quits early closes the pipe: communicate() allows for it
    except KeyboardInterrupt:
        child.wait()  # the pager has the terminal: let it restore it before we go
    return True


def write_output(
    frame: pl.DataFrame,
    fmt: str,
    output: Path | None,
    *,
    title: str | None = None,
    tz: str | None = None,
    columns: Sequence[str] | None = None,
    pager: str = "",
) -> None:
    """Print the frame (table, csv, json) or write it to `output` in the chosen format, with only `columns`
    (in their order) when given; `pager` (Settings.pager) pages a table longer than the terminal."""
    if fmt not in FORMATS:
        raise OutputError(f"--format {fmt!r}: unknown format (choose from {', '.join(FORMATS)})")
    if fmt == "parquet" and output is None:
        raise OutputError("--format parquet needs --output PATH (Parquet is not for a terminal)")
    frame = select_columns(frame, columns)
    if fmt == "table" and output is None:
        print_table(frame, title=title, tz=tz, pager=pager)
        return
    try:
        if fmt == "table":
            data = render_table(frame, tz=tz).encode("utf-8")
        else:
            data = {"csv": to_csv, "json": to_json, "parquet": to_parquet}[fmt](frame)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_atomically(output, data)
    except pl.exceptions.PolarsError as exc:
        raise OutputError(f"--format {fmt}: {' '.join(str(exc).split())[:200]}") from None
    except OSError as exc:
        raise OutputError(f"--output {output}: {exc.strerror or exc}") from None
