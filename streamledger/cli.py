"""The `streamledger` command: polls, schedules, health, reports, ad-hoc SQL, exports and the archive.

This module parses and dispatches only (on cyclopts); what each command does is in streamledger.commands.
An option that sets a setting takes its help, variable and default from the Settings field, and reads its
value through the same parser, so the command line and the settings page never drift.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Literal

from cyclopts import App, CoercionError, CycloptsError, Group, Parameter, Token
from rich.console import Console

from streamledger import commands
from streamledger.errors import ConfigError, StreamledgerError
from streamledger.files import private_files
from streamledger.reports import READ_WAIT_SECONDS
from streamledger.settings import Settings, parse_setting

DOCTOR_TIMEOUT_SECONDS = 10.0
DASHBOARD_HOST = "127.0.0.1"
DASHBOARD_PORT = 8050
# Prefect reads these at import time: quiet, no telemetry, and room for a cold temporary server.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}
USAGE_ERROR = 2  # as argparse and most Unix tools: the command line itself is wrong
OutputFormat = Literal["table", "csv", "json", "parquet"]  # streamledger.tables.FORMATS
ExportFormat = Literal["csv", "parquet", "xlsx", "all"]  # streamledger.export.EXPORT_FORMATS and all
Shell = Literal["bash", "zsh", "fish", "powershell"]

RUN = Group("Run", help="Poll the API and keep the history.", sort_key=1)
INSPECT = Group("Inspect", help="Read the history: health, reports, SQL, the dashboard.", sort_key=2)
EXPORT = Group("Export", help="Write files for others: finance exports, the catalog's pages.", sort_key=3)
DEVELOP = Group(
    "Develop",
    help="Shell completion. The simulator's commands: `python -m simulator --help`.",
    sort_key=4,
)
# Option groups inside a command's help.
WHAT = Group("Report", sort_key=1)
OUTPUT = Group("Output", sort_key=2)
DATABASE = Group("Database", sort_key=3)

app = App(
    name="streamledger",
    help="An exact, queryable history of Cloudflare RealtimeKit livestream sessions.",
    version=lambda: version("streamledger"),
    result_action="return_value",
    suppress_keyboard_interrupt=False,
    group_parameters=Group("Options", sort_key=0),
)


class HelpConsole(Console):
    """The console of the help and the version: a reader that goes away ends the command as any other
    output does (status 141), where rich would exit with 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a usage error is one line and exit status 2, a known failure one line and 1."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    private_files()
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(tokens, console=HelpConsole(), exit_on_error=False, print_error=False)
        return int(result or 0)  # --help and --version return None
    except CycloptsError as exc:
        print(f"streamledger: error: {usage_error(exc)}", file=sys.stderr)
        return USAGE_ERROR
    except StreamledgerError as exc:
        print(f"streamledger: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`streamledger report ... | head`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def usage_error(exc: CycloptsError, prog: str = "streamledger") -> str:
    """Return a parse error as one line: the option, the value given, what was expected, where the help is."""
    token = exc.token if isinstance(exc, CoercionError) else None
    if token is not None and token.keyword and exc.msg is not None:  # our converters: the fix is said
        message = str(exc.msg)
        return message if message.startswith(token.keyword) else f"{token.keyword} {token.value!r}: {message}"
    command = " ".join((prog, *(exc.command_chain or ())))
    return f"{' '.join(str(exc).split())} (see {command} --help)"


# Options read like settings, and options checked as they are parsed.


def _settings_field(name: str) -> Any:
    return next(item for item in fields(Settings) if item.name == name)


def setting(name: str, **options: Any) -> Parameter:
    """Return the option that sets setting `name` for one command: the help, the variable (read when the
    option is not given) and the default shown all come from the Settings field, and the value is read by
    its parser, so an option and its variable fail alike (the option with status 2, the variable with 1)."""
    item = _settings_field(name)
    meta = item.metadata
    shown = meta.get("shown", item.default if item.default is not MISSING else "")

    def convert(hint: Any, tokens: Sequence[Token]) -> Any:
        token = tokens[0]
        raw = token.value.strip()
        if not raw:
            return None  # an empty variable is unset, as Settings reads it
        try:
            return parse_setting(name, token.keyword or meta["env"], raw)
        except ConfigError as exc:
            if token.source == "env":
                raise  # a bad variable is a bad setting, whichever command reads it
            raise ValueError(str(exc)) from None

    options.setdefault("help", meta["help"])
    env = (meta["env"], *meta.get("aliases", ()))
    return Parameter(env_var=env, show_default=str(shown), converter=convert, **options)


def _checked(parse: Callable[[str], object]) -> Callable[[Any, Sequence[Token]], object]:
    """A cyclopts converter of one token by `parse`, which raises ValueError saying what it expected."""

    def convert(hint: Any, tokens: Sequence[Token]) -> object:
        return parse(tokens[0].value.strip())

    return convert


def _columns(hint: Any, tokens: Sequence[Token]) -> tuple[str, ...]:
    """--columns A,B,C, or given more than once: every name, in the order given."""
    return tuple(name for token in tokens for name in column_names(token.value))


def _assignments(hint: Any, tokens: Sequence[Token]) -> tuple[str, ...]:
    return tuple(assignment(token.value.strip()) for token in tokens)


def seconds(text: str) -> float:
    """A number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise ValueError("expected a number of seconds, zero or more, e.g. 60")
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds above zero."""
    value = seconds(text) if text else 0.0
    if value <= 0:
        raise ValueError("expected a positive number of seconds, e.g. 10")
    return value


def day(text: str) -> str:
    """A calendar day as YYYY-MM-DD (kept as text: the report's parameters read it)."""
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date as YYYY-MM-DD, e.g. 2026-10-31") from None
    if len(text) != len("YYYY-MM-DD"):
        raise ValueError("expected a date as YYYY-MM-DD, e.g. 2026-10-31")
    return text


def zone(text: str) -> str:
    """An IANA time zone the system knows."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(text)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; a bad key a ValueError
        raise ValueError("expected an IANA time zone such as UTC or Europe/Paris") from None
    return text


def price(text: str) -> Decimal:
    """A price per minute in USD that the finance statement holds exactly."""
    from streamledger.reports import check_price

    problem = "expected a price of zero or more with at most 6 decimals, e.g. 0.010"
    try:
        return check_price(Decimal(text))
    except (ValueError, ArithmeticError):  # decimal.InvalidOperation is an ArithmeticError
        raise ValueError(problem) from None


_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def month(text: str) -> str:
    """A calendar month as YYYY-MM."""
    if not _MONTH.fullmatch(text):
        raise ValueError("expected a calendar month as YYYY-MM, e.g. 2026-10")
    return text


def port(text: str) -> int:
    """A TCP port, or 0 for any free one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError("expected a port number from 0 (any free port) to 65535")
    return int(text)


def column_names(text: str) -> tuple[str, ...]:
    """Comma-separated column names, in the order wanted."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ValueError("expected one or more column names separated by commas, e.g. app_id,sessions")
    return tuple(dict.fromkeys(parts))


def assignment(text: str) -> str:
    """A report parameter as NAME=VALUE."""
    if "=" not in text or not text.partition("=")[0].strip():
        raise ValueError("expected NAME=VALUE, e.g. max_gap_seconds=300")
    return text


def _shared(help: str, parse: Callable[[str], object], metavar: str, **options: Any) -> Parameter:
    return Parameter(help=help, converter=_checked(parse), metavar=metavar, **options)


Database = Annotated[Path | None, setting("database", metavar="PATH", group=DATABASE)]
Wait = Annotated[
    float,
    _shared(
        "how long to wait while a poll holds the database",
        seconds,
        "SECONDS",
        group=DATABASE,
    ),
]
Format = Annotated[OutputFormat, Parameter(help="how to write the result", group=OUTPUT)]
Output = Annotated[
    Path | None,
    Parameter(
        help="write to this file instead of the terminal",
        metavar="PATH",
        group=OUTPUT,
        show_default="the terminal",
    ),
]
Columns = Annotated[
    tuple[str, ...] | None,
    Parameter(
        help="keep only these columns, in this order (an unknown name is an error listing the columns)",
        converter=_columns,
        metavar="A,B,C",
        group=OUTPUT,
        show_default="all",
        negative="",
    ),
]
TZ = _shared("IANA time zone for days and hours", zone, "ZONE", show_default="UTC")
PRICE = _shared("price per minute of ingest in USD", price, "USD", show_default="0.010, the published price")


def _settings(**options: object) -> Settings:
    """Return the settings, with the command's options (by setting name) in place of their variables."""
    return Settings.from_env(_environment(**options))


def _environment(**options: object) -> dict[str, str]:
    variables = {
        _settings_field(name).metadata["env"]: str(value)
        for name, value in options.items()
        if value is not None
    }
    return dict(os.environ) | variables


# Run


@app.command(group=RUN, sort_key=0)
def snapshot() -> int:
    """Run one poll (one Prefect flow run) against the configured API."""
    return commands.snapshot(_settings())


@app.command(group=RUN, sort_key=1)
def reconcile() -> int:
    """Read Cloudflare's daywise and monthly analytics (one flow run)."""
    return commands.reconcile(_settings())


@app.command(group=RUN, sort_key=2)
def serve() -> int:
    """Serve the deployments on their schedules (without PREFECT_API_URL, on a local Prefect server)."""
    return commands.serve(_settings())


ArchiveDir = Annotated[Path | None, setting("archive_dir", metavar="DIR")]


@app.command(group=RUN, sort_key=3)
def rebuild(*, database: Database = None, archive_dir: ArchiveDir = None) -> int:
    """Re-derive every normalized table from the raw-response archive and raw_responses."""
    return commands.rebuild(_settings(database=database, archive_dir=archive_dir))


@app.command(group=RUN, sort_key=4)
def archive(
    *,
    retention_days: Annotated[int | None, setting("raw_retention_days", metavar="DAYS")] = None,
    dry_run: Annotated[
        bool, Parameter(help="only list the days that would be archived", negative="")
    ] = False,
    database: Database = None,
    archive_dir: ArchiveDir = None,
) -> int:
    """Move raw responses older than the retention to Parquet files and delete them from the database."""
    settings = _settings(database=database, archive_dir=archive_dir, raw_retention_days=retention_days)
    return commands.archive(settings, dry_run=dry_run)


# Inspect


@app.command(group=INSPECT, sort_key=5)
def status(
    *,
    check: Annotated[
        bool,
        Parameter(
            help="also read the database whole (a damaged block fails) and run the warehouse's checks "
            "(sql/checks); exit with status 1 when one fails, else 2 when polling is stale or the last poll "
            "failed",
            negative="",
        ),
    ] = False,
    format: Annotated[
        Literal["text", "json"],
        Parameter(help="json: one object for a probe (the status row, staleness, the checks with --check)"),
    ] = "text",
    database: Database = None,
    wait: Wait = READ_WAIT_SECONDS,
) -> int:
    """The last successful poll, the last hour's polls, open sessions, the request budget."""
    return commands.status(_settings(database=database), with_checks=check, fmt=format, wait=wait)


@app.command(group=INSPECT, sort_key=6)
def doctor(
    *,
    api: Annotated[
        bool,
        Parameter(help="check the RealtimeKit API's answers against docs/api-assumptions.md", negative=""),
    ] = False,
    json: Annotated[bool, Parameter(help="print the result as JSON", negative="")] = False,
    save: Annotated[
        Path | None,
        Parameter(
            help="with --api: also write the redacted bodies and the result to DIR",
            metavar="DIR",
            show_default="nothing written",
        ),
    ] = None,
    timeout: Annotated[
        float, _shared("timeout of each request", positive_seconds, "SECONDS")
    ] = DOCTOR_TIMEOUT_SECONDS,
) -> int:
    """Check this setup: settings, folders, the database read whole, the API per app, Prefect.

    Without --api: one line per check, ok or FAIL with the fix: every setting, each folder the pipeline
    writes (writable, free space), the database (opened read-only, its schema, read whole, sql/checks), one
    request per configured app, the Prefect API. With --api: read a few endpoints (at most 12 requests,
    none retried) and print, for each, its status, its shape and the assumptions it confirms or contradicts.
    Writes nothing to the warehouse. Exit status 1 when a check failed.
    """
    if not api:  # reads the settings itself: every bad variable is one of its lines
        return commands.checkup(_environment(), timeout=timeout, as_json=json, save=save)
    return commands.doctor_api(_settings(), timeout=timeout, as_json=json, save=save)


@app.command(group=INSPECT, sort_key=7)
def report(
    name: Annotated[
        str | None,
        Parameter(help="the report, e.g. usage-by-livestream (see --list)", group=WHAT, show_default="none"),
    ] = None,
    /,
    *,
    list: Annotated[
        bool,
        Parameter(help="list the reports: question, grain, parameters, units", negative="", group=WHAT),
    ] = False,
    describe: Annotated[
        bool,
        Parameter(
            help="describe the report: question, grain, parameters with defaults and units, columns",
            negative="",
            group=WHAT,
        ),
    ] = False,
    from_date: Annotated[
        str | None,
        _shared("first day, inclusive", day, "DATE", name="--from", group=WHAT, show_default="the report's"),
    ] = None,
    to_date: Annotated[
        str | None,
        _shared("last day, inclusive", day, "DATE", name="--to", group=WHAT, show_default="the report's"),
    ] = None,
    tz: Annotated[str | None, TZ, Parameter(group=WHAT)] = None,
    price: Annotated[Decimal | None, PRICE, Parameter(group=WHAT)] = None,
    param: Annotated[
        tuple[str, ...],
        Parameter(
            help="any other parameter the report declares (repeat for more)",
            converter=_assignments,
            metavar="NAME=VALUE",
            group=WHAT,
            negative="",
            show_default="none",
        ),
    ] = (),
    format: Format = "table",
    output: Output = None,
    columns: Columns = None,
    chart: Annotated[
        Path | None,
        Parameter(
            help="daily-usage only: also draw a PNG chart to this file",
            metavar="PATH",
            group=OUTPUT,
            show_default="no chart",
        ),
    ] = None,
    database: Database = None,
    wait: Wait = READ_WAIT_SECONDS,
) -> int:
    """Run a report from sql/reports/ (see --list). Parameters are bound, never formatted into the SQL."""
    if list:
        return commands.report_list()
    if not name:
        raise StreamledgerError("report: name a report, or --list them")
    if describe:
        return commands.report_describe(name)
    parameters: dict[str, str | None] = {
        "from_date": from_date,
        "to_date": to_date,
        "tz": tz,
        "price_per_ingest_minute": None if price is None else str(price),
    }
    for item in param:
        key, _, value = item.partition("=")
        parameters[key.strip()] = value
    return commands.report(
        _settings(database=database),
        name,
        parameters,
        fmt=format,
        output=output,
        columns=columns,
        chart=chart,
        wait=wait,
    )


@app.command(group=INSPECT, sort_key=8)
def sql(
    statement: Annotated[
        str, Parameter(help='one read-only statement, e.g. "select * from session_log limit 5"')
    ],
    /,
    *,
    format: Format = "table",
    output: Output = None,
    columns: Columns = None,
    database: Database = None,
    wait: Wait = READ_WAIT_SECONDS,
) -> int:
    """Run ad-hoc read-only SQL against the warehouse and print the result."""
    settings = _settings(database=database)
    return commands.sql(settings, statement, fmt=format, output=output, columns=columns, wait=wait)


@app.command(group=INSPECT, sort_key=9)
def dashboard(
    *,
    host: Annotated[str, Parameter(help="the address to serve on")] = DASHBOARD_HOST,
    port: Annotated[int, _shared("the port to serve on (0: any free port)", port, "PORT")] = DASHBOARD_PORT,
    month: Annotated[
        str | None, _shared("the month shown first", month, "YYYY-MM", show_default="this month")
    ] = None,
    tz: Annotated[str, TZ] = "UTC",
    output: Annotated[
        Path | None,
        Parameter(
            help="write the page as one static HTML file instead of serving it",
            metavar="FILE.html",
            show_default="serve it",
        ),
    ] = None,
    database: Database = None,
    wait: Wait = READ_WAIT_SECONDS,
) -> int:
    """Open the history in a browser: month to date, daily usage, live now, sessions not final, quality."""
    settings = _settings(database=database)
    return commands.dashboard(settings, host=host, port=port, month=month, tz=tz, output=output, wait=wait)


# Export


@app.command(group=EXPORT, sort_key=10)
def export(
    *,
    month: Annotated[str, _shared("the UTC calendar month", month, "YYYY-MM")],
    format: Annotated[
        tuple[ExportFormat, ...],
        Parameter(help="the files to write (repeat for more)", negative="", show_default="all"),
    ] = (),
    output: Annotated[Path | None, setting("export_dir", metavar="DIR", alias="--out")] = None,
    price: Annotated[Decimal | None, PRICE] = None,
    group: Annotated[str | None, setting("export_group", metavar="GROUP")] = None,
    database: Database = None,
    wait: Wait = READ_WAIT_SECONDS,
) -> int:
    """Write a month's finance statement, session log, workbook and chart for finance, with a manifest."""
    from streamledger.export import EXPORT_FORMATS

    formats = EXPORT_FORMATS if not format or "all" in format else tuple(dict.fromkeys(format))
    settings = Settings.from_env(_environment(database=database, export_dir=output, export_group=group))
    return commands.export(settings, month, formats=formats, price=price, wait=wait)


@app.command(group=EXPORT, sort_key=11)
def docs(
    *,
    output: Annotated[
        Path, Parameter(help="the folder of the pages (Markdown and HTML)", metavar="DIR")
    ] = Path("docs"),
) -> int:
    """Write the catalog (tables, views, columns), the report catalog and the settings as pages."""
    return commands.docs(output)


# Develop


@app.command(group=DEVELOP, sort_key=12)
def completion(
    shell: Annotated[Shell | None, Parameter(help="the shell", show_default="yours, from $SHELL")] = None,
    /,
    *,
    install: Annotated[
        bool,
        Parameter(
            help="install the script where the shell finds it, and source it from its startup file",
            negative="",
        ),
    ] = False,
) -> int:
    """Print the shell completion script of streamledger (or --install it).

    E.g. `eval "$(streamledger completion bash)"` in ~/.bashrc, or `streamledger completion --install`.
    """
    from cyclopts.completion.detect import ShellDetectionError

    try:
        if install:
            path = app.install_completion(shell=shell)
            print(f"completion installed in {path}: it works in shells started from now on")
            return 0
        sys.stdout.write(app.generate_completion(shell=shell))
    except ShellDetectionError:
        raise StreamledgerError(
            "completion: could not tell your shell; name it, e.g. completion bash"
        ) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
