"""Excel workbooks of report frames, written with XlsxWriter so that the same input gives the same bytes.

Cells keep their types: decimals and counts are numbers (amounts in USD as currency), instants are Excel
date-times in UTC (the zone in the header), dates are dates, booleans booleans, nulls blank cells. Text is
never read as a formula or a link, whatever it starts with.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

MAX_WIDTH = 60
CURRENCY = "[$$-409]#,##0."  # US dollars, whatever the reader's locale
DATETIME = "yyyy-mm-dd hh:mm:ss.000"
DATE = "yyyy-mm-dd"


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name, its rows (a header row of column names, then one row per frame row), and
    optionally a totals row (the same columns) whose `summed` columns are SUM formulas over the rows."""

    name: str
    frame: pl.DataFrame
    totals: pl.DataFrame | None = None
    summed: tuple[str, ...] = ()
    widths: Mapping[str, int] = field(default_factory=dict)


def workbook_bytes(sheets: Sequence[Sheet], *, title: str, created: datetime) -> bytes:
    """Return the sheets as an .xlsx file; `created` is its creation date (so a re-export is identical)."""
    buffer = io.BytesIO()
    # in_memory: XlsxWriter then dates every part of the zip 1980-01-01, never the wall clock.
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **options})
    book.set_properties(
        {"title": title, "author": "streamledger", "created": created.astimezone(UTC).replace(tzinfo=None)}
    )
    styles = _Styles(book)
    for sheet in sheets:
        _write_sheet(book.add_worksheet(sheet.name), sheet, styles)
    book.close()
    return buffer.getvalue()


class _Styles:
    """The workbook's cell formats, made once each (XlsxWriter keeps one per distinct format)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self._book = book
        self._made: dict[tuple[str, bool], Format] = {}

    def get(self, number_format: str, *, bold: bool = False) -> Format:
        key = (number_format, bold)
        if key not in self._made:
            properties: dict[str, Any] = {"bold": bold}
            if number_format:
                properties["num_format"] = number_format
            self._made[key] = self._book.add_format(properties)
        return self._made[key]


def header(name: str, dtype: pl.DataType) -> str:
    """Return a column's header: its name, with the time zone for instants ('started_time (UTC)')."""
    return f"{name} (UTC)" if isinstance(dtype, pl.Datetime) else name


def number_format(name: str, dtype: pl.DataType) -> str:
    """Return the Excel number format of a column: currency for *_usd amounts, its scale for decimals."""
    if isinstance(dtype, pl.Decimal):
        scale = dtype.scale or 0
        if name.endswith("_usd"):
            return CURRENCY + "0" * scale
        return "#,##0" + ("." + "0" * scale if scale else "")
    if dtype.is_integer():
        return "#,##0"
    if isinstance(dtype, pl.Datetime):
        return DATETIME
    if dtype == pl.Date:
        return DATE
    return ""


def _write_sheet(sheet: Worksheet, spec: Sheet, styles: _Styles) -> None:
    frame = spec.frame
    schema = frame.schema
    bold = styles.get("", bold=True)
    for col, (name, dtype) in enumerate(schema.items()):
        sheet.write_string(0, col, header(name, dtype), bold)
    formats = [styles.get(number_format(name, dtype)) for name, dtype in schema.items()]
    for row, values in enumerate(frame.iter_rows(), start=1):
        for col, value in enumerate(values):
            _write_cell(sheet, row, col, value, formats[col])
    last = frame.height
    if spec.totals is not None:
        totals_row = last + 1
        bold_formats = [styles.get(number_format(name, dtype), bold=True) for name, dtype in schema.items()]
        for col, (name, value) in enumerate(spec.totals.row(0, named=True).items()):
            if name in spec.summed and frame.height:
                column = xlsxwriter.utility.xl_col_to_name(col)
                formula = f"=SUM({column}2:{column}{last + 1})"  # rows 2 .. last+1 in Excel's numbering
                sheet.write_formula(totals_row, col, formula, bold_formats[col], _excel_value(value))
            else:
                _write_cell(sheet, totals_row, col, value, bold_formats[col])
        last = totals_row
    for col, (name, dtype) in enumerate(schema.items()):
        sheet.set_column(col, col, spec.widths.get(name) or _width(frame, name, header(name, dtype)))
    sheet.freeze_panes(1, 0)
    if frame.width:
        sheet.autofilter(0, 0, max(frame.height, 1), frame.width - 1)


def _write_cell(sheet: Worksheet, row: int, col: int, value: object, style: Format) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value, style)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value.astimezone(UTC).replace(tzinfo=None), style)
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime.combine(value, time()), style)
    elif isinstance(value, int | float | Decimal):
        sheet.write_number(row, col, float(value), style)
    else:
        sheet.write_string(row, col, str(value), style)


def _excel_value(value: object) -> float:
    return float(value) if isinstance(value, int | float | Decimal) else 0.0


def _width(frame: pl.DataFrame, name: str, title: str) -> int:
    """A column wide enough for its header and its longest value as text (bounded by MAX_WIDTH)."""
    longest = frame[name].cast(pl.String).str.len_chars().max() if frame.height else 0
    return min(MAX_WIDTH, max(len(title), longest if isinstance(longest, int) else 0) + 2)
