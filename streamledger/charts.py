"""Charts of report frames as PNG bytes, drawn on matplotlib's Agg canvas without pyplot's global state."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from typing import Any

import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from streamledger.reports import ReportError

WIDTH_INCHES = 10.0
HEIGHT_INCHES = 5.0
DPI = 100
DAILY_COLUMNS = ("day", "viewer_hours", "ingest_hours")
VIEWER_COLOR = "#1f77b4"
INGEST_COLOR = "#ff7f0e"


def daily_totals(frame: pl.DataFrame, first_day: date, last_day: date) -> pl.DataFrame:
    """Return one row per day of [first_day, last_day]: viewer and ingest hours summed, 0 on idle days."""
    missing = [name for name in DAILY_COLUMNS if name not in frame.columns]
    if missing:
        raise ReportError(
            f"daily usage chart: the frame has no column {', '.join(missing)} (expected daily-usage)"
        )
    if first_day > last_day:
        raise ReportError(f"daily usage chart: first day {first_day} is after last day {last_day}")
    days = pl.DataFrame({"day": pl.date_range(first_day, last_day, "1d", eager=True)})
    sums = (
        frame.select(
            pl.col("day").cast(pl.Date),
            pl.col("viewer_hours").cast(pl.Float64),
            pl.col("ingest_hours").cast(pl.Float64),
        )
        .group_by("day")
        .agg(pl.col("viewer_hours").sum(), pl.col("ingest_hours").sum())
    )
    return (
        days.join(sums, on="day", how="left")
        .with_columns(pl.col("viewer_hours", "ingest_hours").fill_null(0.0))
        .sort("day")
    )


def daily_usage_figure(frame: pl.DataFrame, first_day: date, last_day: date, *, title: str) -> Figure:
    """Return a figure (Agg canvas) of viewer hours above ingest hours, one bar per day of the period."""
    daily = daily_totals(frame, first_day, last_day)
    days = daily["day"].to_numpy()
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    viewer_axes, ingest_axes = figure.subplots(2, 1, sharex=True)
    # Ingest is a small fraction of viewer time, so each gets its own axis rather than sharing a scale.
    _bars(viewer_axes, days, daily["viewer_hours"].to_list(), "viewer", VIEWER_COLOR)
    _bars(ingest_axes, days, daily["ingest_hours"].to_list(), "ingest", INGEST_COLOR)
    # matplotlib.dates ships without type hints.
    locator = mdates.AutoDateLocator(minticks=5, maxticks=16)  # type: ignore[no-untyped-call]
    ingest_axes.xaxis.set_major_locator(locator)
    ingest_axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    half_day = timedelta(hours=12)
    ingest_axes.set_xlim(
        datetime.combine(first_day, time()) - half_day, datetime.combine(last_day, time()) + half_day
    )
    ingest_axes.set_xlabel("day")
    figure.suptitle(title)
    return figure


def _bars(axes: Axes, days: np.ndarray[Any, Any], hours: list[float], what: str, color: str) -> None:
    total = sum(hours)
    axes.bar(days, hours, width=0.8, color=color, label=f"{what} hours (total {total:,.2f} h)")
    axes.set_ylabel(f"{what} (hours)")
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,g}"))
    if max(hours, default=0.0) > 0:
        axes.set_ylim(bottom=0)
    else:
        axes.set_ylim(0, 1)
        axes.text(
            0.5, 0.5, f"no {what} usage in this period", transform=axes.transAxes, ha="center", va="center"
        )
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="best")


def daily_usage_png(frame: pl.DataFrame, first_day: date, last_day: date, title: str) -> bytes:
    """Return the daily usage chart of the daily-usage report frame as PNG bytes (1000 x 500 px)."""
    # Matplotlib's own defaults, so a local matplotlibrc cannot change the image.
    with matplotlib.style.context("default"):
        figure = daily_usage_figure(frame, first_day, last_day, title=title)
        buffer = io.BytesIO()
        # No Software text chunk (it names the matplotlib version), so the bytes depend on the data alone.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
