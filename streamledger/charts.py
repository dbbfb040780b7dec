"""Charts of report frames as PNG bytes, drawn on matplotlib's Agg canvas without pyplot's global state."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
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
NO_DATA_COLOR = "#bbbbbb"
PROVISIONAL_COLOR = "#c0392b"


@dataclass(frozen=True)
class NoDataSpan:
    """A stretch of the period with no data (before the first poll that read something, or not yet come):
    shaded on the chart, so that its days are not read as days without usage."""

    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True)
class CostScale:
    """How ingest hours become the estimated cost: the price per ingest minute, and the statement's total
    cost (the sum of its rounded rows), shown beside the ingest total."""

    price_per_ingest_minute: Decimal
    total_cost_usd: Decimal


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


def daily_usage_figure(
    frame: pl.DataFrame,
    first_day: date,
    last_day: date,
    *,
    title: str,
    cost: CostScale | None = None,
    no_data: Sequence[NoDataSpan] = (),
    provisional: bool = False,
) -> Figure:
    """Return a figure (Agg canvas) of viewer hours above ingest hours (with the cost on the ingest panel's
    right axis), one bar per day of the period, no-data spans shaded, and a mark when provisional."""
    daily = daily_totals(frame, first_day, last_day)
    # A day wholly inside a no-data span, without usage, has no bar: it is unknown, not zero.
    unknown = [
        _inside(day, no_data) and viewer == ingest == 0
        for day, viewer, ingest in daily.select(DAILY_COLUMNS).iter_rows()
    ]
    daily = daily.filter(~pl.Series(unknown, dtype=pl.Boolean))
    days = daily["day"].to_numpy()
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    viewer_axes, ingest_axes = figure.subplots(2, 1, sharex=True)
    # Ingest is a small fraction of viewer time, so each gets its own axis rather than sharing a scale.
    for axes in (viewer_axes, ingest_axes):
        _shade(axes, no_data)
    _bars(viewer_axes, days, daily["viewer_hours"].to_list(), "viewer", VIEWER_COLOR, None)
    _bars(ingest_axes, days, daily["ingest_hours"].to_list(), "ingest", INGEST_COLOR, cost)
    if cost is not None and cost.price_per_ingest_minute > 0:
        usd_per_hour = float(cost.price_per_ingest_minute) * 60
        right = ingest_axes.secondary_yaxis(
            "right", functions=(lambda h: h * usd_per_hour, lambda usd: usd / usd_per_hour)
        )
        right.set_ylabel("estimated cost (USD)")
        right.yaxis.set_major_formatter(StrMethodFormatter("{x:,.2f}"))
    # matplotlib.dates ships without type hints.
    locator = mdates.AutoDateLocator(minticks=5, maxticks=16)  # type: ignore[no-untyped-call]
    ingest_axes.xaxis.set_major_locator(locator)
    ingest_axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    half_day = timedelta(hours=12)
    ingest_axes.set_xlim(
        datetime.combine(first_day, time()) - half_day, datetime.combine(last_day, time()) + half_day
    )
    ingest_axes.set_xlabel("day")
    if provisional:
        figure.suptitle(f"{title}: PROVISIONAL, the month is not final", color=PROVISIONAL_COLOR)
        figure.text(
            0.5,
            0.5,
            "PROVISIONAL",
            fontsize=72,
            color=PROVISIONAL_COLOR,
            alpha=0.12,
            rotation=20,
            ha="center",
            va="center",
        )
    else:
        figure.suptitle(title)
    return figure


def _inside(day: date, spans: Sequence[NoDataSpan]) -> bool:
    """Whether the whole UTC day lies inside one of the spans."""
    start = datetime.combine(day, time(), UTC)
    return any(span.start <= start and start + timedelta(days=1) <= span.end for span in spans)


def _shade(axes: Axes, spans: Sequence[NoDataSpan]) -> None:
    # A bar stands centred on its day's midnight, so an instant t of that day sits at t - 12 h.
    half_day = timedelta(hours=12)
    for span in spans:
        # matplotlib.dates ships without type hints.
        start, end = (
            mdates.date2num(_naive_utc(t) - half_day)  # type: ignore[no-untyped-call]
            for t in (span.start, span.end)
        )
        axes.axvspan(start, end, color=NO_DATA_COLOR, alpha=0.35, hatch="//", linewidth=0, label=span.label)


def _naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _bars(
    axes: Axes,
    days: np.ndarray[Any, Any],
    hours: list[float],
    what: str,
    color: str,
    cost: CostScale | None,
) -> None:
    total = sum(hours)
    label = f"{what} hours (total {total:,.2f} h"
    if cost is not None:
        label += f"; estimated cost {cost.total_cost_usd:,.2f} USD at {cost.price_per_ingest_minute} USD/min"
    axes.bar(days, hours, width=0.8, color=color, label=label + ")")
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
    axes.legend(loc="upper left", fontsize="small")


def daily_usage_png(
    frame: pl.DataFrame,
    first_day: date,
    last_day: date,
    title: str,
    *,
    cost: CostScale | None = None,
    no_data: Sequence[NoDataSpan] = (),
    provisional: bool = False,
) -> bytes:
    """Return the daily usage chart of the daily-usage report frame as PNG bytes (1000 x 500 px)."""
    # Matplotlib's own defaults, so a local matplotlibrc cannot change the image.
    with matplotlib.style.context("default"):
        figure = daily_usage_figure(
            frame, first_day, last_day, title=title, cost=cost, no_data=no_data, provisional=provisional
        )
        buffer = io.BytesIO()
        # No Software text chunk (it names the matplotlib version), so the bytes depend on the data alone.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
