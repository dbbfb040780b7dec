"""The `streamledger` command: snapshot, serve, simulate, demo, report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from streamledger.errors import StreamledgerError

# Prefect reads these at import time: quiet, no telemetry, and room for a cold temporary server.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every known failure is one line on stderr and exit status 1 or 2."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except StreamledgerError as exc:
        print(f"streamledger: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamledger", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    snapshot = commands.add_parser(
        "snapshot", help="run one poll (one Prefect flow run) against the configured API"
    )
    snapshot.set_defaults(run=_snapshot)

    reconcile = commands.add_parser("reconcile", help="read Cloudflare's daywise analytics (one flow run)")
    reconcile.set_defaults(run=_reconcile)

    rebuild = commands.add_parser("rebuild", help="re-derive every normalized table from raw_responses")
    rebuild.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    rebuild.set_defaults(run=_rebuild)

    serve = commands.add_parser(
        "serve", help="serve the snapshot flow on a schedule (needs a Prefect server)"
    )
    serve.set_defaults(run=_serve)

    simulate = commands.add_parser("simulate", help="serve the RealtimeKit simulator on 127.0.0.1")
    from streamledger.simulator.server import add_simulator_arguments

    add_simulator_arguments(simulate)
    simulate.set_defaults(run=_simulate)

    demo = commands.add_parser(
        "demo", help="simulator + repeated snapshot flow runs + a report, no credentials"
    )
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to keep polling (default 60)")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    demo.add_argument("--livestreams", type=int, default=12, help="simulated livestreams (default 12)")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument("--database", type=Path, default=Path("data/demo.duckdb"), help="recreated on each run")
    demo.set_defaults(run=_demo)

    report = commands.add_parser("report", help="print a report from sql/reports/")
    report.add_argument("name", help="report file name without .sql, e.g. sessions_by_livestream")
    report.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="bind a parameter")
    report.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    report.set_defaults(run=_report)

    sql = commands.add_parser(
        "sql", help="run ad-hoc read-only SQL against the warehouse and print the result"
    )
    sql.add_argument("statement", help='e.g. "select * from sessions limit 5"')
    sql.add_argument(
        "--database", type=Path, help="default: STREAMLEDGER_DATABASE or data/streamledger.duckdb"
    )
    sql.set_defaults(run=_sql)
    return parser


def _snapshot(args: argparse.Namespace) -> int:
    from streamledger.settings import Settings

    Settings.from_env()  # a missing setting is reported here, in one line, before Prefect starts
    from flows.snapshot import snapshot

    state = snapshot(return_state=True)
    if not state.is_completed():
        raise StreamledgerError(state.message or "the snapshot flow run failed")
    result = state.result()
    if isinstance(result, dict):
        print(_summary_line(result))
    else:
        print(state.message)
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from streamledger.settings import Settings

    Settings.from_env()
    from flows.reconcile import reconcile

    state = reconcile(return_state=True)
    if not state.is_completed():
        raise StreamledgerError(state.message or "the reconcile flow run failed")
    print(_summary_line(cast(dict[str, object], state.result())))
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from streamledger.poll import rebuild

    counts = rebuild(_database(args))
    print("rebuilt from raw_responses: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def _summary_line(row: dict[str, object]) -> str:
    return (
        f"poll {row['poll_id']}: {row['outcome']}, "
        f"{row['livestreams']} livestreams, {row['sessions']} sessions, "
        f"{row['requests']} requests ({row['retries']} retried, {row['rate_limited']} rate-limited), "
        f"{row['parse_issues']} parse issues"
    )


def _serve(args: argparse.Namespace) -> int:
    from streamledger.settings import Settings

    settings = Settings.from_env()
    from flows.serve import serve_snapshots

    serve_snapshots(settings)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from streamledger.simulator.server import config_from_args, serve_forever

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise StreamledgerError(f"simulate: {exc}") from None
    serve_forever(config, args.sim_port, args.sim_host)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streamledger.demo import run_demo

    return run_demo(
        seconds=args.seconds,
        interval=args.interval,
        livestreams=args.livestreams,
        seed=args.seed,
        database=args.database,
    )


def _database(args: argparse.Namespace) -> Path:
    return args.database or Path(os.environ.get("STREAMLEDGER_DATABASE") or "data/streamledger.duckdb")


def _sql(args: argparse.Namespace) -> int:
    from streamledger.reports import print_sql

    print_sql(_database(args), args.statement)
    return 0


def _report(args: argparse.Namespace) -> int:
    from streamledger.reports import print_report

    database = _database(args)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise StreamledgerError(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    print_report(database, args.name, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
