"""The dashboard: one page of a month to date (the finance statement's totals, daily usage per livestream,
live sessions, sessions not yet final, data quality, reconciliation, polling status), served on 127.0.0.1
from a bounded read-only connection opened per request, or written as one self-contained HTML file.

Every figure comes from a report of sql/reports/ or a file of sql/dashboard/ read on that connection, which
is closed before the page is drawn; charts are matplotlib SVG inline in the page, which has no JavaScript
and loads nothing from anywhere.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import duckdb
import jinja2
import matplotlib.dates as mdates
import matplotlib.style
import polars as pl
import uvicorn
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from streamledger import reports
from streamledger.errors import StreamledgerError
from streamledger.files import write_atomically
from streamledger.settings import Settings
from streamledger.warehouse import bind_variables, query

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PARAMETERS = ("month", "tz")
MAX_TABLE_ROWS = 100  # rows shown of a long table; the page says how many more there are
CHART_LIVESTREAMS = 8  # livestreams drawn apart in the chart; the others are summed as one
OTHERS_COLOR = "#b8bec8"
MAX_CONCURRENT_REQUESTS = 8  # beyond it uvicorn answers 503 at once
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# No script, nothing loaded from anywhere: the page's own inline style and inline SVG only.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DashboardError(StreamledgerError):
    """The dashboard cannot start or draw its page; the message names the option or setting to fix."""


class BadParameter(DashboardError):
    """A month or time zone that is not one; `name` is the parameter (and, with --, the option)."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        self.name, self.value, self.reason = name, value, reason
        super().__init__(f"--{name} {value!r}: {reason}")


@dataclass(frozen=True)
class Period:
    """What the page shows: a calendar month in a time zone, from its first day to its last day or today."""

    month: str
    tz: str
    first_day: date
    to_date: date  # the last day of the month, or today in tz while the month runs
    last_day: date

    @property
    def month_over(self) -> bool:
        """Whether the month has ended in tz (its figures can still change until every session is final)."""
        return self.to_date == self.last_day

    def values(self) -> dict[str, object]:
        """The report parameters of the period."""
        return {"from_date": self.first_day, "to_date": self.to_date, "tz": self.tz}


def period(month: str | None, tz: str, *, now: datetime | None = None) -> Period:
    """Return the period of `month` ('YYYY-MM', default this month) in the IANA zone `tz`, or raise
    BadParameter naming month or tz: a month in the future has no figures to show."""
    zone = _zone(tz)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    this_month = f"{today:%Y-%m}"
    text = this_month if month is None else month.strip()
    match = _MONTH.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise BadParameter("month", text, "expected a calendar month as YYYY-MM, e.g. 2026-10")
    if text > this_month:
        raise BadParameter("month", text, f"is in the future (this month in {tz} is {this_month})")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return Period(text, tz, first, min(last, today), last)


def _zone(tz: str) -> ZoneInfo:
    if tz not in time_zones():
        raise BadParameter("tz", tz, "expected an IANA time zone such as UTC or Europe/Paris")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter("tz", tz, "this machine has no such time zone") from None


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone this machine knows, sorted: the choices of the page's time zone control."""
    return tuple(sorted(available_timezones() | {"UTC"}))


@dataclass(frozen=True)
class Readings:
    """Everything the page shows, read on one connection: report frames and the warehouse's status row."""

    statement: pl.DataFrame
    daily: pl.DataFrame
    quality: pl.DataFrame
    reconciliation: pl.DataFrame
    live: pl.DataFrame
    not_final: pl.DataFrame
    status: dict[str, Any]


def read(settings: Settings, chosen: Period, *, wait_seconds: float) -> Readings:
    """Read the page's figures on a bounded read-only connection, closed before the page is drawn."""
    with reports.reader(
        settings.database, limits=settings.query_limits, wait_seconds=wait_seconds, subject="dashboard"
    ) as con:
        if not query(con, "queries/known_time_zone.sql", {"tz": chosen.tz})["known"].item():
            raise BadParameter("tz", chosen.tz, "DuckDB knows no such time zone")
        values = chosen.values()
        days = {"from_date": chosen.first_day, "to_date": chosen.to_date}  # the API's UTC days
        return Readings(
            statement=_report(con, "finance-statement", values),
            daily=_report(con, "daily-usage", values),
            quality=_report(con, "data-quality", values),
            reconciliation=_report(con, "reconciliation", days),
            live=query(con, "dashboard/live_now.sql"),
            not_final=_in_period(con, "dashboard/not_final.sql", values),
            status=query(con, "queries/status.sql", {"window_seconds": settings.budget_window_seconds}).row(
                0, named=True
            ),
        )


def _report(con: duckdb.DuckDBPyConnection, name: str, values: Mapping[str, object]) -> pl.DataFrame:
    return reports.query_report(con, reports.find(name), values)


def _in_period(con: duckdb.DuckDBPyConnection, name: str, values: Mapping[str, object]) -> pl.DataFrame:
    """A dashboard file that reads the period through the report macros (report_start(), report_end())."""
    bind_variables(con, values)
    return query(con, name)


def page_html(
    settings: Settings, chosen: Period, *, wait_seconds: float, static: bool, now: datetime | None = None
) -> str:
    """Return the dashboard page of the period as one self-contained HTML document."""
    readings = read(settings, chosen, wait_seconds=wait_seconds)
    drawn_at = now or datetime.now(UTC)
    return _template("dashboard.html.j2").render(
        period=chosen,
        static=static,
        database=settings.database.name,
        drawn_at=drawn_at,
        zones=time_zones(),
        this_month=f"{drawn_at.astimezone(ZoneInfo(chosen.tz)):%Y-%m}",
        totals=statement_totals(readings.statement),
        statement=_rows(readings.statement),
        chart=Markup(daily_usage_svg(readings.daily, chosen)),
        live=_rows(readings.live),
        not_final=_rows(readings.not_final),
        quality=quality_summary(readings.quality),
        quality_rows=_rows(readings.quality),
        reconciliation=verdicts(readings.reconciliation),
        reconciliation_rows=_rows(readings.reconciliation.filter(pl.col("verdict") != "agrees")),
        status=readings.status,
        stale_after=settings.stale_after_seconds,
    )


@dataclass(frozen=True)
class Totals:
    """The finance statement of the period summed over its livestreams, exactly (decimals, not floats)."""

    livestreams: int
    sessions: int
    sessions_not_final: int
    viewer_seconds: Decimal
    ingest_seconds: Decimal
    viewer_minutes: Decimal
    ingest_minutes: Decimal
    estimated_cost_usd: Decimal
    price_per_ingest_minute_usd: Decimal | None

    @property
    def viewer_hours(self) -> Decimal:
        """Viewer hours to 0.01 h (rounded half up from the exact seconds)."""
        return hours(self.viewer_seconds)

    @property
    def ingest_hours(self) -> Decimal:
        """Ingest hours to 0.01 h (rounded half up from the exact seconds)."""
        return hours(self.ingest_seconds)


def hours(seconds: Decimal) -> Decimal:
    """Return seconds as hours to 0.01 h, rounded half up, as the page shows them."""
    return (seconds / 3600).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def statement_totals(statement: pl.DataFrame) -> Totals:
    """Return the finance statement's columns summed over its livestream rows, in the statement's decimals.

    A row naming no livestream (a totals row, should the statement gain one) is not summed again.
    """
    rows = statement.filter(pl.col("livestream_id").is_not_null())

    def total(name: str) -> Decimal:
        return sum((Decimal(value) for value in rows[name].to_list() if value is not None), Decimal(0))

    prices = rows["price_per_ingest_minute_usd"].unique().to_list()
    return Totals(
        livestreams=rows.height,
        sessions=int(total("sessions")),
        sessions_not_final=int(total("sessions_not_final")),
        viewer_seconds=total("viewer_seconds"),
        ingest_seconds=total("ingest_seconds"),
        viewer_minutes=total("viewer_minutes"),
        ingest_minutes=total("ingest_minutes"),
        estimated_cost_usd=total("estimated_cost_usd"),
        price_per_ingest_minute_usd=Decimal(prices[0]) if len(prices) == 1 else None,
    )


def quality_summary(quality: pl.DataFrame) -> list[dict[str, Any]]:
    """Return one row per check of the data-quality report that found something: findings, occurrences."""
    return (
        quality.group_by("check")
        .agg(pl.len().alias("findings"), pl.col("occurrences").sum())
        .sort("check")
        .to_dicts()
    )


def verdicts(reconciliation: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the reconciliation report's days counted by verdict (agrees, differs, not final)."""
    return reconciliation.group_by("verdict").agg(pl.len().alias("days")).sort("verdict").to_dicts()


def _rows(frame: pl.DataFrame) -> dict[str, Any]:
    return {"rows": frame.head(MAX_TABLE_ROWS).to_dicts(), "more": max(0, frame.height - MAX_TABLE_ROWS)}


def daily_usage_svg(daily: pl.DataFrame, chosen: Period) -> str:
    """Return the daily-usage report as an SVG chart: viewer hours above ingest hours, one bar per day of the
    period, stacked by livestream (the largest by viewer hours apart, the rest summed as one)."""
    short_id = pl.col("livestream_id").str.slice(0, 8)
    labelled = daily.with_columns(  # a nameless livestream is labelled by its id alone
        pl.when(pl.col("livestream").is_null())
        .then(pl.format("({})", short_id))
        .otherwise(pl.format("{} ({})", pl.col("livestream").str.slice(0, 28), short_id))
        .alias("label")
    )
    by_viewer = labelled.group_by("label").agg(pl.col("viewer_hours").sum()).sort(["viewer_hours", "label"])
    ranked: list[str] = by_viewer.reverse()["label"].to_list()
    labels = ranked[:CHART_LIVESTREAMS] if len(ranked) > CHART_LIVESTREAMS + 1 else ranked
    others = f"{len(ranked) - len(labels)} other livestreams"
    series = labelled.with_columns(
        pl.when(pl.col("label").is_in(labels)).then(pl.col("label")).otherwise(pl.lit(others)).alias("label")
    )
    labels += [others] if len(labels) < len(ranked) else []
    days = pl.DataFrame({"day": pl.date_range(chosen.first_day, chosen.to_date, "1d", eager=True)})
    with matplotlib.style.context("default"):
        # Fixed margins rather than a layout engine: laying out is most of the drawing time otherwise.
        figure = Figure(figsize=(10.0, 5.0), dpi=100)
        FigureCanvasSVG(figure)
        figure.subplots_adjust(left=0.11, right=0.70, top=0.97, bottom=0.11, hspace=0.08)
        viewer_axes, ingest_axes = figure.subplots(2, 1, sharex=True)
        _stacked(viewer_axes, days, series, "viewer_hours", labels, others)
        _stacked(ingest_axes, days, series, "ingest_hours", labels, others)
        viewer_axes.set_ylabel("viewer (hours)")
        ingest_axes.set_ylabel("ingest (hours)")
        locator = mdates.AutoDateLocator(minticks=4, maxticks=16)  # type: ignore[no-untyped-call]
        ingest_axes.xaxis.set_major_locator(locator)
        ingest_axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        first = mdates.date2num(chosen.first_day)  # type: ignore[no-untyped-call]
        ingest_axes.set_xlim(first - 0.5, first + days.height - 0.5)
        ingest_axes.set_xlabel(f"day ({chosen.tz})")
        if labels:
            viewer_axes.legend(
                loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False, borderaxespad=0
            )
        buffer = io.StringIO()
        # No date and a fixed id salt, so that the same figures draw the same SVG.
        with matplotlib.rc_context({"svg.hashsalt": "streamledger", "svg.fonttype": "none"}):
            figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()[buffer.getvalue().index("<svg") :]


def _stacked(
    axes: Axes, days: pl.DataFrame, series: pl.DataFrame, column: str, labels: list[str], others: str
) -> None:
    """Draw one bar per day stacked by label: one collection of rectangles per label (drawn fast)."""
    x = [float(mdates.date2num(day)) for day in days["day"].to_list()]  # type: ignore[no-untyped-call]
    bottom = [0.0] * days.height
    for index, label in enumerate(labels):
        sums = (
            series.filter(pl.col("label") == label).group_by("day").agg(pl.col(column).cast(pl.Float64).sum())
        )
        heights = days.join(sums, on="day", how="left")[column].fill_null(0.0).to_list()
        bars = [
            [(left - 0.4, low), (left - 0.4, low + high), (left + 0.4, low + high), (left + 0.4, low)]
            for left, low, high in zip(x, bottom, heights, strict=True)
            if high > 0
        ]
        # Matplotlib reads $...$ in a label as mathematics: a livestream's name is text.
        axes.add_collection(
            PolyCollection(
                bars,
                facecolors=OTHERS_COLOR if label == others else f"C{index % 10}",
                label=label.replace("$", r"\$"),
            )
        )
        bottom = [low + high for low, high in zip(bottom, heights, strict=True)]
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,g}"))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    top = max(bottom, default=0.0)
    if top > 0:
        axes.set_ylim(0, top * 1.05)
    else:
        axes.set_ylim(0, 1)
        axes.text(0.5, 0.5, "no usage in this period", transform=axes.transAxes, ha="center", va="center")


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("streamledger", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=_number, instant=_instant, hours=_hours)
    return environment


def _template(name: str) -> jinja2.Template:
    return _environment().get_template(name)


def _number(value: object) -> str:
    """A figure for people: thousands separated, decimals as the report gives them; blank for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() else f"{value:,.3f}"
    return str(value)


def _instant(value: object, tz: str = "UTC") -> str:
    """An instant in the page's time zone, to the second; blank for null."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return f"{value.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M:%S}"


def _hours(value: object) -> Decimal | None:
    """Seconds as hours to 0.01 h (as the totals); None for null."""
    return None if value is None else hours(Decimal(str(value)))


def error_html(status: int, title: str, message: str) -> str:
    """Return the page of a request that cannot be answered: its one line, and what to do."""
    return _template("error.html.j2").render(status=status, title=title, message=message)


def write_dashboard(
    settings: Settings, path: Path, *, month: str | None, tz: str, wait_seconds: float
) -> Path:
    """Write the dashboard of `month` (default this month) in `tz` as one self-contained HTML file."""
    chosen = period(month, tz)
    html = page_html(settings, chosen, wait_seconds=wait_seconds, static=True)
    try:
        write_atomically(path, html.encode("utf-8"))
    except OSError as exc:
        raise DashboardError(f"--output {path}: {exc.strerror or exc}") from None
    return path


def dashboard_app(
    settings: Settings, *, host: str, month: str | None, tz: str, wait_seconds: float
) -> Starlette:
    """Return the dashboard's web application: GET / with the optional parameters month and tz."""
    one_at_a_time = threading.Lock()  # one reading of the database at a time, however many browsers ask

    def page(request: Request) -> HTMLResponse:
        try:
            chosen = period(*_parameters(request.query_params.multi_items(), month, tz))
        except BadParameter as exc:
            message = f"parameter {exc.name}={exc.value!r}: {exc.reason}"
            return _answer(400, "Bad parameter", message)
        try:
            with one_at_a_time:
                html = page_html(settings, chosen, wait_seconds=wait_seconds, static=False)
        except BadParameter as exc:
            return _answer(400, "Bad parameter", f"parameter {exc.name}={exc.value!r}: {exc.reason}")
        except StreamledgerError as exc:
            return _answer(503, "The warehouse cannot be read now", str(exc))
        return HTMLResponse(html, headers=HEADERS)

    hosts = ["127.0.0.1", "localhost", "[::1]", host] if host in LOOPBACK else ["*"]
    # A page on another site cannot reach this one through a name that resolves to 127.0.0.1.
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    return Starlette(routes=[Route("/", page, methods=["GET"])], middleware=middleware)


def _parameters(items: list[tuple[str, str]], month: str | None, tz: str) -> tuple[str | None, str]:
    """Return the month and time zone a request asks for (unset or empty: the command's own)."""
    given: dict[str, str] = {}
    for name, value in items:
        if name not in PARAMETERS:
            raise BadParameter(name, value, f"unknown parameter (the page takes {' and '.join(PARAMETERS)})")
        if name in given:
            raise BadParameter(name, value, "given more than once")
        given[name] = value
    return given.get("month") or month, given.get("tz") or tz


def _answer(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(error_html(status, title, message), status_code=status, headers=HEADERS)


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT or SIGTERM and then returning (uvicorn re-raises the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            signum: signal.signal(signum, self.handle_exit) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def serve_dashboard(
    settings: Settings, *, host: str, port: int, month: str | None, tz: str, wait_seconds: float
) -> None:
    """Serve the dashboard on host:port until SIGINT or SIGTERM, its URL on stderr (port 0: any free)."""
    period(month, tz)  # a bad --month or --tz is one line now, not a 400 page later
    if not settings.database.exists():
        raise DashboardError(
            f"database {settings.database} does not exist yet (run a snapshot first, or --database)"
        )
    listening = _listen(host, port)
    app = dashboard_app(settings, host=host, month=month, tz=tz, wait_seconds=wait_seconds)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        limit_concurrency=MAX_CONCURRENT_REQUESTS,
        timeout_graceful_shutdown=5,
    )
    bound_host, bound_port = listening.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(
        f"dashboard: http://{shown}:{bound_port}/ (read-only; Ctrl-C stops it)", file=sys.stderr, flush=True
    )
    try:
        _Server(config).run(sockets=[listening])
    finally:
        listening.close()


def _listen(host: str, port: int) -> socket.socket:
    """Return a socket listening on host:port, or raise DashboardError naming --host or --port."""
    if not 0 <= port <= 65535:
        raise DashboardError(f"--port {port}: expected a port from 1 to 65535 (0: any free port)")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise DashboardError(f"--host {host!r}: {exc.strerror or exc}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(128)
    except OSError as exc:
        listening.close()
        option = "--port" if exc.errno == 98 else "--host"
        raise DashboardError(f"{option}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except UnicodeError:
        listening.close()
        raise DashboardError(f"--host {host!r}: not a host name or address") from None
    return listening
